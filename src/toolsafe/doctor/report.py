"""Render doctor results: a rich terminal report, JSON for machines, HTML (inline SVG plots).

Rendering only: nothing here runs tools or decides verdicts. Terminal output goes
to a ``rich.console.Console`` the caller owns (the CLI), so the library never prints.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from toolsafe._terminal import printable
from toolsafe.doctor.lint import Finding
from toolsafe.doctor.stress import PhaseResult, StressResult
from toolsafe.doctor.verdict import VERDICTS, DoctorReport, ToolDiagnosis

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "errors_svg",
    "latency_svg",
    "markup_text",
    "outcome",
    "print_findings",
    "print_report",
    "print_stress",
    "print_unexamined",
    "to_html",
    "to_json",
]

_VERDICT_STYLE = {
    "broken": ("✗", "bold red", "BROKEN"),
    "at-risk": ("!", "bold yellow", "AT RISK"),
    "unchecked": ("?", "bold blue", "UNCHECKED"),
    "healthy": ("✓", "bold green", "HEALTHY"),
}
_SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "dim"}
_PHASE_COLORS = {"serial": "#4c78a8", "threads": "#e45756", "asyncio": "#f58518"}
_EVIDENCE = 110


def _clip(text: str, limit: int = _EVIDENCE) -> str:
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markup_text(text: str) -> str:
    """Text from the examined code (names, messages, evidence) for a rich markup string:
    control characters shown as escapes, markup shown as text."""
    from rich.markup import escape

    return escape(printable(text))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _ms(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 10:
        return f"{value:.0f} ms"
    return f"{value:.1f} ms"


def _size(chars: int) -> str:
    if chars >= 1_000_000:
        return f"{chars / 1_000_000:.1f} M"
    if chars >= 10_000:
        return f"{chars / 1000:.0f} k"
    return str(chars)


# --------------------------------------------------------------------------- terminal


def print_findings(
    console: Console, findings: Sequence[Finding], *, explained: set[str] | None = None
) -> None:
    """One block per finding: location, rule, message; then the fix (and, the first time a
    rule appears, why it breaks at scale). ``explained`` carries rules already explained."""
    explained = set() if explained is None else explained
    for f in findings:
        style = _SEVERITY_STYLE.get(f.severity, "")
        tool = f" [dim]({markup_text(f.tool)})[/]" if f.tool else ""
        console.print(
            f"  [{style}]{f.rule}[/] [bold]{markup_text(f.location)}[/] "
            f"[{style}]{f.name}[/]{tool}\n    {markup_text(f.message)}",
            highlight=False,
        )
        if f.severity == "info":
            continue
        if f.rule not in explained:
            explained.add(f.rule)
            console.print(f"    [dim]why:[/] {markup_text(f.why)}", highlight=False)
        console.print(f"    [dim]fix:[/] {markup_text(f.fix)}", highlight=False)


def print_stress(console: Console, result: StressResult) -> None:
    """The phases table, then what stress observed (with evidence and the fix)."""
    from rich.table import Table

    if result.skipped:
        console.print(f"  [blue]stress skipped:[/] {markup_text(result.skipped)}", highlight=False)
        return
    console.print(
        f"  [dim]stress: {len(result.arguments)} argument sets from {result.argument_source}, "
        f"called via {markup_text(result.runner)}[/]",
        highlight=False,
    )
    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False)
    for column in ("phase", "calls", "p50", "p95", "p99", "output", "errors"):
        table.add_column(
            column,
            justify="left" if column in {"phase", "errors"} else "right",
            no_wrap=column != "errors",
            overflow="fold",
        )
    for phase in result.phases:
        errors = ", ".join(f"{k}×{v}" for k, v in phase.errors.most_common()) or "-"
        name = phase.name if phase.concurrency == 1 else f"{phase.name} ×{phase.concurrency}"
        calls = f"{len(phase.records)}/{phase.planned}"
        table.add_row(
            name,
            calls,
            _ms(phase.p(50)),
            _ms(phase.p(95)),
            _ms(phase.p(99)),
            _size(phase.max_size),
            markup_text(_clip(errors, 60)),
        )
    from rich.padding import Padding

    console.print(Padding(table, (0, 0, 0, 4)))
    for phase in result.phases:
        if phase.stopped:
            console.print(f"    [dim]{phase.name} stopped early: {markup_text(phase.stopped)}[/]")
    for problem in result.problems:
        style = _SEVERITY_STYLE.get(problem.severity, "")
        console.print(
            f"  [{style}]{problem.id} {problem.name}[/]: {markup_text(problem.message)}",
            highlight=False,
        )
        for item in problem.evidence:
            console.print(f"    [dim]•[/] {markup_text(_clip(item))}", highlight=False)
        console.print(f"    [dim]fix:[/] {markup_text(problem.fix)}", highlight=False)
    for note in result.notes:
        console.print(f"  [dim]note: {markup_text(note)}[/]", highlight=False)


def _print_tool(console: Console, tool: ToolDiagnosis, explained: set[str]) -> None:
    mark, style, word = _VERDICT_STYLE[tool.verdict]
    console.print()
    console.print(
        f"[{style}]{mark} {markup_text(tool.name)}[/]  [{style}]{word}[/]  "
        f"[dim]{markup_text(tool.label)} · {markup_text(tool.location)}[/]",
        highlight=False,
    )
    if tool.static_checks is not None:
        console.print(
            f"  [blue]static checks:[/] {markup_text(tool.static_checks)}", highlight=False
        )
    elif tool.findings:
        print_findings(console, tool.findings, explained=explained)
    else:
        console.print("  [green]static checks: no findings[/]")
    if tool.stress is not None:
        print_stress(console, tool.stress)
        if tool.stress.unchecked and tool.verdict == "unchecked":
            console.print(
                f"  [blue]unchecked:[/] {markup_text(tool.stress.unchecked)}", highlight=False
            )
    elif tool.not_stressed:
        console.print(f"  [blue]not stressed:[/] {markup_text(tool.not_stressed)}", highlight=False)


def print_unexamined(console: Console, report: DoctorReport) -> None:
    """What could not be examined (each file or tool once, with the reason), then the files
    in which no tool was found. Every command that examines a target prints this."""
    unexamined = report.unexamined
    if unexamined:
        console.print(f"\n[yellow]could not be examined ({len(unexamined)}):[/]")
        for item in unexamined:
            # A tool's reason is printed in its own section; a file has no section.
            reason = (
                "unchecked (the reason is in its section)" if item.kind == "tool" else item.reason
            )
            console.print(f"  {markup_text(item.what)}: {markup_text(reason)}", highlight=False)
    if report.files_without_tools:
        names = ", ".join(report.files_without_tools)
        console.print(f"\n[dim]no tools found in: {markup_text(names)}[/]", highlight=False)
    if report.not_selected:
        names = ", ".join(report.not_selected)
        console.print(
            f"\n[dim]not examined (other tools were selected): {markup_text(names)}[/]",
            highlight=False,
        )


def outcome(report: DoctorReport) -> str:
    """The last words of a report: what was found and the exit code, as rich markup."""
    code = report.exit_code
    if report.problems_found:
        return f"[bold red]problems found[/] (exit {code})"
    if not report.complete:
        return f"[bold yellow]not everything could be examined[/] (exit {code})"
    return f"[bold green]no problems found[/] (exit {code})"


def print_report(console: Console, report: DoctorReport) -> None:
    """The whole doctor report: one section per tool, what could not be examined, then the
    summary and verdict."""
    console.print(
        f"[bold]toolsafe doctor[/] {markup_text(report.target)} · {_plural(len(report.tools), 'tool')}",
        highlight=False,
    )
    explained: set[str] = set()
    for tool in report.tools:
        _print_tool(console, tool, explained)
    print_unexamined(console, report)
    counts = report.counts
    parts = [
        f"[{_VERDICT_STYLE[v][1]}]{counts[v]} {v}[/]"
        for v in VERDICTS
        if counts[v] or v == "broken"
    ]
    console.print()
    console.print(
        f"{_plural(len(report.tools), 'tool')}: {', '.join(parts)} · {report.elapsed_s:.1f} s · "
        f"{outcome(report)}",
        highlight=False,
    )


# --------------------------------------------------------------------------- JSON


def to_json(report: DoctorReport, *, indent: int | None = 2) -> str:
    return json.dumps(report.to_dict(), indent=indent, ensure_ascii=False, default=str)


# --------------------------------------------------------------------------- SVG plots


def latency_svg(phases: Sequence[PhaseResult], *, width: int = 620) -> str:
    """Every call's latency, one row per phase, on a log scale; ticks mark p50 and p95."""
    rows = [p for p in phases if p.records]
    if not rows:
        return ""
    values = [v for p in rows for v in p.latencies]
    low = max(min(values), 0.01)
    high = max(max(values), low * 10)
    left, right, row_h, top = 78, 16, 38, 10
    plot_w = width - left - right
    height = top + row_h * len(rows) + 30
    lo_log, hi_log = math.log10(low), math.log10(high)

    def x(value: float) -> float:
        pos = (math.log10(max(value, low)) - lo_log) / (hi_log - lo_log)
        return left + pos * plot_w

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="latency per call">'
    ]
    for i, phase in enumerate(rows):
        y = top + i * row_h + row_h / 2
        color = _PHASE_COLORS.get(phase.name, "#54a24b")
        out.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" class="lbl">'
            f"{html.escape(phase.name)}</text>"
        )
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        for n, record in enumerate(phase.records):
            jitter = ((n * 37) % 13 - 6) * 1.1
            fill = color if record.ok else "#222"
            out.append(
                f'<circle cx="{x(record.elapsed_ms):.1f}" cy="{y + jitter:.1f}" r="3" '
                f'fill="{fill}" fill-opacity="0.55"><title>{_ms(record.elapsed_ms)}'
                f"{'' if record.ok else ' ' + html.escape(record.error_type or 'error')}"
                "</title></circle>"
            )
        for q, dash in ((50, ""), (95, ' stroke-dasharray="3,2"')):
            px = x(phase.p(q))
            out.append(
                f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y - 13:.1f}" y2="{y + 13:.1f}" '
                f'stroke="{color}" stroke-width="2"{dash}><title>p{q} {_ms(phase.p(q))}'
                "</title></line>"
            )
    axis_y = top + row_h * len(rows) + 6
    out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{axis_y}" y2="{axis_y}" class="axis"/>')
    decade = math.floor(lo_log)
    while decade <= math.ceil(hi_log):
        value = 10.0**decade
        if low <= value <= high:
            px = x(value)
            out.append(
                f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{axis_y}" y2="{axis_y + 4}" class="axis"/>'
                f'<text x="{px:.1f}" y="{axis_y + 16}" text-anchor="middle" class="tick">'
                f"{_ms(value)}</text>"
            )
        decade += 1
    out.append("</svg>")
    return "".join(out)


