"""Read a JSONL recording, re-run its calls against current code, and summarise it.

``toolsafe replay FILE TARGET`` and ``toolsafe trace FILE`` are thin shells over
``read_recording``, ``replay`` and ``summarize``.

Replay compares each new outcome with the recorded one:

- ``same``: both returned the same result (SHA-256 of the redacted result text),
  or both failed with the same error type and message;
- ``different result``: both returned, with different results, or the call used
  to fail and now returns;
- ``different error``: it used to return and now fails, or it fails differently.

Arguments are replayed as recorded, so redacted secrets come back as
``[REDACTED]``; record with ``JsonlRecorder(path, redact=Redactor.disabled())``
on a trusted machine when a replay needs the real values.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolsafe.observe.recorder import result_digest
from toolsafe.observe.redact import Redactor

if TYPE_CHECKING:
    from toolsafe._call import Outcome
    from toolsafe._runtime import Runtime

__all__ = [
    "DIFFERENT_ERROR",
    "DIFFERENT_RESULT",
    "SAME",
    "RecordedCall",
    "Recording",
    "ReplayResult",
    "areplay",
    "compare",
    "percentile",
    "read_recording",
    "replay",
    "select_calls",
    "summarize",
]

SAME = "same"
DIFFERENT_RESULT = "different result"
DIFFERENT_ERROR = "different error"


@dataclass(frozen=True)
class RecordedCall:
    """One ``"kind": "call"`` line of a recording."""

    call_id: str
    tool: str
    arguments: Any
    ok: bool
    result: str | None
    result_sha256: str | None
    error: dict[str, Any] | None
    elapsed_ms: float
    attempts: int
    in_flight: int
    pid: int | None
    ts: str | None
    line: int

    @property
    def error_type(self) -> str | None:
        return None if self.error is None else str(self.error.get("type"))

    @property
    def retryable(self) -> bool:
        return bool(self.error and self.error.get("retryable"))

    @classmethod
    def from_record(cls, record: dict[str, Any], line: int) -> RecordedCall:
        """Read one call line; raises ValueError/TypeError/KeyError for a line that is not one.

        A recording is input: every field is checked for its type here, so that nothing
        downstream (the trace summary, the replay comparison) meets a list where it
        expects a name, or an infinite latency.
        """
        error = record.get("error")
        result = record.get("result")
        digest = record.get("result_sha256")
        pid = record.get("pid")
        ts = record.get("ts")
        if result is not None and not isinstance(result, str):
            raise TypeError("result is not text")
        elapsed = float(record.get("elapsed_ms") or 0.0)
        if not math.isfinite(elapsed):
            raise ValueError("elapsed_ms is not a finite number")
        return cls(
            call_id=_name(record["call_id"]),
            tool=_name(record["tool"]),
            arguments=record.get("arguments"),
            ok=bool(record["ok"]),
            result=result,
            result_sha256=digest if isinstance(digest, str) else None,
            error=error if isinstance(error, dict) else None,
            elapsed_ms=elapsed,
            attempts=int(record.get("attempts") or 0),
            in_flight=max(1, int(record.get("in_flight") or 1)),
            pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            ts=ts if isinstance(ts, str) else None,
            line=line,
        )


def _name(value: Any) -> str:
    """A call id or tool name: a string or a number, nothing nested."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a name, got {type(value).__name__}")


@dataclass
class Recording:
    """The calls of a recording, its attempt lines, and the lines that could not be read."""

    calls: list[RecordedCall] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    invalid_lines: list[int] = field(default_factory=list)


def read_recording(path: str | os.PathLike[str]) -> Recording:
    """Parse a JSONL recording; unreadable lines are listed in ``invalid_lines``.

    A line that is not JSON, is nested too deeply to parse (``RecursionError``), holds
    an integer too long to convert, or is not a call/attempt record, is skipped and
    listed: one bad line never costs the rest of the recording.
    """
    recording = Recording()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                kind = record.get("kind")
                if kind == "call":
                    recording.calls.append(RecordedCall.from_record(record, number))
                elif kind == "attempt":
                    recording.attempts.append(record)
                else:
                    recording.invalid_lines.append(number)
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError, OverflowError):
                recording.invalid_lines.append(number)
    return recording


def select_calls(
    calls: Sequence[RecordedCall],
    *,
    call_ids: Iterable[str] = (),
    failures: bool = False,
) -> list[RecordedCall]:
    """The calls to replay: by id (in the given order of the recording), failures only, or all."""
    wanted = set(call_ids)
    chosen = [c for c in calls if not wanted or c.call_id in wanted]
    if failures:
        chosen = [c for c in chosen if not c.ok]
    return chosen


# --------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class ReplayResult:
    """A recorded call, its new outcome, and how they compare."""

    recorded: RecordedCall
    outcome: Outcome
    status: str
    detail: str

    @property
    def changed(self) -> bool:
        return self.status != SAME

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.recorded.call_id,
            "tool": self.recorded.tool,
            "status": self.status,
            "detail": self.detail,
            "was": _describe_recorded(self.recorded),
            "now": _describe_outcome(self.outcome),
        }


