"""The chaos suite at a size that fits ``make test``: hostile arguments mixed with hangs,
crashes, huge and unserializable outputs and stuck sync threads; every call ends in a
result or a structured error, and memory, descriptors and stuck threads stay bounded.

The full size (100,000 calls, timing verdict, figures in BENCHMARKS.md) is ``make chaos``
(``bench/bench_chaos.py``). No timing is asserted here beyond "no call hangs".
"""

from __future__ import annotations

from _chaos import TIMEOUT, run_chaos, summary


def test_every_chaotic_call_ends_in_a_result_or_a_structured_error() -> None:
    report = run_chaos(1200, batch=400, concurrency=400, idle_calls=4)
    figures = summary(report)
    assert report.problems == []
    assert report.calls == report.structured == 1204
    assert set(report.kinds) >= {"ok", "hang", "stuck", "slow", "crash", "output", "hostile"}
    # every fault kind showed up as its structured error
    assert {"InvalidArguments", "TimeoutError", "ResultNotSerializable", "UnknownTool"} <= set(
        report.errors
    )
    assert report.ok > 300
    # bounded: text, descriptors, stuck threads; no call hung (a loose bound: shared CI)
    assert report.max_text < 20_000
    assert max(report.fds) - report.fds[0] <= 8, figures
    assert report.stuck_after == 0
    assert max(report.lateness_ms) < TIMEOUT * 1000 * 20, figures
