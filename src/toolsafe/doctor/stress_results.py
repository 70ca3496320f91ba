"""What a stress run produced: options, call records, phases, problems and the result.

Plain data, shared by the runner (``toolsafe.doctor.stress``), the checks that compare
the phases (``toolsafe.doctor.stress_checks``) and the renderers (``report``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "CallRecord",
    "PhaseResult",
    "StressOptions",
    "StressProblem",
    "StressResult",
    "percentile",
]


@dataclass(frozen=True)
class StressOptions:
    """Bounds and knobs of a stress run (all small by default: fast on a laptop)."""

    #: Calls per concurrent phase (cycling over the argument sets).
    calls: int = 32
    #: Calls in flight at once in the concurrent phases.
    concurrency: int = 8
    #: Distinct argument sets to generate (each runs once serially).
    distinct: int = 8
    #: Seconds one call may take before it counts as hung.
    timeout: float = 5.0
    #: Seconds the whole stress run of one tool may take (no new calls start after).
    max_seconds: float = 30.0
    #: Characters of output above which a result is too large for a model's context.
    max_output_chars: int = 50_000
    seed: int = 0
    modes: tuple[str, ...] = ("threads", "asyncio")
    #: Recorded calls per tool name (from ``--calls-file``); used instead of generation.
    recorded: Mapping[str, list[Any]] | None = None


@dataclass(frozen=True)
class CallRecord:
    """One call: which argument set, how it ended, how long it took, how big it was."""

    index: int
    ok: bool
    elapsed_ms: float
    size: int
    digest: str
    error_type: str | None = None
    error_message: str | None = None
    hung: bool = False
    preview: str = ""


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class PhaseResult:
    """One phase (serial, threads or asyncio) of a stress run."""

    name: str
    concurrency: int
    records: list[CallRecord] = field(default_factory=list)
    wall_s: float = 0.0
    #: Why the phase stopped before running every planned call (None: it did not).
    stopped: str | None = None
    planned: int = 0

    @property
    def latencies(self) -> list[float]:
        return [r.elapsed_ms for r in self.records]

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)

    @property
    def errors(self) -> Counter[str]:
        return Counter(r.error_type or "?" for r in self.records if not r.ok)

    @property
    def max_size(self) -> int:
        return max((r.size for r in self.records), default=0)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "concurrency": self.concurrency,
            "planned": self.planned,
            "calls": len(self.records),
            "errors": dict(self.errors),
            "hung": sum(r.hung for r in self.records),
            "p50_ms": round(self.p(50), 2),
            "p95_ms": round(self.p(95), 2),
            "p99_ms": round(self.p(99), 2),
            "max_ms": round(max(self.latencies, default=0.0), 2),
            "max_output_chars": self.max_size,
            "wall_s": round(self.wall_s, 3),
            "stopped": self.stopped,
        }


@dataclass
class StressProblem:
    """Something stress observed, with the evidence (and its check's why and fix)."""

    id: str
    name: str
    severity: str
    message: str
    evidence: list[str] = field(default_factory=list)
    why: str = ""
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StressResult:
    """The stress run of one tool."""

    tool: str
    label: str
    runner: str
    argument_source: str = "schema"
    arguments: list[Any] = field(default_factory=list)
    phases: list[PhaseResult] = field(default_factory=list)
    problems: list[StressProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Why stress did not run at all (no arguments could be generated, ...).
    skipped: str | None = None
    #: Why stress ran but exercised nothing (no serial call succeeded), so a clean
    #: comparison proves nothing: the verdict is "unchecked", not "healthy".
    unchecked: str | None = None

    def phase(self, name: str) -> PhaseResult | None:
        return next((p for p in self.phases if p.name == name), None)

    def to_dict(self, *, samples: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "tool": self.tool,
            "label": self.label,
            "runner": self.runner,
            "argument_source": self.argument_source,
            "argument_sets": len(self.arguments),
            "skipped": self.skipped,
            "unchecked": self.unchecked,
            "phases": [p.summary() for p in self.phases],
            "problems": [p.to_dict() for p in self.problems],
            "notes": list(self.notes),
        }
        if samples:
            data["latencies_ms"] = {p.name: [round(v, 3) for v in p.latencies] for p in self.phases}
        return data
