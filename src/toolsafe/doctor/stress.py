"""Stress: run each tool serially, then concurrently, and compare what changed.

This module runs the phases; the comparison is a catalogue of checks, one function
each (``toolsafe.doctor.stress_checks``), and the data they share is in
``toolsafe.doctor.stress_results``.

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
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from toolsafe.doctor.arguments import generate_arguments
from toolsafe.doctor.live import LiveTool
from toolsafe.doctor.stress_checks import STRESS_CHECKS, Comparison, StressCheck, compare, coverage
from toolsafe.doctor.stress_results import (
    CallRecord,
    PhaseResult,
    StressOptions,
    StressProblem,
    StressResult,
    percentile,
)

__all__ = [
    "STRESS_CHECKS",
    "CallRecord",
    "PhaseResult",
    "StressCheck",
    "StressOptions",
    "StressProblem",
    "StressResult",
    "percentile",
    "stress_tool",
]

_PREVIEW = 120


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
        comparison = Comparison(
            result, opts, lambda indexes: _serially_unstable(indexes, result, runtime, first)
        )
        result.problems.extend(compare(comparison))
        result.unchecked = coverage(result)
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
