"""The doctor: lint plus stress per tool, joined into one verdict per tool.

Verdicts, worst first:

    broken     stress observed a failure (errors, hangs, leaked state, huge output)
    at-risk    static checks found problems that stress did not (or could not) observe
    unchecked  no problems found, but the tool was not exercised: stress could not run
               (framework missing, cannot instantiate, no arguments), or ran and no
               call succeeded, so nothing was compared; the reason is always given
    healthy    no problems found statically or under stress, and stress exercised it

A report says what it could not examine (``DoctorReport.unexamined``): files that
failed to import or parse, and tools left unchecked although stress was requested.
Its exit code (``toolsafe._exit_codes``) is 1 when problems were found or anything
could not be examined: a gate that passes on what it never checked proves nothing.
Static checks that did not run for a tool (its class lives outside the target, its
source cannot be read) are said so per tool (``ToolDiagnosis.static_checks``), never
shown as "no findings".
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

__all__ = ["VERDICTS", "DoctorReport", "ToolDiagnosis", "Unexamined", "diagnose"]

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
    #: Why static checks did not run on this tool (None: they ran, findings or not).
    static_checks: str | None = None
    #: Its file could not be imported (the report lists that once, for the file).
    import_failed: bool = False

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
        if self.unchecked_reason is not None:
            return "unchecked"
        return "healthy"

    @property
    def unchecked_reason(self) -> str | None:
        """Why stress did not exercise this tool (None: it did)."""
        if self.stress is None:
            return self.not_stressed or "not stressed"
        return self.stress.skipped or self.stress.unchecked

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
            "unchecked_reason": self.unchecked_reason if self.verdict == "unchecked" else None,
            "static_checks": "ran" if self.static_checks is None else self.static_checks,
        }


@dataclass(frozen=True)
class Unexamined:
    """Something the doctor could not examine: a file (import failed) or a tool (unchecked)."""

    what: str
    reason: str
    #: "file" or "tool".
    kind: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "what": self.what, "reason": self.reason}


@dataclass
class DoctorReport:
    target: str
    tools: list[ToolDiagnosis]
    import_problems: list[ImportProblem]
    options: StressOptions | None
    elapsed_s: float = 0.0
    #: Files examined in which no tool was found (listed, not an error: helpers exist).
    files_without_tools: list[str] = field(default_factory=list)
    #: Tools the target has that were left out on purpose (``--tool`` named others).
    not_selected: list[str] = field(default_factory=list)

    @property
    def stressed(self) -> bool:
        """Whether stress was requested (``options`` is None for lint only)."""
        return self.options is not None

    @property
    def failed_imports(self) -> list[ImportProblem]:
        """Files that failed to import for a reason other than a missing framework."""
        return [p for p in self.import_problems if p.missing_framework is None]

    @property
    def unexamined(self) -> list[Unexamined]:
        """Every file and tool the doctor could not examine, each once, with the reason.

        A file that failed to import is listed for the file; its tools are not listed
        again. A tool is listed when stress was requested and did not exercise it.
        """
        out = [
            Unexamined(
                _relative(p.path) or str(p.path),
                p.message
                + (
                    f" ({FRAMEWORK_LABELS.get(p.missing_framework, p.missing_framework)} is not "
                    f"installed: pip install {p.missing_framework})"
                    if p.missing_framework
                    else ""
                ),
                "file",
            )
            for p in self.import_problems
        ]
        if self.stressed:
            for tool in self.tools:
                reason = tool.unchecked_reason
                if tool.verdict == "unchecked" and reason and not tool.import_failed:
                    out.append(Unexamined(f"{tool.name} ({tool.location})", reason, "tool"))
        return out

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(VERDICTS, 0)
        for tool in self.tools:
            out[tool.verdict] += 1
        return out

    @property
    def problems_found(self) -> bool:
        """A tool is broken or at risk."""
        counts = self.counts
        return bool(counts["broken"] or counts["at-risk"])

    @property
    def complete(self) -> bool:
        """Everything in the target was examined."""
        return not self.unexamined

    @property
    def exit_code(self) -> int:
        """What ``toolsafe doctor`` exits with (the rule lives in ``toolsafe._exit_codes``)."""
        return for_findings(problems=self.problems_found, unexamined=not self.complete)

    def tool(self, name: str) -> ToolDiagnosis:
        """The first tool called ``name`` (StopIteration if there is none)."""
        return next(t for t in self.tools if t.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "summary": {**self.counts, "tools": len(self.tools)},
            "problems_found": self.problems_found,
            "complete": self.complete,
            "exit_code": self.exit_code,
            "unexamined": [u.to_dict() for u in self.unexamined],
            "files_without_tools": list(self.files_without_tools),
            "not_selected": list(self.not_selected),
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
        files_without_tools=_files_without_tools(found, live=stress),
    )


def _files_without_tools(found: Discovery, *, live: bool) -> list[str]:
    with_sites = {s.path.resolve() for s in found.sites} | found.files_with_sites
    failed = {p.path.resolve() for p in found.import_problems}
    no_live = {p.resolve() for p in found.no_live_tools}
    unrunnable = {Path(path) for path, _ in found.unrunnable}
    return [
        _relative(path) or str(path)
        for path in found.files
        if path.resolve() not in with_sites | failed | unrunnable
        and (not live or path.resolve() in no_live)
    ]


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
            diagnosis.import_failed = str(site.path.resolve()) in missing
        joined.append((diagnosis, live))
    sources = {mod.path.resolve() for mod in found.sources}
    for live in found.live:
        if id(live) in used:
            continue
        diagnosis = ToolDiagnosis(
            name=live.name,
            label=live.label,
            framework=live.framework,
            path=_relative(live.path),
            line=live.line,
            static_checks=_why_not_linted(live, sources),
        )
        joined.append((diagnosis, live))
    return joined


def _why_not_linted(live: LiveTool, sources: set[Path]) -> str:
    """Why a tool found only by importing has no static findings: lint never read it."""
    if live.path is None:
        return "did not run: its source code could not be found"
    if live.path.resolve() not in sources:
        return f"did not run: it is defined outside the target, in {_relative(live.path)}"
    return "did not run: static discovery did not recognise it as a tool"


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
        # The file's problem is reported once, for the file (DoctorReport.unexamined).
        if problem.missing_framework:
            name = FRAMEWORK_LABELS.get(problem.missing_framework, problem.missing_framework)
            return f"{name} is not installed, so it was not run (static checks only)"
        return "its file could not be imported, so it was not run (static checks only)"
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
