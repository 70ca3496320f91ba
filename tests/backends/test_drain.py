"""A tool returning an iterator: consumed within its timeout and budget (a sync tool's in
its worker, an async tool's on the loop where its code runs), never endless."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator

import pytest

import toolsafe
from toolsafe import Runtime
from toolsafe.backends._drain import DRAIN_CHARS


def test_a_slow_generator_is_bounded_by_the_attempt_timeout() -> None:
    @toolsafe.tool(timeout=0.2)
    def slow() -> Iterator[int]:
        for i in range(40):
            time.sleep(0.05)  # 2 s in all: consumed after the timeout, it would succeed
            yield i

    with Runtime([slow]) as rt:
        outcome = rt.call("slow")
    assert outcome.error is not None and outcome.error.type == "TimeoutError"


def test_a_generator_is_consumed_off_the_event_loop() -> None:
    seen: list[threading.Thread] = []

    @toolsafe.tool
    def numbers(n: int) -> Iterator[int]:
        for i in range(n):
            seen.append(threading.current_thread())
            yield i

    async def main() -> tuple[toolsafe.Outcome, threading.Thread]:
        async with Runtime([numbers]) as rt:
            return await rt.acall("numbers", {"n": 3}), threading.current_thread()

    outcome, loop_thread = asyncio.run(main())
    assert outcome.value == [0, 1, 2] and outcome.text == "[0,1,2]"
    assert seen and loop_thread not in seen


def test_an_endless_generator_stops_at_the_output_budget_and_is_closed() -> None:
    closed = threading.Event()

    @toolsafe.tool(max_output_chars=200)
    def endless() -> Iterator[str]:
        try:
            for i in itertools.count():
                yield f"line {i}"
        finally:
            closed.set()

    with Runtime([endless]) as rt:
        outcome = rt.call("endless")
    assert outcome.ok and outcome.trimmed
    assert len(outcome.text) <= 200
    assert outcome.full_text is not None and outcome.full_text.startswith('["line 0","line 1",')
    assert len(outcome.full_text) < 300  # consumption stopped just past the budget
    assert closed.is_set()


def test_an_endless_iterator_without_a_budget_stops_at_the_cap_with_a_marker() -> None:
    @toolsafe.tool
    def counter() -> Iterator[int]:
        return itertools.count()

    with Runtime([counter]) as rt:
        outcome = rt.call("counter")
    assert outcome.ok and not outcome.trimmed
    assert outcome.value[:3] == [0, 1, 2]
    assert "not consumed past" in outcome.value[-1] and "max_output_chars" in outcome.value[-1]
    assert DRAIN_CHARS < len(outcome.text) < DRAIN_CHARS + 200


def test_other_iterators_become_lists_and_plain_values_are_untouched() -> None:
    @toolsafe.tool
    def mapped() -> object:
        return map(str, range(3))

    @toolsafe.tool
    def plain() -> dict[str, list[int]]:
        return {"a": [1]}

    with Runtime([mapped, plain]) as rt:
        assert rt.call("mapped").value == ["0", "1", "2"]
        assert rt.call("plain").value == {"a": [1]}


def _async_endless(kind: str) -> toolsafe.Tool:
    closed: list[bool] = []

    @toolsafe.tool(timeout=0.3, max_output_chars=2000 if kind == "budget" else None)
    async def endless() -> Iterator[int]:
        def items() -> Iterator[int]:
            try:
                for i in itertools.count():
                    if kind == "slow":
                        time.sleep(0.02)
                    yield i
            finally:
                closed.append(True)

        return items()

    endless.closed = closed  # type: ignore[attr-defined]
    return endless


@pytest.mark.parametrize("watched", [False, True], ids=["express", "chain"])
@pytest.mark.parametrize("kind", ["slow", "budget"])
def test_an_async_tool_returning_an_endless_iterator_answers(watched: bool, kind: str) -> None:
    # It was serialized on the loop with no bound: the loop hung and the process grew.
    tool = _async_endless(kind)

    async def main() -> toolsafe.Outcome:
        async with Runtime([tool]) as rt:
            if watched:  # a listener takes the call off the express lane
                rt.listeners.append(lambda event: None)
            return await asyncio.wait_for(rt.acall("endless"), 30)

    outcome = asyncio.run(main())
    assert tool.closed == [True]  # type: ignore[attr-defined]
    if kind == "slow":
        assert outcome.error is not None and outcome.error.type == "TimeoutError"
    else:
        assert outcome.ok and outcome.trimmed and len(outcome.text) <= 2000


def _endless_numbers(is_async: bool) -> toolsafe.Tool:
    closed: list[bool] = []

    def items() -> Iterator[int]:
        try:
            yield from itertools.count()
        finally:
            closed.append(True)

    if is_async:

        async def endless() -> Iterator[int]:
            return items()

    else:

        def endless() -> Iterator[int]:  # type: ignore[misc]
            return items()

    tool = toolsafe.tool(endless)
    tool.closed = closed  # type: ignore[attr-defined]
    return tool


@pytest.mark.parametrize("budget", ["chars", "tokens"])
@pytest.mark.parametrize("path", ["express", "chain", "sync call"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync tool", "async tool"])
def test_a_runtime_wide_budget_bounds_a_returned_iterator(
    is_async: bool, path: str, budget: str
) -> None:
    # The drain read the tool's own options only: with the budget on the runtime, it
    # consumed 1,000,000 characters (a second or more) and then trimmed them to 300.
    tool = _endless_numbers(is_async)
    limits = {"max_output_chars": 300} if budget == "chars" else {"max_output_tokens": 20}

    async def main() -> toolsafe.Outcome:
        async with Runtime([tool], **limits) as rt:
            if path == "chain":  # a listener takes the call off the express lane
                rt.listeners.append(lambda event: None)
            return await asyncio.wait_for(rt.acall("endless"), 30)

    if path == "sync call":
        with Runtime([tool], **limits) as rt:
            outcome = rt.call("endless")
    else:
        outcome = asyncio.run(main())
    assert outcome.ok and outcome.trimmed, outcome.text
    assert outcome.full_text is not None and outcome.full_text.startswith("[0,1,2,")
    bound = 300 if budget == "chars" else 20 * 16
    assert len(outcome.full_text) < bound + 50  # consumption stopped just past the budget
    assert "not consumed past" not in outcome.full_text
    assert tool.closed == [True]  # type: ignore[attr-defined]


def test_the_tools_own_budget_still_wins_over_the_runtimes() -> None:
    tool = _endless_numbers(False).with_options(max_output_chars=120)
    with Runtime([tool], max_output_chars=5000) as rt:
        outcome = rt.call("endless")
    assert outcome.ok and len(outcome.text) <= 120
    assert outcome.value[:3] == [0, 1, 2] and len(outcome.value) < 50  # not 5,000 chars
