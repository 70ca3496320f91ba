"""Shared deadline timers: calls whose deadlines share a window share one loop timer."""

from __future__ import annotations

import asyncio

from toolsafe.backends import _deadlines
from toolsafe.backends._deadlines import PRECISE_BELOW, RESOLUTION, arm


def _timers(loop: asyncio.AbstractEventLoop) -> int:
    return sum(1 for h in loop._scheduled if not h.cancelled())  # type: ignore[attr-defined]


async def test_calls_in_one_window_share_one_timer_and_leave_nothing() -> None:
    loop = asyncio.get_running_loop()
    before = _timers(loop)
    task = asyncio.current_task()
    assert task is not None
    expiries = [arm(task, 30.0) for _ in range(1000)]
    assert _timers(loop) - before <= 2  # one slot, two if a window boundary passed
    for expiry in expiries:
        expiry.disarm()
    assert _timers(loop) == before
    assert not _deadlines._of_loop[loop].slots  # finished calls are not kept 30 s


async def test_a_timeout_fires_at_its_deadline_never_early() -> None:
    loop = asyncio.get_running_loop()

    async def hang() -> None:
        await asyncio.sleep(10)

    timeout = PRECISE_BELOW + 0.05
    task = asyncio.ensure_future(hang())
    await asyncio.sleep(0)
    started = loop.time()
    expiry = arm(task, timeout)
    try:
        await task
    except asyncio.CancelledError:
        pass
    waited = loop.time() - started
    assert expiry.fired and task.cancelled()
    assert expiry.when() >= started + timeout
    assert waited >= timeout - 0.001  # the loop's clock resolution
    assert waited < timeout + RESOLUTION + 1.0  # late only by the window (and a loaded loop)
    expiry.disarm()  # after firing: harmless


async def test_disarmed_expiry_never_fires_and_short_timeouts_are_precise() -> None:
    task = asyncio.current_task()
    assert task is not None
    short = arm(task, 0.01)
    assert type(short.slot) is asyncio.TimerHandle  # a timer of its own
    short.disarm()
    long = arm(task, PRECISE_BELOW)
    long.disarm()
    await asyncio.sleep(0.02)
    assert not short.fired and not long.fired
