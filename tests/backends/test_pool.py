"""The sync worker pool: bursts run in parallel, warm or cold."""

from __future__ import annotations

import threading

import pytest

import toolsafe
from toolsafe import Runtime
from toolsafe.backends._pool import WorkerPool, WorkItem


class _Overlap:
    """Counts tool bodies running at the same moment; each waits for all ``n`` to be in."""

    def __init__(self, n: int) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.barrier = threading.Barrier(n)

    def body(self) -> int:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            self.barrier.wait(timeout=5)  # serialized bodies break the barrier instead
        except threading.BrokenBarrierError:
            pass
        finally:
            with self.lock:
                self.active -= 1
        return self.peak


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "after-warm-up"])
def test_a_burst_of_sync_calls_overlaps_after_a_warm_up(warm: bool) -> None:
    overlap = _Overlap(8)

    def slow(i: int) -> int:
        return overlap.body()

    def quick() -> str:
        return "warm"

    with Runtime([toolsafe.tool(slow), toolsafe.tool(quick)]) as rt:
        if warm:  # leaves one idle worker: the case that used to serialize the burst
            assert rt.call("quick").value == "warm"
            assert rt.stats()["backend"]["pool"]["threads"] == 1
        outcomes = rt.call_many([("slow", {"i": i}) for i in range(8)])
    assert all(o.ok for o in outcomes), [o.text for o in outcomes]
    assert overlap.peak == 8


def _peak_of_burst(pool: WorkerPool, n: int, *, warm: bool = False) -> int:
    """Run ``n`` overlapping bodies on ``pool`` (after one quick item if ``warm``); their peak."""
    done = threading.Semaphore(0)

    def finished(_: WorkItem) -> None:
        done.release()

    if warm:
        pool.submit(lambda: None, finished)
        assert done.acquire(timeout=5)  # one warm worker, idle now
    overlap = _Overlap(n)
    for _ in range(n):
        pool.submit(overlap.body, finished)
    for _ in range(n):
        assert done.acquire(timeout=10)
    pool.shutdown()
    return overlap.peak


def test_the_pool_spawns_when_ready_items_outnumber_idle_threads() -> None:
    pool = WorkerPool(16)
    assert _peak_of_burst(pool, 6, warm=True) == 6
    assert pool.stats().threads <= 6


def test_past_its_eager_threads_the_pool_grows_for_work_behind_blocked_workers() -> None:
    pool = WorkerPool(64, eager=2, blocked_after=0.001)
    # each body blocks until all ten run: only growth past the eager two gets there
    assert _peak_of_burst(pool, 10) == 10
    assert pool.stats().threads <= 10
