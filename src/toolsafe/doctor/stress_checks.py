"""The stress checks: each compares the phases of one stress run and reports what it saw.

Like the lint rules (``toolsafe.doctor.rules``), every check is one function registered
in a catalogue with a stable id, a severity, why it breaks at scale and the fix. A check
reads a ``Comparison`` (the run, the serial reference, the options) and returns its
problems; ``compare`` runs them all in catalogue order. To add a check: write the
function, register a ``StressCheck`` in ``STRESS_CHECKS`` with the next free id.

``coverage`` is not a check: it says when a run exercised nothing (no serial call
succeeded), so that "no problems" is not mistaken for "healthy".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from toolsafe.doctor.stress_results import (
    CallRecord,
    PhaseResult,
    StressOptions,
    StressProblem,
    StressResult,
    percentile,
)

__all__ = [
    "PROGRAMMING_ERRORS",
    "STRESS_CHECKS",
    "Comparison",
    "StressCheck",
    "compare",
    "coverage",
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


@dataclass
class Comparison:
    """What every check reads: the run, its serial reference, the options."""

    result: StressResult
    options: StressOptions
    #: Calls the argument sets at these indexes again, serially; returns those whose
    #: result changed (the tool is not deterministic for them).
    rerun: Callable[[set[int]], set[int]]

    @property
    def serial(self) -> PhaseResult:
        phase = self.result.phase("serial")
        assert phase is not None, "a stress run always has a serial phase"
        return phase

    @property
    def concurrent(self) -> list[PhaseResult]:
        return [p for p in self.result.phases if p.name != "serial"]

    @property
    def records(self) -> list[CallRecord]:
        return [r for p in self.result.phases for r in p.records]

    def alone(self, index: int) -> CallRecord | None:
        """The serial call with the same arguments."""
        return next((r for r in self.serial.records if r.index == index), None)

    def show(self, index: int) -> str:
        text = repr(self.result.arguments[index])
        return text if len(text) <= 80 else text[:77] + "..."


Check = Callable[[Comparison], list[StressProblem]]


@dataclass(frozen=True)
class StressCheck:
    id: str
    name: str
    #: "error" (observed failing), "warning" (observed, likely to fail at scale).
    severity: str
    why: str
    fix: str
    run: Check

    def problem(self, message: str, evidence: list[str] | None = None) -> StressProblem:
        return StressProblem(
            self.id, self.name, self.severity, message, list(evidence or []), self.why, self.fix
        )


# --------------------------------------------------------------------------- the checks


def _hangs(c: Comparison) -> list[StressProblem]:
    hung = [r for r in c.records if r.hung]
    if not hung:
        return []
    where = sorted({p.name for p in c.result.phases for r in p.records if r.hung})
    return [
        STRESS_CHECKS["ST03"].problem(
            f"{len(hung)} call(s) hung past the {c.options.timeout:g}s timeout ({', '.join(where)})",
            [f"{c.show(r.index)} -> {r.error_message}" for r in hung[:3]],
        )
    ]


def _crashes(c: Comparison) -> list[StressProblem]:
    serial = c.serial.records
    crashes = [r for r in serial if not r.ok and r.error_type in PROGRAMMING_ERRORS]
    if not crashes:
        return []
    kinds = ", ".join(sorted({r.error_type or "?" for r in crashes}))
    return [
        STRESS_CHECKS["ST05"].problem(
            f"{len(crashes)}/{len(serial)} serial calls crashed with {kinds}",
            [f"{c.show(r.index)} -> {r.error_type}: {r.error_message}" for r in crashes[:3]],
        )
    ]


def _fails_under_concurrency(c: Comparison) -> list[StressProblem]:
    out = []
    serial_errors = set(c.serial.errors)
    for phase in c.concurrent:
        newly_failing = [
            r
            for r in phase.records
            if not r.ok and not r.hung and (alone := c.alone(r.index)) is not None and alone.ok
        ]
        only_concurrent = set(phase.errors) - serial_errors - {"TimeoutError"}
        if not newly_failing and not only_concurrent:
            continue
        kinds = Counter(r.error_type or "?" for r in newly_failing)
        described = ", ".join(f"{k} x{v}" for k, v in kinds.most_common()) or ", ".join(
            sorted(only_concurrent)
        )
        out.append(
            STRESS_CHECKS["ST01"].problem(
                f"{len(newly_failing)} of {len(phase.records)} {phase.name} calls failed "
                f"that succeed serially ({described})",
                [
                    f"{c.show(r.index)} -> {r.error_type}: {r.error_message}"
                    for r in newly_failing[:3]
                ],
            )
        )
    return out


def _results_differ(c: Comparison) -> list[StressProblem]:
    out = []
    for phase in c.concurrent:
        differing = [
            (r, alone)
            for r in phase.records
            if r.ok
            and (alone := c.alone(r.index)) is not None
            and alone.ok
            and r.digest != alone.digest
        ]
        if not differing:
            continue
        unstable = c.rerun({r.index for r, _ in differing})
        if unstable:
            c.result.notes.append(
                f"{phase.name}: {len(unstable)} argument set(s) give different results even "
                "serially (the tool is not deterministic), so they were not compared"
            )
        real = [(r, alone) for r, alone in differing if r.index not in unstable]
        if real:
            out.append(
                STRESS_CHECKS["ST02"].problem(
                    f"{len(real)} of {len(phase.records)} {phase.name} calls returned a "
                    "different result than the same call made alone",
                    [
                        f"{c.show(r.index)}: alone -> {_short(alone.preview)!r}, "
                        f"concurrent -> {_short(r.preview)!r}"
                        for r, alone in real[:3]
                    ],
                )
            )
    return out


def _tail_latency(c: Comparison) -> list[StressProblem]:
    out = []
    ok_serial = [r.elapsed_ms for r in c.serial.records if r.ok]
    for phase in c.concurrent:
        ok_phase = [r.elapsed_ms for r in phase.records if r.ok]
        if len(ok_serial) < 3 or len(ok_phase) < 3:
            continue
        base = percentile(ok_serial, 95)
        now = percentile(ok_phase, 95)
        growth = now / base if base > 0 else 0.0
        # Only an extreme, absolute tail counts: timing on shared machines is noisy.
        if growth >= 10 and now - base >= 1000:
            out.append(
                STRESS_CHECKS["ST07"].problem(
                    f"{phase.name}: p95 latency grew x{growth:.0f} ({base:.0f} ms -> {now:.0f} ms)"
                )
            )
    return out


def _output_too_large(c: Comparison) -> list[StressProblem]:
    budget = c.options.max_output_chars
    over = [r for r in c.records if r.ok and r.size > budget]
    if not over:
        return []
    biggest = max(r.size for r in over)
    return [
        STRESS_CHECKS["ST04"].problem(
            f"{len(over)} result(s) over the {budget:,}-character budget "
            f"(largest {biggest:,} characters, about {biggest // 4:,} tokens)",
            [f"{c.show(r.index)} -> {r.size:,} characters" for r in over[:3]],
        )
    ]


def _error_as_result(c: Comparison) -> list[StressProblem]:
    serial = c.serial.records
    error_like = [r for r in serial if r.ok and r.size < 300 and _ERROR_TEXT.search(r.preview)]
    if not error_like:
        return []
    return [
        STRESS_CHECKS["ST06"].problem(
            f"{len(error_like)}/{len(serial)} serial results look like error messages "
            "returned as success",
            [f"{c.show(r.index)} -> {r.preview!r}" for r in error_like[:3]],
        )
    ]


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- the catalogue

#: Every stress check by id, in the order ``compare`` runs them. Ids are stable.
STRESS_CHECKS: dict[str, StressCheck] = {
    c.id: c
    for c in (
        StressCheck(
            "ST03",
            "hangs",
            "error",
            "Calls ran past the timeout and were abandoned: without a timeout of its own the "
            "tool blocks a worker for as long as its upstream stalls.",
            "Set timeouts on every network call; run it with toolsafe (timeout=, retry=).",
            _hangs,
        ),
        StressCheck(
            "ST05",
            "crashes",
            "error",
            "Calls with arguments that fit the schema crash with a programming error: "
            "the tool is broken for the model however it calls it.",
            "Fix the code (a schema/signature mismatch is the usual cause: see TS201).",
            _crashes,
        ),
        StressCheck(
            "ST01",
            "fails-under-concurrency",
            "error",
            "Calls that succeed one at a time fail when they overlap: shared state or a "
            "shared resource that is not thread-safe.",
            "Find what the calls share (see the lint findings) and make it per call.",
            _fails_under_concurrency,
        ),
        StressCheck(
            "ST02",
            "results-differ",
            "error",
            "The same arguments gave a different result when calls overlapped than when they "
            "ran alone: one call read another call's state.",
            "Keep per-call values local; do not keep them on the instance or in globals.",
            _results_differ,
        ),
        StressCheck(
            "ST07",
            "tail-latency",
            "warning",
            "Latency under concurrency grows far beyond the serial latency: calls serialise "
            "on a lock, a connection or the GIL, and timeouts will follow at scale.",
            "Find the contended resource; bound concurrency per upstream.",
            _tail_latency,
        ),
        StressCheck(
            "ST04",
            "output-too-large",
            "error",
            "Results larger than the output budget overflow the model's context window (or "
            "cost a fortune and get truncated silently).",
            "Return a page or a summary (limit/offset arguments), or set an output budget.",
            _output_too_large,
        ),
        StressCheck(
            "ST06",
            "error-as-result",
            "warning",
            "Results read like error messages but were returned as successes: the agent "
            "cannot tell a failure from data, nor a transient failure from a permanent one.",
            "Raise an exception (toolsafe.ToolFailure with retryable=) instead of returning "
            "error text.",
            _error_as_result,
        ),
    )
}


def compare(comparison: Comparison) -> list[StressProblem]:
    """Run every check of the catalogue; their problems, in catalogue order."""
    return [problem for check in STRESS_CHECKS.values() for problem in check.run(comparison)]


def coverage(result: StressResult) -> str | None:
    """Why the run exercised nothing (so its verdict is "unchecked"), or None.

    When no serial call succeeded there is no reference to compare the concurrent
    phases with: a tool that fails every call (blocked by an SSRF guard, generated
    arguments that are not valid URLs or ids, a missing credential) shows no
    problem and proves nothing. A tool that hangs or crashes on every call is not
    here: those are problems (ST03, ST05), observed.
    """
    serial = result.phase("serial")
    if serial is None or not serial.records or any(r.ok for r in serial.records):
        return None
    if any(r.hung or r.error_type in PROGRAMMING_ERRORS for r in serial.records):
        return None
    kinds = Counter(r.error_type or "?" for r in serial.records)
    first = next(r for r in serial.records if not r.ok)
    described = ", ".join(f"{k} x{v}" for k, v in kinds.most_common())
    return (
        f"every serial call failed ({described}; first: {_short(first.error_message or '', 100)}"
        "), so nothing could be compared: the generated arguments may not fit the tool's "
        "domain, or it needs a service or credential; record real calls and pass --calls-file"
    )
