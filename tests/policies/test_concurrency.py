"""Concurrency limits: the true peak inside the tool never exceeds the limit."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import toolsafe
from toolsafe import ConfigurationError, Runtime
from toolsafe.observe import events as ev
from toolsafe.policies.concurrency import ConcurrencyRejected, SlotWaited


class Gauge:
    """Counts calls inside a tool body, from any thread, and keeps the peak."""

    def __init__(self) -> None:
        self.inside = 0
        self.peak = 0
        self.total = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.inside += 1
            self.total += 1
            self.peak = max(self.peak, self.inside)

    def leave(self) -> None:
        with self._lock:
            self.inside -= 1


def _tool(gauge: Gauge, is_async: bool, name: str = "work", **options: Any) -> toolsafe.Tool:
    if is_async:

        async def body(i: int) -> int:
            gauge.enter()
            try:
                await asyncio.sleep(0.002)
            finally:
                gauge.leave()
            return i

    else:

        def body(i: int) -> int:  # type: ignore[misc]
            gauge.enter()
            try:
                time.sleep(0.002)
            finally:
                gauge.leave()
            return i

    return toolsafe.tool(body, name=name, **options)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_peak_never_exceeds_the_limit(is_async: bool) -> None:
    gauge = Gauge()
    with Runtime([_tool(gauge, is_async, concurrency=4)]) as rt:
        outcomes = rt.call_many([("work", {"i": i}) for i in range(200)])
    assert [o.value for o in outcomes] == list(range(200))
    assert gauge.peak == 4 and gauge.total == 200


async def test_async_twin_with_acall_many_and_a_global_limit() -> None:
    a, b = Gauge(), Gauge()
    both = Gauge()

    async def tracked(g: Gauge, i: int) -> int:
        g.enter()
        both.enter()
        try:
            await asyncio.sleep(0.002)
        finally:
            g.leave()
            both.leave()
        return i

    async def ta(i: int) -> int:
        return await tracked(a, i)

    async def tb(i: int) -> int:
        return await tracked(b, i)

    tools = [toolsafe.tool(ta, concurrency=3), toolsafe.tool(tb, concurrency=3)]
    async with Runtime(tools, max_in_flight=4) as rt:
        calls = [("ta" if i % 2 else "tb", {"i": i}) for i in range(200)]
        outcomes = await rt.acall_many(calls)
    assert all(o.ok for o in outcomes)
    assert a.peak <= 3 and b.peak <= 3 and both.peak == 4


def test_sync_calls_from_many_threads_share_one_limit() -> None:
    """Each thread drives its own event loop; the limit holds across all of them."""
    gauge = Gauge()
    with Runtime([_tool(gauge, False, concurrency=3)]) as rt:
        results: list[bool] = []

        def caller() -> None:
            for i in range(10):
                results.append(rt.call("work", {"i": i}).ok)

        threads = [threading.Thread(target=caller) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert results == [True] * 80
    assert gauge.peak == 3


def test_tools_of_one_upstream_share_its_slots() -> None:
    gauge = Gauge()
    tools = [
        _tool(gauge, False, name="read", upstream="db", concurrency=2),
        _tool(gauge, False, name="write", upstream="db", concurrency=2),
    ]
    with Runtime(tools) as rt:
        outcomes = rt.call_many([("read" if i % 2 else "write", {"i": i}) for i in range(60)])
    assert all(o.ok for o in outcomes)
    assert gauge.peak == 2


async def test_waits_until_the_deadline_then_rejects_without_running() -> None:
    gate = asyncio.Event()
    runs = 0
    events: list[ev.Event] = []

    @toolsafe.tool(upstream="api", concurrency=1, timeout=10)
    async def hold() -> str:
        await gate.wait()
        return "held"

    @toolsafe.tool(upstream="api", concurrency=1, deadline=0.1)
    async def single(hold: bool) -> str:
        nonlocal runs
        runs += 1
        return "done"

    async with Runtime([hold, single], listeners=[events.append]) as rt:
        holder = asyncio.ensure_future(rt.acall("hold"))
        await asyncio.sleep(0.01)
        began = time.monotonic()
        refused = await rt.acall("single", {"hold": False})
        waited = time.monotonic() - began
        assert refused.error is not None and refused.error.type == "ConcurrencyLimited"
        assert refused.error.retryable and toolsafe.is_rejection(refused.error)
        assert refused.error.details == {"key": "api", "limit": 1}
        assert 0.05 <= waited < 2.0  # it waited for a slot, up to its deadline
        assert runs == 0
        gate.set()
        assert (await holder).ok
    assert [type(e) for e in events if isinstance(e, ConcurrencyRejected)] == [ConcurrencyRejected]


async def test_a_waiting_call_gets_the_slot_when_it_frees() -> None:
    events: list[ev.Event] = []

    @toolsafe.tool(concurrency=1, timeout=5)
    async def slow(delay: float) -> float:
        await asyncio.sleep(delay)
        return delay

    async with Runtime([slow], listeners=[events.append]) as rt:
        first, second = await asyncio.gather(
            rt.acall("slow", {"delay": 0.05}), rt.acall("slow", {"delay": 0})
        )
    assert first.ok and second.ok
    waited = [e for e in events if isinstance(e, SlotWaited)]
    assert len(waited) == 1 and waited[0].waited_s > 0.02


def test_a_stuck_sync_tool_keeps_its_slot_until_its_thread_returns() -> None:
    """The limit holds inside the tool even for bodies abandoned at their timeout."""
    gauge = Gauge()
    release = threading.Event()

    @toolsafe.tool(concurrency=1, timeout=0.05)
    def sticky(block: bool) -> str:
        gauge.enter()
        try:
            if block:
                release.wait(10)
        finally:
            gauge.leave()
        return "ok"

    with Runtime([sticky]) as rt:
        timed_out = rt.call("sticky", {"block": True})
        assert timed_out.error is not None and timed_out.error.type == "TimeoutError"
        refused = rt.call("sticky", {"block": False})  # the stuck body still holds the slot
        assert refused.error is not None and refused.error.type == "ConcurrencyLimited"
        assert gauge.peak == 1
        release.set()
        deadline = time.monotonic() + 10
        while rt.stats()["store"]["slots"] and time.monotonic() < deadline:
            time.sleep(0.005)
        assert rt.call("sticky", {"block": False}).ok
    assert gauge.peak == 1


def test_limit_option_checks() -> None:
    def f() -> str:
        return ""

    with pytest.raises(ConfigurationError, match="concurrency=-1"):
        Runtime([toolsafe.tool(f, concurrency=-1)])
    with pytest.raises(ConfigurationError, match="upstream="):
        Runtime([toolsafe.tool(f, upstream="*")])
