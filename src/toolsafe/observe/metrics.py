"""Per-tool counters and latency histograms, readable in-process and exportable to OpenTelemetry.

``runtime.metrics.snapshot()`` returns plain dicts (calls, ok, errors by type,
retryable errors, attempts, trimmed outputs, latency count/sum/min/max/mean and
p50/p90/p99 estimated from fixed buckets). With OpenTelemetry enabled the same
measurements go to a meter:

- ``gen_ai.execute_tool.duration`` (histogram, seconds; ``gen_ai.operation.name``,
  ``gen_ai.tool.name``, ``error.type`` on failure), the GenAI convention's metric;
- ``toolsafe.tool.calls`` (counter; ``gen_ai.tool.name``, ``toolsafe.outcome``, ``error.type``);
- ``toolsafe.tool.attempts`` and ``toolsafe.tool.trimmed`` (counters; ``gen_ai.tool.name``).
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

from toolsafe._version import VERSION

if TYPE_CHECKING:
    from toolsafe._call import Outcome

__all__ = ["LATENCY_BUCKETS_MS", "Metrics"]

#: Upper bounds (ms) of the latency buckets; one more bucket holds everything above.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    1,
    2.5,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10_000,
    30_000,
    60_000,
    120_000,
)


class _Latency:
    __slots__ = ("buckets", "count", "max", "min", "sum")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)

    def add(self, ms: float) -> None:
        self.count += 1
        self.sum += ms
        if ms < self.min:
            self.min = ms
        if ms > self.max:
            self.max = ms
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS_MS, ms)] += 1

    def merged(self, other: _Latency) -> _Latency:
        out = _Latency()
        out.count = self.count + other.count
        out.sum = self.sum + other.sum
        out.min = min(self.min, other.min)
        out.max = max(self.max, other.max)
        out.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        return out

    def percentile(self, q: float) -> float:
        """Estimate by linear interpolation inside the bucket, clamped to [min, max]."""
        rank = q * self.count
        seen = 0
        for i, n in enumerate(self.buckets):
            if n and seen + n >= rank:
                low = LATENCY_BUCKETS_MS[i - 1] if i else 0.0
                high = LATENCY_BUCKETS_MS[i] if i < len(LATENCY_BUCKETS_MS) else self.max
                low, high = max(low, self.min), min(high, self.max)
                return round(low + (high - low) * max(0.0, rank - seen) / n, 3)
            seen += n
        return round(self.max, 3)

    def snapshot(self) -> dict[str, Any]:
        if not self.count:
            return {"count": 0}
        return {
            "count": self.count,
            "sum": round(self.sum, 3),
            "mean": round(self.sum / self.count, 3),
            "min": round(self.min, 3),
            "max": round(self.max, 3),
            "p50": self.percentile(0.50),
            "p90": self.percentile(0.90),
            "p99": self.percentile(0.99),
            "buckets": {
                **{
                    f"le_{b:g}": n
                    for b, n in zip(LATENCY_BUCKETS_MS, self.buckets[:-1], strict=True)
                },
                "inf": self.buckets[-1],
            },
        }


class _ToolStats:
    __slots__ = (
        "attempts",
        "calls",
        "error_latency",
        "error_types",
        "ok",
        "ok_latency",
        "retryable",
        "trimmed",
    )

    def __init__(self) -> None:
        self.calls = 0
        self.ok = 0
        self.retryable = 0
        self.attempts = 0
        self.trimmed = 0
        self.error_types: Counter[str] = Counter()
        self.ok_latency = _Latency()
        self.error_latency = _Latency()

    def snapshot(self) -> dict[str, Any]:
        both = self.ok_latency.merged(self.error_latency)
        return {
            "calls": self.calls,
            "ok": self.ok,
            "errors": self.calls - self.ok,
            "retryable_errors": self.retryable,
            "error_types": dict(self.error_types.most_common()),
            "attempts": self.attempts,
            "trimmed": self.trimmed,
            "latency_ms": {
                "all": both.snapshot(),
                "ok": self.ok_latency.snapshot(),
                "error": self.error_latency.snapshot(),
            },
        }


class Metrics:
    """Thread-safe per-tool call metrics. One per runtime (``runtime.metrics``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tools: dict[str, _ToolStats] = {}
        self._otel: _OtelInstruments | None = None

    def record(self, outcome: Outcome) -> None:
        """Count one finished call."""
        # One unpacking reads every field at once (a NamedTuple's attributes are lookups).
        _, tool, _, _, error, _, attempts, elapsed_ms, _, trimmed, _ = outcome
        with self._lock:
            stats = self._tools.get(tool)
            if stats is None:
                stats = self._tools[tool] = _ToolStats()
            stats.calls += 1
            stats.attempts += attempts
            if trimmed:
                stats.trimmed += 1
            if error is None:
                stats.ok += 1
                stats.ok_latency.add(elapsed_ms)
            else:
                stats.error_types[error.type] += 1
                stats.retryable += error.retryable
                stats.error_latency.add(elapsed_ms)
        if self._otel is not None:
            self._otel.record(outcome)

    def snapshot(self) -> dict[str, Any]:
        """``{"totals": {...}, "tools": {name: {...}}}`` as plain, JSON-ready values."""
        with self._lock:
            tools = {name: stats.snapshot() for name, stats in sorted(self._tools.items())}
        calls = sum(t["calls"] for t in tools.values())
        ok = sum(t["ok"] for t in tools.values())
        return {"totals": {"calls": calls, "ok": ok, "errors": calls - ok}, "tools": tools}

    def reset(self) -> None:
        with self._lock:
            self._tools.clear()

    def export_to(self, meter_provider: Any = None) -> None:
        """Also record into OpenTelemetry instruments (``opentelemetry-api`` needed).

        ``meter_provider``: a MeterProvider, or None for the global one.
        """
        self._otel = _OtelInstruments(meter_provider)


class _OtelInstruments:
    def __init__(self, meter_provider: Any) -> None:
        from opentelemetry import metrics

        from toolsafe.observe.otel import SdkGate

        meter = metrics.get_meter("toolsafe", VERSION, meter_provider=meter_provider)
        try:
            from opentelemetry.metrics._internal import _ProxyMeterProvider
        except ImportError:  # pragma: no cover - other API versions: always record
            proxy: type | None = None
        else:
            proxy = _ProxyMeterProvider
        self._gate = SdkGate(meter_provider is not None, metrics.get_meter_provider, proxy)
        bounds = [b / 1000.0 for b in LATENCY_BUCKETS_MS]
        try:
            self.duration = meter.create_histogram(
                "gen_ai.execute_tool.duration",
                unit="s",
                description="Duration of tool executions.",
                explicit_bucket_boundaries_advisory=bounds,
            )
        except TypeError:  # older opentelemetry-api: no bucket advice
            self.duration = meter.create_histogram(
                "gen_ai.execute_tool.duration", unit="s", description="Duration of tool executions."
            )
        self.calls = meter.create_counter(
            "toolsafe.tool.calls", unit="{call}", description="Tool calls by outcome."
        )
        self.attempts = meter.create_counter(
            "toolsafe.tool.attempts", unit="{attempt}", description="Attempts (retries included)."
        )
        self.trimmed = meter.create_counter(
            "toolsafe.tool.trimmed", unit="{call}", description="Results trimmed to a budget."
        )

    def record(self, outcome: Outcome) -> None:
        if not self._gate.open():
            return  # no SDK configured (yet): skip building attributes for no-op instruments
        tool = {"gen_ai.tool.name": outcome.tool}
        error_type = outcome.error.type if outcome.error is not None else None
        duration = {"gen_ai.operation.name": "execute_tool", **tool}
        calls = {**tool, "toolsafe.outcome": "ok" if error_type is None else "error"}
        if error_type is not None:
            duration["error.type"] = calls["error.type"] = error_type
        self.duration.record(outcome.elapsed_ms / 1000.0, duration)
        self.calls.add(1, calls)
        if outcome.attempts:
            self.attempts.add(outcome.attempts, tool)
        if outcome.trimmed:
            self.trimmed.add(1, tool)
