"""The whole pipeline under load and against tools that hang: every call ends, on time."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

import pytest

import toolsafe
from toolsafe import Breaker, Outcome, Rate, Retry, Runtime, ToolError

DEADLINE = 2.0
#: Scheduling slack allowed past a deadline on a loaded, shared 2-core machine.
MARGIN = 1.0


def _flaky_async(rng: random.Random, counts: dict[str, int]) -> toolsafe.Tool:
    async def flaky(i: int) -> int:
        counts["runs"] += 1
        roll = rng.random()
        if roll < 0.3:
            await asyncio.sleep(0)
            raise ConnectionError("transient")
        if roll < 0.33:
            await asyncio.sleep(5)  # hangs past its timeout
        await asyncio.sleep(0.001)
        return i

    return toolsafe.tool(
        flaky,
        timeout=0.1,
        deadline=DEADLINE,
        retry=Retry(attempts=4, initial=0.002, max_backoff=0.02),
        idempotent=True,
        breaker=Breaker(failures=None, failure_rate=0.95, min_calls=50),
        concurrency=200,
        rate=Rate(per_second=20_000, burst=500),
    )


def _flaky_sync(rng: random.Random, counts: dict[str, int], lock: threading.Lock) -> toolsafe.Tool:
    def flaky(i: int) -> int:
        with lock:
            counts["runs"] += 1
            roll = rng.random()
        if roll < 0.3:
            raise ConnectionError("transient")
        if roll < 0.31:
            time.sleep(0.3)  # ignores its timeout; its thread is abandoned
        return i

    return toolsafe.tool(
        flaky,
        timeout=0.1,
        deadline=DEADLINE,
        retry=Retry(attempts=4, initial=0.002, max_backoff=0.02),
        idempotent=True,
        concurrency=64,
    )


def _check(outcomes: list[Outcome], n: int) -> None:
    assert len(outcomes) == n
    assert [o.call_id for o in outcomes] == [f"c{i}" for i in range(n)]
    for i, outcome in enumerate(outcomes):
        if outcome.ok:
            assert outcome.value == i
        else:
            assert isinstance(outcome.error, ToolError)
            assert outcome.text.startswith(toolsafe.ERROR_PREFIX)
        assert outcome.attempts <= 4
        assert outcome.elapsed_ms <= (DEADLINE + MARGIN) * 1000, outcome
    # 0.3 ** 4 of calls exhaust their retries; on a loaded machine more reach the deadline
    assert sum(o.ok for o in outcomes) >= n // 2
    assert any(o.ok and o.attempts > 1 for o in outcomes)
    assert any(not o.ok and o.attempts == 4 for o in outcomes)


async def test_thousand_concurrent_flaky_async_calls() -> None:
    counts = {"runs": 0}
    async with Runtime([_flaky_async(random.Random(7), counts)]) as rt:
        outcomes = await rt.acall_many(
            [toolsafe.ToolCall(f"c{i}", "flaky", {"i": i}) for i in range(1000)]
        )
    _check(outcomes, 1000)
    assert counts["runs"] <= sum(o.attempts for o in outcomes)  # rejected attempts never ran


def test_thousand_concurrent_flaky_sync_calls() -> None:
    counts = {"runs": 0}
    tool = _flaky_sync(random.Random(11), counts, threading.Lock())
    with Runtime([tool]) as rt:
        outcomes = rt.call_many(
            [toolsafe.ToolCall(f"c{i}", "flaky", {"i": i}) for i in range(1000)]
        )
        _check(outcomes, 1000)
        assert counts["runs"] >= sum(o.attempts for o in outcomes if o.ok)


# --------------------------------------------------------------------------- tools that hang


@pytest.fixture
def release() -> Any:
    event = threading.Event()
    yield event
    event.set()  # let abandoned threads finish after the test


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_tools_that_hang_forever_return_at_their_deadline(kind: str, release: Any) -> None:
    if kind == "sync":

        def hang(i: int) -> str:
            release.wait()
            return "never"

    else:

        async def hang(i: int) -> str:  # type: ignore[misc]
            await asyncio.Event().wait()
            return "never"

    tool = toolsafe.tool(hang, timeout=30, deadline=0.2)
    with Runtime([tool]) as rt:
        began = time.monotonic()
        outcomes = rt.call_many([("hang", {"i": i}) for i in range(5)])
        spent = time.monotonic() - began
        for outcome in outcomes:
            assert outcome.error is not None and outcome.error.type == "TimeoutError"
            assert outcome.error.retryable
            assert 150 <= outcome.elapsed_ms <= (0.2 + MARGIN) * 1000
        assert spent <= 0.2 + MARGIN
        if kind == "sync":
            assert rt.stats()["backend"]["pool"]["stuck"] == 5


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_retries_of_a_hanging_tool_stop_at_the_deadline(kind: str, release: Any) -> None:
    if kind == "sync":

        def hang() -> str:
            release.wait()
            return "never"

    else:

        async def hang() -> str:  # type: ignore[misc]
            await asyncio.sleep(60)
            return "never"

    tool = toolsafe.tool(
        hang, timeout=0.1, deadline=0.25, retry=Retry(attempts=10, initial=0.01), idempotent=True
    )
    async with Runtime([tool]) as rt:
        outcome = await rt.acall("hang")
    assert outcome.error is not None and outcome.error.type == "TimeoutError"
    assert 2 <= outcome.attempts <= 3
    assert 240 <= outcome.elapsed_ms <= (0.25 + MARGIN) * 1000
