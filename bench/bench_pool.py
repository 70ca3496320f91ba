"""The sync worker pool: a burst of blocking calls, on a cold pool and after a warm-up.

A warm pool (idle workers left by earlier calls) must run a burst as wide as a cold
one: each call needs its own thread, whether it is woken or spawned. Both cases run
in the same process, alternating, so the ratio compares like with like.
"""

from __future__ import annotations

import statistics
import time

from bench._report import Report

ROUNDS = 5
BLOCK_S = 0.1


def _burst(n: int, *, warm: bool) -> float:
    import toolsafe

    @toolsafe.tool
    def block(i: int) -> int:
        """Block for BLOCK_S seconds."""
        time.sleep(BLOCK_S)
        return i

    @toolsafe.tool
    def quick() -> str:
        """Return at once."""
        return "ok"

    with toolsafe.Runtime([block, quick]) as rt:
        if warm:
            rt.call("quick")  # one idle worker: the case issue 13 found serialized
        start = time.perf_counter()
        outcomes = rt.call_many([("block", {"i": i}) for i in range(n)])
        wall = time.perf_counter() - start
    assert all(o.ok for o in outcomes), [o.text for o in outcomes if not o.ok][:3]
    return wall


def run() -> Report:
    report = Report("02_pool", "Sync worker pool: bursts after a warm-up (issue 13)")
    rows = []
    for n in (8, 64):
        cold, warm = [], []
        for _ in range(ROUNDS):
            cold.append(_burst(n, warm=False))
            warm.append(_burst(n, warm=True))
        c, w = statistics.median(cold), statistics.median(warm)
        rows.append(
            [
                f"{n} sync calls blocking {BLOCK_S * 1000:.0f} ms",
                f"{c:.3f}",
                f"{w:.3f}",
                f"{w / c:.2f}×",
                f"≤ {BLOCK_S * 1.5:.2f} s, ratio ≈ 1",
            ]
        )
    report.text(
        f"`call_many` of a batch of sync calls, wall seconds (median of {ROUNDS} alternating "
        "rounds in one process). Cold: a new runtime. After warm-up: a new runtime after one "
        "call, so its pool holds one idle worker. Before the fix the warm pool woke that one "
        "thread for every call and never spawned (8 calls: 0.81 s, 64 calls: 6.4 s)."
    )
    report.table(["burst", "cold s", "after warm-up s", "warm / cold", "target"], rows)
    return report
