"""The timeout step: one place decides how long an attempt may run (timeout, deadline, default)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import toolsafe
from toolsafe import ConfigurationError, FakeClock, Runtime
from toolsafe._call import CallContext
from toolsafe._tool import Tool
from toolsafe.policies.timeout import DEFAULT_TIMEOUT, Timeout, as_timeout, attempt_limit


class RecordingBackend:
    """Runs the body inline and records the ``timeout`` each attempt was given."""

    name = "recording"

    def __init__(self, clock: FakeClock | None = None, step: float = 0.0) -> None:
        self.timeouts: list[float | None] = []
        self.clock = clock
        self.step = step

    async def run(
        self,
        tool: Tool,
        arguments: dict[str, Any],
        ctx: CallContext,
        *,
        timeout: float | None,
        key: str,
    ) -> Any:
        self.timeouts.append(timeout)
        if self.clock is not None:
            self.clock.advance(self.step)  # the attempt took this long
        assert tool.fn is not None
        return tool.fn(**arguments)

    def check(self, tool: Tool) -> list[str]:
        return []

    def close(self) -> None:
        pass


def test_options_report_every_problem_at_once() -> None:
    with pytest.raises(ConfigurationError) as info:
        as_timeout("soon", -1)
    assert info.value.problems == [
        "timeout='soon': expected seconds (a number >= 0)",
        "deadline=-1: expected seconds (a number >= 0)",
    ]
    with pytest.raises(ConfigurationError):
        Timeout(attempt=True, deadline=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("timeout", "deadline", "expected"),
    [
        (None, None, Timeout(DEFAULT_TIMEOUT, None)),
        (5, None, Timeout(5.0, None)),
        (0, None, Timeout(None, None)),  # 0: no limit
        (float("inf"), 2, Timeout(None, 2.0)),
    ],
)
def test_as_timeout_reads_the_default_and_no_limit(
    timeout: Any, deadline: Any, expected: Timeout
) -> None:
    assert as_timeout(timeout, deadline) == expected


def test_attempt_limit_is_the_smaller_and_keeps_a_passed_deadline_negative() -> None:
    assert attempt_limit(30.0, None) == 30.0
    assert attempt_limit(None, None) is None
    assert attempt_limit(30.0, 4.0) == 4.0
    assert attempt_limit(3.0, 4.0) == 3.0
    assert attempt_limit(None, 4.0) == 4.0
    assert attempt_limit(30.0, -0.5) == -0.5  # the backend reads it as "no time left"


def _echo(x: int) -> int:
    return x


def test_each_attempt_gets_the_timeout_cut_to_what_is_left_of_the_deadline() -> None:
    clock = FakeClock()
    backend = RecordingBackend(clock, step=1.5)
    calls = {"n": 0}

    def flaky(x: int) -> int:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError("reset")
        return x

    tools = [
        toolsafe.tool(_echo, name="plain"),
        toolsafe.tool(_echo, name="unbounded", timeout=0),
        toolsafe.tool(
            flaky,
            timeout=2,
            deadline=4,
            retry=toolsafe.Retry(3, initial=0.0, jitter="none"),
            idempotent=True,
        ),
    ]
    with Runtime(tools, backend=backend, clock=clock) as rt:
        assert rt.call("plain", {"x": 1}).value == 1
        assert rt.call("unbounded", {"x": 1}).value == 1
        outcome = rt.call("flaky", {"x": 7})
    assert outcome.value == 7 and outcome.attempts == 3
    # default 30 s; no limit; then 2 s, 2 s, and the 1 s left of the 4 s deadline
    assert backend.timeouts == [DEFAULT_TIMEOUT, None, 2.0, 2.0, 1.0]


def test_runtime_default_timeout_applies_and_the_tool_wins() -> None:
    backend = RecordingBackend()
    tools = [toolsafe.tool(_echo, name="a"), toolsafe.tool(_echo, name="b", timeout=1)]

    async def main() -> None:
        async with Runtime(tools, backend=backend, timeout=9) as rt:
            await rt.acall("a", {"x": 1})
            await rt.acall("b", {"x": 1})

    asyncio.run(main())
    assert backend.timeouts == [9.0, 1.0]
