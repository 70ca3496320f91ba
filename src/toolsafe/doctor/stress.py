"""Stress: run each tool serially, then concurrently, and compare what changed.

The serial run is the reference. The same argument sets then run concurrently
(on threads, and on one asyncio loop for tools with a native async path), and the
differences are the evidence: errors that only appear under concurrency, results
that differ for the same arguments (shared state), calls that hang, outputs over
the budget, crashes, errors returned as results, and latency tails that grow.

Every call goes through a toolsafe ``Runtime`` with a timeout, so a hanging tool
is reported, never waited on; a per-tool time budget and call counts bound the run.
Framework tools are called as their framework calls them (CrewAI ``run``,
LangChain ``invoke``) on one shared instance, because that is what happens in
production; toolsafe tools run with their own options.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from toolsafe.doctor.arguments import generate_arguments
from toolsafe.doctor.discover import LiveTool

__all__ = [
    "STRESS_CHECKS",
    "CallRecord",
    "PhaseResult",
    "StressOptions",
    "StressProblem",
    "StressResult",
    "percentile",
    "stress_tool",
]

#: Exceptions that mean the code is wrong, not the input or the upstream.
PROGRAMMING_ERRORS = frozenset(
    {
        "TypeError",
        "AttributeError",
        "NameError",
        "UnboundLocalError",
        "AssertionError",
        "ImportError",
        "ModuleNotFoundError",
        "NotImplementedError",
        "RecursionError",
    }
)
_ERROR_TEXT = re.compile(
    r"^\W*(error|exception|failed|failure)\b|\b(traceback|went wrong|error occurred)\b",
    re.IGNORECASE,
)
_PREVIEW = 120


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
class StressCheck:
    id: str
    name: str
    severity: str
    why: str
    fix: str


STRESS_CHECKS: dict[str, StressCheck] = {
    c.id: c
    for c in (
        StressCheck(
            "ST01",
            "fails-under-concurrency",
            "error",
            "Calls that succeed one at a time fail when they overlap: shared state or a "
            "shared resource that is not thread-safe.",
            "Find what the calls share (see the lint findings) and make it per call.",
        ),
        StressCheck(
            "ST02",
            "results-differ",
            "error",
            "The same arguments gave a different result when calls overlapped than when they "
            "ran alone: one call read another call's state.",
            "Keep per-call values local; do not keep them on the instance or in globals.",
        ),
        StressCheck(
            "ST03",
            "hangs",
            "error",
            "Calls ran past the timeout and were abandoned: without a timeout of its own the "
            "tool blocks a worker for as long as its upstream stalls.",
            "Set timeouts on every network call; run it with toolsafe (timeout=, retry=).",
        ),
        StressCheck(
            "ST04",
            "output-too-large",
            "error",
            "Results larger than the output budget overflow the model's context window (or "
            "cost a fortune and get truncated silently).",
            "Return a page or a summary (limit/offset arguments), or set an output budget.",
        ),
        StressCheck(
            "ST05",
            "crashes",
            "error",
            "Calls with arguments that fit the schema crash with a programming error: "
            "the tool is broken for the model however it calls it.",
            "Fix the code (a schema/signature mismatch is the usual cause: see TS201).",
        ),
        StressCheck(
            "ST06",
            "error-as-result",
            "warning",
            "Results read like error messages but were returned as successes: the agent "
            "cannot tell a failure from data, nor a transient failure from a permanent one.",
            "Raise an exception (toolsafe.ToolFailure with retryable=) instead of returning "
            "error text.",
        ),
        StressCheck(
            "ST07",
            "tail-latency",
            "warning",
            "Latency under concurrency grows far beyond the serial latency: calls serialise "
            "on a lock, a connection or the GIL, and timeouts will follow at scale.",
            "Find the contended resource; bound concurrency per upstream.",
        ),
    )
}


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
    """Something stress observed, with the evidence."""

    id: str
    name: str
    severity: str
    message: str
    evidence: list[str] = field(default_factory=list)

    @property
    def check(self) -> StressCheck:
        return STRESS_CHECKS[self.id]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "why": self.check.why, "fix": self.check.fix}


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
    skipped: str | None = None

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
            "phases": [p.summary() for p in self.phases],
            "problems": [p.to_dict() for p in self.problems],
            "notes": list(self.notes),
        }
        if samples:
            data["latencies_ms"] = {p.name: [round(v, 3) for v in p.latencies] for p in self.phases}
        return data


# --------------------------------------------------------------------------- running


class _Passthrough(BaseModel):
    """Accept any arguments: the framework under test validates them itself."""

    model_config = ConfigDict(extra="allow")


Progress = Callable[[str, int, int], None]


def stress_tool(
    live: LiveTool, options: StressOptions | None = None, *, progress: Progress | None = None
) -> StressResult:
    """Stress one tool; never raises for what the tool does, never waits past the bounds.

    ``progress(phase, done, total)`` is called after every call.
    """
    opts = options or StressOptions()
    result = StressResult(live.name, live.label, live.runner)
    recorded = (opts.recorded or {}).get(live.name)
    if recorded:
        result.arguments = list(recorded[: max(opts.distinct, opts.calls)])
        result.argument_source = "calls file"
    else:
        try:
            result.arguments = generate_arguments(live.schema, opts.distinct, seed=opts.seed)
        except Exception as exc:
            result.skipped = f"could not generate arguments from its schema: {exc}"
            return result
    if not result.arguments:
        result.skipped = "no arguments could be generated from its schema"
        return result
    runtime, sync_name, async_name = _runtime_for(live, opts)
    deadline = time.monotonic() + opts.max_seconds
    n = len(result.arguments)
    try:
        plans: list[tuple[str, str, int, list[int]]] = []
        first = sync_name or async_name
        assert first is not None
        plans.append(("serial", first, 1, list(range(n))))
        concurrent = [i % n for i in range(max(opts.calls, n))]
        if "threads" in opts.modes and sync_name:
            plans.append(("threads", sync_name, opts.concurrency, concurrent))
        if "asyncio" in opts.modes and async_name:
            plans.append(("asyncio", async_name, opts.concurrency, concurrent))
        total = sum(len(plan) for *_, plan in plans)
        done = 0

        def tick(phase: str) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(phase, done, total)

        for phase_name, tool_name, width, plan in plans:
            phase = _run_phase(
                runtime, phase_name, tool_name, width, plan, result.arguments, opts, deadline, tick
            )
            result.phases.append(phase)
            skipped = len(plan) - len(phase.records)
            done += skipped
            if progress is not None and skipped:
                progress(phase_name, done, total)
        _compare(result, opts, runtime, first)
        _note_isolation(result, live)
    finally:
        runtime.close()
    return result


def _runtime_for(live: LiveTool, opts: StressOptions) -> tuple[Any, str | None, str | None]:
    from toolsafe._runtime import Runtime
    from toolsafe._tool import Tool

    budget = max(8, opts.concurrency * 4)
    if live.toolsafe_tool is not None:
        tool = live.toolsafe_tool
        runtime = Runtime([tool], timeout=opts.timeout, max_abandoned_threads=budget)
        return (
            runtime,
            (None if tool.is_async else tool.name),
            (tool.name if tool.is_async else None),
        )
    tools: list[Tool] = []
    sync_name = async_name = None
    if live.call is not None:
        call = live.call

        def run_sync(**kwargs: Any) -> Any:
            return call(kwargs)

        sync_name = live.name
        tools.append(_passthrough_tool(run_sync, sync_name, live.schema))
    if live.acall is not None:
        acall = live.acall

        async def run_async(**kwargs: Any) -> Any:
            return await acall(kwargs)

        async_name = f"{live.name} (async)"
        tools.append(_passthrough_tool(run_async, async_name, live.schema))
    runtime = Runtime(tools, timeout=opts.timeout, max_abandoned_threads=budget)
    return runtime, sync_name, async_name


def _passthrough_tool(fn: Callable[..., Any], name: str, schema: Mapping[str, Any]) -> Any:
    from toolsafe._tool import Tool

    return Tool(
        fn,
        name=name,
        description="",
        model=_Passthrough,
        # Open schema: the tool's own framework validates; toolsafe only passes through.
        json_schema={
            **schema,
            "type": "object",
            "properties": dict(schema.get("properties") or {}),
            "additionalProperties": True,
        },
        dump_arguments=True,
    )


def _run_phase(
    runtime: Any,
    phase_name: str,
    tool_name: str,
    width: int,
    plan: list[int],
    arguments: list[Any],
    opts: StressOptions,
    deadline: float,
    tick: Callable[[str], None],
) -> PhaseResult:
    phase = PhaseResult(phase_name, width, planned=len(plan))
    started = time.monotonic()

    async def drive() -> None:
        sem = asyncio.Semaphore(width)
        slots: list[CallRecord | None] = [None] * len(plan)

        async def one(position: int, index: int) -> None:
            async with sem:
                if phase.stopped:
                    return
                if time.monotonic() > deadline:
                    phase.stopped = f"time budget of {opts.max_seconds:g}s reached"
                    return
                outcome = await runtime.acall(tool_name, arguments[index])
                record = _record(index, outcome)
                slots[position] = record
                tick(phase_name)
                if record.hung and phase.stopped is None:
                    phase.stopped = (
                        f"a call hung past the {opts.timeout:g}s timeout; no new calls started"
                    )

        await asyncio.gather(*(one(pos, idx) for pos, idx in enumerate(plan)))
        phase.records = [r for r in slots if r is not None]

    runtime.run_sync(drive)
    phase.wall_s = time.monotonic() - started
    return phase


def _record(index: int, outcome: Any) -> CallRecord:
    from toolsafe.backends._base import AttemptTimeout

    if outcome.ok:
        text = outcome.text  # what the model would read (after any toolsafe output budget)
        return CallRecord(
            index=index,
            ok=True,
            elapsed_ms=float(outcome.elapsed_ms),
            size=len(text),
            # Compared within one process only: the str hash is fast on 10 MB results.
            digest=f"{len(text)}:{hash(text):x}",
            preview=text[:_PREVIEW],
        )
    error = outcome.error
    return CallRecord(
        index=index,
        ok=False,
        elapsed_ms=float(outcome.elapsed_ms),
        size=0,
        digest="",
        error_type=error.type,
        error_message=(error.message or "")[:300],
        hung=isinstance(error.exception, AttemptTimeout),
    )


# --------------------------------------------------------------------------- comparing


def _compare(result: StressResult, opts: StressOptions, runtime: Any, first: str) -> None:
    serial = result.phase("serial")
    assert serial is not None
    by_index = {r.index: r for r in serial.records}
    args = result.arguments

    def show(index: int) -> str:
        text = repr(args[index])
        return text if len(text) <= 80 else text[:77] + "..."

    all_records = [r for p in result.phases for r in p.records]
    hung = [r for r in all_records if r.hung]
    if hung:
        where = sorted({p.name for p in result.phases for r in p.records if r.hung})
        result.problems.append(
            _problem(
                "ST03",
                f"{len(hung)} call(s) hung past the {opts.timeout:g}s timeout ({', '.join(where)})",
                [f"{show(r.index)} -> {r.error_message}" for r in hung[:3]],
            )
        )
    crashes = [r for r in serial.records if not r.ok and r.error_type in PROGRAMMING_ERRORS]
    if crashes:
        ratio = f"{len(crashes)}/{len(serial.records)}"
        result.problems.append(
            _problem(
                "ST05",
                f"{ratio} serial calls crashed with "
                f"{', '.join(sorted({r.error_type or '?' for r in crashes}))}",
                [f"{show(r.index)} -> {r.error_type}: {r.error_message}" for r in crashes[:3]],
            )
        )
    for phase in result.phases:
        if phase.name == "serial":
            continue
        newly_failing = [
            r
            for r in phase.records
            if not r.ok and not r.hung and by_index.get(r.index) and by_index[r.index].ok
        ]
        only_concurrent = set(phase.errors) - set(serial.errors) - {"TimeoutError"}
        if newly_failing or only_concurrent:
            kinds = Counter(r.error_type or "?" for r in newly_failing)
            described = ", ".join(f"{k} x{v}" for k, v in kinds.most_common()) or ", ".join(
                sorted(only_concurrent)
            )
            result.problems.append(
                _problem(
                    "ST01",
                    f"{len(newly_failing)} of {len(phase.records)} {phase.name} calls failed "
                    f"that succeed serially ({described})",
                    [
                        f"{show(r.index)} -> {r.error_type}: {r.error_message}"
                        for r in newly_failing[:3]
                    ],
                )
            )
        differing = [
            r
            for r in phase.records
            if r.ok
            and by_index.get(r.index)
            and by_index[r.index].ok
            and r.digest != by_index[r.index].digest
        ]
        if differing:
            unstable = _serially_unstable({r.index for r in differing}, result, runtime, first)
            real = [r for r in differing if r.index not in unstable]
            if unstable:
                result.notes.append(
                    f"{phase.name}: {len(unstable)} argument set(s) give different results even "
                    "serially (the tool is not deterministic), so they were not compared"
                )
            if real:
                result.problems.append(
                    _problem(
                        "ST02",
                        f"{len(real)} of {len(phase.records)} {phase.name} calls returned a "
                        "different result than the same call made alone",
                        [
                            f"{show(r.index)}: alone -> {_short(by_index[r.index].preview)!r}, "
                            f"concurrent -> {_short(r.preview)!r}"
                            for r in real[:3]
                        ],
                    )
                )
        _tail(result, serial, phase)
    over = [r for r in all_records if r.ok and r.size > opts.max_output_chars]
    if over:
        biggest = max(r.size for r in over)
        result.problems.append(
            _problem(
                "ST04",
                f"{len(over)} result(s) over the {opts.max_output_chars:,}-character budget "
                f"(largest {biggest:,} characters, about {biggest // 4:,} tokens)",
                [f"{show(r.index)} -> {r.size:,} characters" for r in over[:3]],
            )
        )
    failed = [r for r in serial.records if not r.ok and not r.hung]
    if serial.records and len(failed) == len(serial.records) and not crashes:
        failed_kinds = ", ".join(sorted({r.error_type or "?" for r in failed}))
        result.notes.append(
            f"every serial call failed ({failed_kinds}): the generated arguments may not fit the "
            "tool's domain, so little was compared; record real calls and pass --calls-file"
        )
    error_like = [
        r for r in serial.records if r.ok and r.size < 300 and _ERROR_TEXT.search(r.preview)
    ]
    if error_like:
        result.problems.append(
            _problem(
                "ST06",
                f"{len(error_like)}/{len(serial.records)} serial results look like error "
                "messages returned as success",
                [f"{show(r.index)} -> {r.preview!r}" for r in error_like[:3]],
            )
        )


def _serially_unstable(
    indexes: set[int], result: StressResult, runtime: Any, tool_name: str
) -> set[int]:
    """Argument sets whose result changes between two serial calls (non-deterministic)."""
    serial = result.phase("serial")
    assert serial is not None
    reference = {r.index: r.digest for r in serial.records}
    unstable: set[int] = set()

    async def again() -> None:
        for index in sorted(indexes):
            outcome = await runtime.acall(tool_name, result.arguments[index])
            record = _record(index, outcome)
            if not record.ok or record.digest != reference.get(index):
                unstable.add(index)

    runtime.run_sync(again)
    return unstable


def _tail(result: StressResult, serial: PhaseResult, phase: PhaseResult) -> None:
    ok_serial = [r.elapsed_ms for r in serial.records if r.ok]
    ok_phase = [r.elapsed_ms for r in phase.records if r.ok]
    if len(ok_serial) < 3 or len(ok_phase) < 3:
        return
    base = percentile(ok_serial, 95)
    now = percentile(ok_phase, 95)
    growth = now / base if base > 0 else 0.0
    # Only an extreme, absolute tail counts: timing on shared machines is noisy.
    if growth >= 10 and now - base >= 1000:
        result.problems.append(
            _problem(
                "ST07",
                f"{phase.name}: p95 latency grew x{growth:.0f} ({base:.0f} ms -> {now:.0f} ms)",
            )
        )


def _note_isolation(result: StressResult, live: LiveTool) -> None:
    tool = live.toolsafe_tool
    if tool is None:
        return
    mutated = sorted(getattr(tool, "mutated_attributes", ()) or ())
    if mutated:
        result.notes.append(
            "toolsafe isolated writes to instance state per call: " + ", ".join(mutated)
        )
    shared = list(getattr(tool, "not_isolated", ()) or ())
    if shared:
        result.notes.append(
            "toolsafe could not copy these attributes per call (shared as-is): " + ", ".join(shared)
        )


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _problem(check_id: str, message: str, evidence: list[str] | None = None) -> StressProblem:
    check = STRESS_CHECKS[check_id]
    return StressProblem(check.id, check.name, check.severity, message, list(evidence or []))
