"""In-process metrics: counts per tool and outcome, latency histograms, percentiles."""

from __future__ import annotations

import toolsafe
from toolsafe import FakeClock, Metrics, Outcome, Runtime, ToolError


def _outcome(tool: str, ms: float, error: str | None = None, retryable: bool = False) -> Outcome:
    if error is None:
        return Outcome("c", tool, True, value=1, text="1", attempts=1, elapsed_ms=ms)
    failure = ToolError(error, "boom", retryable)
    return Outcome.failure("c", tool, failure, attempts=2, elapsed_ms=ms)


def test_counts_and_latency_per_tool_and_outcome() -> None:
    metrics = Metrics()
    for ms in (1.5, 3, 7, 40, 90):
        metrics.record(_outcome("search", ms))
    metrics.record(_outcome("search", 2000, "TimeoutError", retryable=True))
    metrics.record(_outcome("search", 12, "ValueError"))
    metrics.record(_outcome("fetch", 5))
    snap = metrics.snapshot()
    assert snap["totals"] == {"calls": 8, "ok": 6, "errors": 2}
    search = snap["tools"]["search"]
    assert search["calls"] == 7 and search["ok"] == 5 and search["errors"] == 2
    assert search["error_types"] == {"TimeoutError": 1, "ValueError": 1}
    assert search["retryable_errors"] == 1
    assert search["attempts"] == 5 + 2 + 2
    ok = search["latency_ms"]["ok"]
    assert ok["count"] == 5 and ok["sum"] == 141.5 and ok["min"] == 1.5 and ok["max"] == 90
    assert ok["buckets"]["le_2.5"] == 1 and ok["buckets"]["le_5"] == 1
    assert ok["buckets"]["le_10"] == 1 and ok["buckets"]["le_50"] == 1
    assert ok["buckets"]["le_100"] == 1
    assert 5 <= ok["p50"] <= 10  # the median, 7, lies in the (5, 10] bucket
    assert 50 <= ok["p90"] <= 90
    both = search["latency_ms"]["all"]
    assert both["count"] == 7 and both["max"] == 2000
    assert search["latency_ms"]["error"]["buckets"]["le_2500"] == 1
    metrics.reset()
    assert metrics.snapshot() == {"totals": {"calls": 0, "ok": 0, "errors": 0}, "tools": {}}


def test_percentiles_stay_within_the_observed_range() -> None:
    metrics = Metrics()
    for _ in range(100):
        metrics.record(_outcome("t", 30))
    latency = metrics.snapshot()["tools"]["t"]["latency_ms"]["all"]
    assert latency["p50"] == latency["p99"] == 30


def test_runtime_metrics_follow_the_calls() -> None:
    clock = FakeClock()

    @toolsafe.tool
    def half(n: int) -> float:
        clock.advance(0.25)
        if n == 0:
            raise ZeroDivisionError("n is zero")
        return 1 / n

    with Runtime([half], clock=clock) as rt:
        for n in (0, 1, 2, 4):
            rt.call("half", {"n": n})
        rt.call("half", {"n": "not a number"})
    tool = rt.metrics.snapshot()["tools"]["half"]
    assert tool["calls"] == 5 and tool["ok"] == 3
    assert tool["error_types"] == {"ZeroDivisionError": 1, "InvalidArguments": 1}
    assert tool["latency_ms"]["ok"]["min"] == tool["latency_ms"]["ok"]["max"] == 250
    assert tool["latency_ms"]["error"]["min"] == 0  # the invalid call never ran
    assert tool["attempts"] == 4  # validation failures make no attempt