def errors_svg(phases: Sequence[PhaseResult], *, width: int = 620) -> str:
    """Horizontal bars: how many calls failed with each error type, per phase."""
    bars = [(p.name, kind, count) for p in phases for kind, count in p.errors.most_common()]
    if not bars:
        return ""
    left, right, bar_h, top = 230, 50, 20, 6
    plot_w = width - left - right
    height = top + len(bars) * (bar_h + 6) + 6
    biggest = max(count for *_, count in bars)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="errors by type">'
    ]
    for i, (phase, kind, count) in enumerate(bars):
        y = top + i * (bar_h + 6)
        w = max(2.0, plot_w * count / biggest)
        color = _PHASE_COLORS.get(phase, "#54a24b")
        label = html.escape(_clip(f"{phase}: {kind}", 34))
        out.append(
            f'<text x="{left - 8}" y="{y + bar_h - 6}" text-anchor="end" class="lbl">{label}</text>'
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}" rx="2"/>'
            f'<text x="{left + w + 6:.1f}" y="{y + bar_h - 6}" class="lbl">{count}</text>'
        )
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:980px;
color:#1d1d1f;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin:0}
.sub{color:#666} .tool{border:1px solid #ddd;border-radius:8px;padding:1rem 1.2rem;margin:1.2rem 0}
.head{display:flex;gap:.8rem;align-items:baseline;flex-wrap:wrap}
.badge{font-weight:700;border-radius:4px;padding:.05rem .45rem;color:#fff;font-size:.8rem}
.broken{background:#c62828}.at-risk{background:#b7791f}.unchecked{background:#2b6cb0}
.healthy{background:#2f855a}
table{border-collapse:collapse;margin:.5rem 0} td,th{padding:.2rem .7rem;text-align:left;
border-bottom:1px solid #eee;vertical-align:top} th{font-weight:600;color:#555}
code{background:#f4f4f4;border-radius:3px;padding:0 .25rem;font-size:.92em}
.error{color:#c62828}.warning{color:#b7791f}.info{color:#777}
.why{color:#555;font-size:.92em} ul{margin:.3rem 0 .3rem 1.1rem;padding:0}
svg .lbl{font:12px system-ui,sans-serif;fill:#333} svg .tick{font:11px system-ui,sans-serif;
fill:#666} svg .grid{stroke:#eee} svg .axis{stroke:#999}
.legend span{display:inline-block;margin-right:1rem;font-size:.85em}
.legend i{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:.3rem}
"""


def to_html(report: DoctorReport) -> str:
    """A self-contained HTML page: summary, then per tool its findings, stress and plots."""
    e = html.escape
    counts = report.counts
    summary = " · ".join(f"{counts[v]} {v}" for v in VERDICTS)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>toolsafe doctor: {e(report.target)}</title><style>{_CSS}</style></head><body>",
        f"<h1>toolsafe doctor: <code>{e(report.target)}</code></h1>",
        f"<p class='sub'>{len(report.tools)} tools: {summary} · {report.elapsed_s:.1f} s · "
        + (
            "<b class='error'>problems found</b>"
            if report.problems_found
            else "<b class='warning'>not everything could be examined</b>"
            if not report.complete
            else "no problems found"
        )
        + "</p>",
    ]
    if report.options is not None:
        o = report.options
        parts.append(
            f"<p class='sub'>stress: {o.distinct} argument sets per tool, {o.calls} calls per "
            f"concurrent phase at concurrency {o.concurrency}, timeout {o.timeout:g} s, output "
            f"budget {o.max_output_chars:,} characters.</p>"
        )
    legend = "".join(
        f"<span><i style='background:{c}'></i>{n}</span>" for n, c in _PHASE_COLORS.items()
    )
    for tool in report.tools:
        parts.append(_tool_html(tool, legend))
    unexamined = report.unexamined
    if unexamined:
        parts.append(f"<h2 class='warning'>Could not be examined ({len(unexamined)})</h2><ul>")
        parts.extend(
            f"<li><code>{e(item.what)}</code>: {e(item.reason)}</li>" for item in unexamined
        )
        parts.append("</ul>")
    if report.files_without_tools:
        parts.append(
            "<p class='sub'>No tools found in: "
            + ", ".join(f"<code>{e(f)}</code>" for f in report.files_without_tools)
            + "</p>"
        )
    if report.not_selected:
        parts.append(
            "<p class='sub'>Not examined (other tools were selected): "
            + ", ".join(f"<code>{e(n)}</code>" for n in report.not_selected)
            + "</p>"
        )
    parts.append("</body></html>")
    return "".join(parts)


def _tool_html(tool: ToolDiagnosis, legend: str) -> str:
    e = html.escape
    out = [
        "<section class='tool'><div class='head'>",
        f"<h2>{e(tool.name)}</h2><span class='badge {tool.verdict}'>{tool.verdict}</span>",
        f"<span class='sub'>{e(tool.label)} · <code>{e(tool.location)}</code></span></div>",
    ]
    if tool.findings:
        out.append("<h3>Static checks</h3><table><tr><th>rule</th><th>where</th><th>what</th></tr>")
        for f in tool.findings:
            out.append(
                f"<tr><td class='{f.severity}'>{f.rule}<br><small>{f.name}</small></td>"
                f"<td><code>{e(f.location)}</code></td><td>{e(f.message)}"
                f"<div class='why'>Why: {e(f.why)}<br>Fix: {e(f.fix)}</div></td></tr>"
            )
        out.append("</table>")
    elif tool.static_checks is None:
        out.append("<p>Static checks: no findings.</p>")
    if tool.static_checks is not None:
        out.append(f"<p class='sub'>Static checks: {e(tool.static_checks)}</p>")
    stress = tool.stress
    if stress is None:
        if tool.not_stressed:
            out.append(f"<p class='sub'>Not stressed: {e(tool.not_stressed)}</p>")
        out.append("</section>")
        return "".join(out)
    if stress.skipped:
        out.append(f"<p class='sub'>Stress skipped: {e(stress.skipped)}</p></section>")
        return "".join(out)
    if stress.unchecked:
        out.append(f"<p class='sub'>Unchecked: {e(stress.unchecked)}</p>")
    out.append(
        f"<h3>Stress</h3><p class='sub'>{len(stress.arguments)} argument sets from "
        f"{e(stress.argument_source)}, called via {e(stress.runner)}.</p>"
        "<table><tr><th>phase</th><th>calls</th><th>errors</th><th>p50</th><th>p95</th>"
        "<th>p99</th><th>largest output</th></tr>"
    )
    for phase in stress.phases:
        errors = ", ".join(f"{e(k)} ×{v}" for k, v in phase.errors.most_common()) or "-"
        out.append(
            f"<tr><td>{e(phase.name)} ×{phase.concurrency}</td>"
            f"<td>{len(phase.records)}/{phase.planned}</td><td>{errors}</td>"
            f"<td>{_ms(phase.p(50))}</td><td>{_ms(phase.p(95))}</td><td>{_ms(phase.p(99))}</td>"
            f"<td>{phase.max_size:,}</td></tr>"
        )
    out.append("</table>")
    if stress.problems:
        out.append("<ul>")
        for problem in stress.problems:
            evidence = "".join(
                f"<li><code>{e(_clip(x, 200))}</code></li>" for x in problem.evidence
            )
            out.append(
                f"<li><b class='{problem.severity}'>{problem.id} {problem.name}</b>: "
                f"{e(problem.message)}<ul>{evidence}</ul>"
                f"<div class='why'>Why: {e(problem.why)}<br>Fix: {e(problem.fix)}"
                "</div></li>"
            )
        out.append("</ul>")
    latency = latency_svg(stress.phases)
    if latency:
        out.append(
            "<h4>Latency per call (log scale; solid tick p50, dashed p95; dark dots failed)</h4>"
            f"<div class='legend'>{legend}</div>{latency}"
        )
    errors_plot = errors_svg(stress.phases)
    if errors_plot:
        out.append(f"<h4>Errors by type</h4>{errors_plot}")
    for note in stress.notes:
        out.append(f"<p class='sub'>Note: {e(note)}</p>")
    out.append("</section>")
    return "".join(out)
