"""The thread backend: the timer and the result racing on a busy loop; no-time-left attempts."""

from __future__ import annotations

import asyncio
import signal
import threading
import time

import toolsafe
from toolsafe import Runtime


def test_a_result_that_came_before_the_timer_ran_wins_over_it() -> None:
    """On a saturated loop the expiry timer can run before the result's transfer: the body
    had returned, so the call is a success and no thread is counted stuck."""
    go = threading.Event()
    rt: Runtime

    def until(predicate: object, seconds: float = 10) -> None:
        limit = time.monotonic() + seconds
        while not predicate() and time.monotonic() < limit:  # type: ignore[operator]
            time.sleep(0.001)

    def release() -> None:  # runs in the same loop iteration as the expiry timer, before it
        go.set()
        until(lambda: rt.stats()["backend"]["pool"]["busy"] == 0)  # the body has returned

    def hog() -> None:  # blocks the loop past the deadline, then queues ``release``
        time.sleep(0.25)
        asyncio.get_running_loop().call_soon(release)

    loops: list[asyncio.AbstractEventLoop] = []

    def quick() -> str:
        loops[0].call_soon_threadsafe(hog)
        go.wait(10)
        return "done"

    async def main() -> toolsafe.Outcome:
        loops.append(asyncio.get_running_loop())
        return await rt.acall("quick")

    rt = Runtime([toolsafe.tool(quick, timeout=0.1)])
    with rt:
        outcome = asyncio.run(main())
        assert outcome.ok, outcome.text
        assert outcome.value == "done"
        pool = rt.stats()["backend"]["pool"]
        assert pool["stuck"] == 0 and pool["abandoned_total"] == 0


class _Overlap:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.release = threading.Event()
        self.entered = threading.Event()

    def body(self, wait: bool) -> str:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        self.entered.set()
        try:
            if wait:
                self.release.wait(20)
            return "ok"
        finally:
            with self.lock:
                self.active -= 1


def test_a_cancelled_caller_keeps_the_slot_until_the_sync_body_returns() -> None:
    overlap = _Overlap()

    def one(wait: bool) -> str:
        return overlap.body(wait)

    async def main(rt: Runtime) -> toolsafe.Outcome:
        first = asyncio.ensure_future(rt.acall("one", {"wait": True}))
        while not overlap.entered.is_set():
            await asyncio.sleep(0.005)
        first.cancel()
        second = asyncio.ensure_future(rt.acall("one", {"wait": False}))
        await asyncio.sleep(0.2)  # room for the bug: the second body would start now
        overlap.release.set()
        return await second

    with Runtime([toolsafe.tool(one, concurrency=1, timeout=30)]) as rt:
        outcome = asyncio.run(main(rt))
    assert outcome.ok, outcome.text
    assert overlap.peak == 1


def test_ctrl_c_in_a_sync_caller_keeps_the_slot_until_the_body_returns() -> None:
    overlap = _Overlap()

    def one(wait: bool) -> str:
        return overlap.body(wait)

    results: list[toolsafe.Outcome] = []
    with Runtime([toolsafe.tool(one, concurrency=1, timeout=30)]) as rt:

        def interrupt_then_call_again() -> None:
            overlap.entered.wait(10)
            # Ctrl-C delivered to the main thread while it waits on the body
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
            time.sleep(0.1)
            other = threading.Thread(target=lambda: results.append(rt.call("one", {"wait": False})))
            other.start()
            time.sleep(0.2)  # room for the bug: the second body would start now
            overlap.release.set()
            other.join(10)

        helper = threading.Thread(target=interrupt_then_call_again)
        helper.start()
        try:
            rt.call("one", {"wait": True})
        except KeyboardInterrupt:
            pass
        else:  # pragma: no cover - the interrupt did not arrive
            raise AssertionError("no KeyboardInterrupt")
        helper.join(15)
    assert results and results[0].ok, results
    assert overlap.peak == 1


def test_an_async_attempt_with_no_time_left_is_a_not_started_rejection() -> None:
    from toolsafe.backends._base import NotStartedTimeout
    from toolsafe.backends.thread import run_async_with_timeout
    from toolsafe.errors import ToolError, is_rejection

    ran: list[bool] = []

    async def body() -> str:
        ran.append(True)
        return "ran"

    async def main() -> BaseException:
        try:
            await run_async_with_timeout(body(), 0.0, "late")
        except BaseException as exc:
            return exc
        raise AssertionError("no exception")

    exc = asyncio.run(main())
    assert isinstance(exc, NotStartedTimeout) and not ran  # like the sync, process, ray paths
    error = ToolError.from_exception(exc, tool="late")
    assert error.type == "TimeoutError" and is_rejection(error)  # a breaker does not count it