def compare(recorded: RecordedCall, outcome: Outcome, redactor: Redactor) -> tuple[str, str]:
    """``(status, detail)`` for a new outcome against the recorded call."""
    if recorded.ok and outcome.ok:
        full = outcome.full_text if outcome.full_text is not None else outcome.text
        clean = redactor.text(full)
        if recorded.result_sha256 is not None:
            same = result_digest(clean) == recorded.result_sha256
        else:
            same = clean == recorded.result
        if same:
            return SAME, "same result"
        return DIFFERENT_RESULT, _result_change(recorded.result or "", clean)
    if recorded.ok:
        error = outcome.error
        assert error is not None
        return DIFFERENT_ERROR, f"now fails: {error.type}: {redactor.text(error.message)}"
    if outcome.ok:
        return DIFFERENT_RESULT, f"now returns a result (was {recorded.error_type})"
    error = outcome.error
    assert error is not None and recorded.error is not None
    was_type, was_message = recorded.error_type, str(recorded.error.get("message", ""))
    message = redactor.text(error.message)
    if error.type == was_type and message == was_message:
        return SAME, f"same error: {error.type}"
    return DIFFERENT_ERROR, f"{was_type}: {_short(was_message)} -> {error.type}: {_short(message)}"


async def areplay(
    runtime: Runtime, calls: Sequence[RecordedCall], *, concurrency: int = 1
) -> list[ReplayResult]:
    """Re-run ``calls`` on ``runtime`` (``concurrency`` at a time, 1: serially), in order."""
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(recorded: RecordedCall) -> ReplayResult:
        async with sem:
            outcome = await runtime.acall(
                recorded.tool, recorded.arguments, call_id=recorded.call_id
            )
        status, detail = compare(recorded, outcome, runtime.redactor)
        return ReplayResult(recorded, outcome, status, detail)

    if concurrency <= 1 or runtime.serial:
        return [await one(c) for c in calls]
    return list(await asyncio.gather(*(one(c) for c in calls)))


def replay(
    runtime: Runtime, calls: Sequence[RecordedCall], *, concurrency: int = 1
) -> list[ReplayResult]:
    """Sync twin of ``areplay``."""
    return runtime.run_sync(lambda: areplay(runtime, calls, concurrency=concurrency))


def recorded_concurrency(calls: Sequence[RecordedCall]) -> int:
    """The most calls that were in flight at once while these were recorded."""
    return max((c.in_flight for c in calls), default=1)


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _result_change(was: str, now: str) -> str:
    at = next(
        (i for i, (a, b) in enumerate(zip(was, now, strict=False)) if a != b),
        min(len(was), len(now)),
    )
    start = max(0, at - 20)
    return (
        f"result changed ({len(was):,} -> {len(now):,} chars; first difference at {at:,}: "
        f"{_short(was[start : at + 40], 70)!r} -> {_short(now[start : at + 40], 70)!r})"
    )


def _describe_recorded(call: RecordedCall) -> str:
    if call.ok:
        return f"ok: {_short(call.result or '', 60)}"
    return f"{call.error_type}: {_short(str((call.error or {}).get('message', '')), 60)}"


def _describe_outcome(outcome: Outcome) -> str:
    if outcome.ok:
        return f"ok: {_short(outcome.text, 60)}"
    assert outcome.error is not None
    return f"{outcome.error.type}: {_short(outcome.error.message, 60)}"


# --------------------------------------------------------------------------- trace summary


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of ``values`` (``q`` in [0, 1]); 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    value = ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
    return round(value, 3)


def summarize(recording: Recording, *, top: int = 10) -> dict[str, Any]:
    """What ``toolsafe trace`` shows, as plain data.

    Per tool: calls, errors, error rate, retryable errors, attempts, trimmed
    results, latency p50/p90/p99/max. Error types with counts, the share of
    errors that were retryable, and the ``top`` slowest calls.
    """
    calls = recording.calls
    by_tool: dict[str, list[RecordedCall]] = defaultdict(list)
    for call in calls:
        by_tool[call.tool].append(call)
    tools = {}
    for name, group in sorted(by_tool.items()):
        latencies = [c.elapsed_ms for c in group]
        errors = [c for c in group if not c.ok]
        tools[name] = {
            "calls": len(group),
            "errors": len(errors),
            "error_rate": round(len(errors) / len(group), 4),
            "retryable_errors": sum(c.retryable for c in errors),
            "attempts": sum(c.attempts for c in group),
            "p50_ms": percentile(latencies, 0.50),
            "p90_ms": percentile(latencies, 0.90),
            "p99_ms": percentile(latencies, 0.99),
            "max_ms": round(max(latencies), 3),
        }
    error_counts: Counter[tuple[str, str, bool]] = Counter(
        (c.tool, c.error_type or "?", c.retryable) for c in calls if not c.ok
    )
    errors_total = sum(error_counts.values())
    retryable_total = sum(n for (_, _, retryable), n in error_counts.items() if retryable)
    slowest = sorted(calls, key=lambda c: c.elapsed_ms, reverse=True)[:top]
    all_latencies = [c.elapsed_ms for c in calls]
    return {
        "calls": len(calls),
        "errors": errors_total,
        "retryable_share": round(retryable_total / errors_total, 4) if errors_total else 0.0,
        "processes": len({c.pid for c in calls if c.pid is not None}),
        "invalid_lines": len(recording.invalid_lines),
        "latency_ms": {
            "p50": percentile(all_latencies, 0.50),
            "p90": percentile(all_latencies, 0.90),
            "p99": percentile(all_latencies, 0.99),
            "max": round(max(all_latencies), 3) if all_latencies else 0.0,
        },
        "tools": tools,
        "error_types": [
            {"tool": tool, "type": kind, "retryable": retryable, "count": n}
            for (tool, kind, retryable), n in error_counts.most_common()
        ],
        "slowest": [
            {
                "call_id": c.call_id,
                "tool": c.tool,
                "elapsed_ms": c.elapsed_ms,
                "outcome": "ok" if c.ok else c.error_type,
                "ts": c.ts,
            }
            for c in slowest
        ],
    }
