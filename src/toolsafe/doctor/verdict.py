"""The doctor: lint plus stress per tool, joined into one verdict per tool.

Verdicts, worst first:

    broken     stress observed a failure (errors, hangs, leaked state, huge output)
    at-risk    static checks found problems that stress did not (or could not) observe
    unchecked  no problems found statically, but the tool could not be stressed
    healthy    no problems found statically or under stress

A report with any ``broken`` or ``at-risk`` tool, or a file that could not be
imported for a reason other than a missing framework, means "problems found".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolsafe._exit_codes import for_findings
from toolsafe.doctor.arguments import load_calls_file
from toolsafe.doctor.discover import (
    FRAMEWORK_LABELS,
    Discovery,
    ImportProblem,
    LiveTool,
    ToolSite,
    discover,
)
from toolsafe.doctor.lint import Finding, lint_sites
from toolsafe.doctor.stress import StressOptions, StressResult, stress_tool

__all__ = ["VERDICTS", "DoctorReport", "ToolDiagnosis", "diagnose"]

VERDICTS = ("broken", "at-risk", "unchecked", "healthy")
_PROBLEM_SEVERITIES = frozenset({"error", "warning"})


@dataclass
class ToolDiagnosis:
    """Everything the doctor knows about one tool."""

    name: str
    label: str
    framework: str | None
    path: str | None
    line: int | None
    findings: list[Finding] = field(default_factory=list)
    stress: StressResult | None = None
    #: Why stress did not run (framework missing, cannot instantiate, ...).
    not_stressed: str | None = None

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.severity in _PROBLEM_SEVERITIES]

    @property
    def verdict(self) -> str:
        observed = self.stress.problems if self.stress else []
        if any(p.severity == "error" for p in observed):
            return "broken"
        if self.problems or observed:
            return "at-risk"
        if self.stress is None or self.stress.skipped:
            return "unchecked"
        return "healthy"

    @property
    def location(self) -> str:
        if self.path is None:
            return "?"
        return f"{self.path}:{self.line}" if self.line else self.path

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "framework": self.framework,
            "location": self.location,
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "stress": self.stress.to_dict() if self.stress else None,
            "not_stressed": self.not_stressed,
        }


@dataclass
class DoctorReport:
    target: str
    tools: list[ToolDiagnosis]
    import_problems: list[ImportProblem]
    options: StressOptions | None
    elapsed_s: float = 0.0

    @property
    def failed_imports(self) -> list[ImportProblem]:
        """Files that failed to import for a reason other than a missing framework."""
        return [p for p in self.import_problems if p.missing_framework is None]

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(VERDICTS, 0)
        for tool in self.tools:
            out[tool.verdict] += 1
        return out

    @property
    def problems_found(self) -> bool:
        counts = self.counts
        return bool(counts["broken"] or counts["at-risk"] or self.failed_imports)

    @property
    def exit_code(self) -> int:
        """What ``toolsafe doctor`` exits with (the rule lives in ``toolsafe._exit_codes``)."""
        return for_findings(problems=self.problems_found)

    def tool(self, name: str) -> ToolDiagnosis:
        """The first tool called ``name`` (StopIteration if there is none)."""
        return next(t for t in self.tools if t.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "summary": {**self.counts, "tools": len(self.tools)},
            "problems_found": self.problems_found,
            "exit_code": self.exit_code,
            "elapsed_s": round(self.elapsed_s, 3),
            "options": _options_dict(self.options),
            "import_problems": [
                {
                    "path": str(p.path),
                    "message": p.message,
                    "missing_framework": p.missing_framework,
                }
                for p in self.import_problems
            ],
            "tools": [t.to_dict() for t in self.tools],
        }


def _options_dict(options: StressOptions | None) -> dict[str, Any] | None:
    if options is None:
        return None
    return {
        "calls": options.calls,
        "concurrency": options.concurrency,
        "distinct": options.distinct,
        "timeout": options.timeout,
        "max_seconds": options.max_seconds,
        "max_output_chars": options.max_output_chars,
        "seed": options.seed,
        "modes": list(options.modes),
        "recorded_calls": bool(options.recorded),
    }


ToolProgress = Callable[[str, str, int, int], None]


def diagnose(
    target: str,
    *,
    options: StressOptions | None = None,
    stress: bool = True,
    only: str | None = None,
    calls_file: Path | None = None,
    progress: ToolProgress | None = None,
) -> DoctorReport:
    """Lint and (unless ``stress=False``) stress every tool in ``target``.

    ``progress(tool, phase, done, total)`` is called after every stress call.
    Raises ``TargetNotFound`` for a target that does not exist, ``ValueError``
    for a bad calls file.
    """
    started = time.monotonic()
    opts = options or StressOptions()
    found = discover(target, live=stress, only=only)
    if calls_file is not None:
        names = {t.name for t in found.live} | {s.name for s in found.sites}
        opts = StressOptions(**{**opts.__dict__, "recorded": load_calls_file(calls_file, names)})
    findings_by_key = _lint_all(found)
    tools = _join(found, findings_by_key, stressed=stress)
    if stress:
        for diagnosis, live in tools:
            if live is None:
                continue

            def tick(phase: str, done: int, total: int, _name: str = diagnosis.name) -> None:
                if progress is not None:
                    progress(_name, phase, done, total)

            diagnosis.stress = stress_tool(live, opts, progress=tick)
    return DoctorReport(
        target=target,
        tools=[d for d, _ in tools],
        import_problems=found.import_problems,
        options=opts if stress else None,
        elapsed_s=time.monotonic() - started,
    )


def _lint_all(found: Discovery) -> dict[tuple[str, str], list[Finding]]:
    return lint_sites(found)


def _join(
    found: Discovery, findings: dict[tuple[str, str], list[Finding]], *, stressed: bool
) -> list[tuple[ToolDiagnosis, LiveTool | None]]:
    """One diagnosis per tool, matching source sites with imported tools by file and name."""
    live_by_key = {t.key: t for t in found.live if t.key is not None}
    missing = {str(p.path.resolve()): p for p in found.import_problems}
    joined: list[tuple[ToolDiagnosis, LiveTool | None]] = []
    used: set[int] = set()
    for site in found.sites:
        live = live_by_key.get(site.key)
        diagnosis = _diagnosis(site, live, findings.get(site.key, []))
        if live is not None:
            used.add(id(live))
        else:
            diagnosis.not_stressed = (
                _why_not_stressed(site, found, missing) if stressed else "not requested (lint only)"
            )
        joined.append((diagnosis, live))
    for live in found.live:
        if id(live) in used:
            continue
        diagnosis = ToolDiagnosis(
            name=live.name,
            label=live.label,
            framework=live.framework,
            path=_relative(live.path),
            line=live.line,
        )
        joined.append((diagnosis, live))
    return joined


def _diagnosis(site: ToolSite, live: LiveTool | None, findings: list[Finding]) -> ToolDiagnosis:
    return ToolDiagnosis(
        name=live.name if live else site.name,
        label=live.label if live else site.label,
        framework=(live.framework if live else None) or site.framework,
        path=_relative(site.path),
        line=site.line,
        findings=findings,
    )


def _why_not_stressed(site: ToolSite, found: Discovery, missing: dict[str, ImportProblem]) -> str:
    problem = missing.get(str(site.path.resolve()))
    if problem is not None:
        if problem.missing_framework:
            name = FRAMEWORK_LABELS.get(problem.missing_framework, problem.missing_framework)
            return (
                f"{name} is not installed, so it was not run (static checks only): "
                f"pip install {problem.missing_framework}"
            )
        return f"its file could not be imported: {problem.message}"
    reason = found.unrunnable.get(site.key)
    if reason:
        return reason
    return "not found after import (defined dynamically?)"


def _relative(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
