"""The doctor for MCP servers: lint each listed tool's schema, stress the safe ones, a verdict each.

An MCP server's tools have no source to read, only their definitions (name,
description, ``inputSchema``, ``annotations``): the static checks are the JSON-schema
rules (``rules.json_schema``, TS211-TS217). Stress is the doctor's own engine
(``stress.stress_tool``): each tool, as a toolsafe Tool whose calls go to the server
(built by the caller, e.g. with ``integrations.mcp_client``: the doctor layer does
not import integrations), is called serially, then concurrently on one event loop,
and the same checks compare the runs. The verdicts and reports are the doctor's.

Calling a tool can change the world, so by default only tools the server annotates
``readOnlyHint: true`` are called; ``select`` (``--tool NAME``) names the tools to
examine and call, ``all_tools`` calls every one. A tool that was not called is
``unchecked``, with the reason, and counts as not examined (exit 1): a clean report
means every tool was exercised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from toolsafe.doctor.arguments import load_calls_file
from toolsafe.doctor.live import LiveTool
from toolsafe.doctor.rules.json_schema import lint_definitions
from toolsafe.doctor.stress import StressOptions, StressResult, stress_tool
from toolsafe.doctor.verdict import DoctorReport, ToolDiagnosis, ToolProgress

__all__ = ["UnknownTools", "diagnose_mcp", "skip_reason"]


#: What ``toolsafe proxy`` sets to contain what a stress check observed.
_PROXY_FLAGS: dict[str, Callable[[StressOptions], str]] = {
    "ST03": lambda o: f"--timeout {o.timeout:g}",
    "ST04": lambda o: f"--max-output-chars {o.max_output_chars}",
}


class UnknownTools(ValueError):
    """``select`` names tools the server does not list (the message lists the real ones)."""


def skip_reason(definition: Mapping[str, Any], *, all_tools: bool) -> str | None:
    """Why the doctor will not call this tool by default (None: it will)."""
    if all_tools:
        return None
    hints = definition.get("annotations")
    hints = hints if isinstance(hints, Mapping) else {}
    if hints.get("readOnlyHint") is True:
        return None
    said = ", ".join(f"{k}: {str(v).lower()}" for k, v in hints.items() if k.endswith("Hint"))
    name = definition.get("name")
    return (
        "not called: it is not annotated readOnlyHint: true, so a call might change "
        f"something{f' ({said})' if said else ''}; --tool {name} or --all-tools calls it"
    )


def _label(definition: Mapping[str, Any]) -> str:
    hints = definition.get("annotations")
    hints = hints if isinstance(hints, Mapping) else {}
    if hints.get("readOnlyHint") is True:
        return "MCP tool, read-only"
    if hints.get("destructiveHint") is True:
        return "MCP tool, destructive"
    return "MCP tool"


def diagnose_mcp(
    target: str,
    definitions: Sequence[Mapping[str, Any]],
    tools: Mapping[str, Any],
    *,
    options: StressOptions | None = None,
    stress: bool = True,
    select: Sequence[str] = (),
    all_tools: bool = False,
    calls_file: Path | None = None,
    progress: ToolProgress | None = None,
    transport: str = "stdio",
    unbuildable: Mapping[str, str] | None = None,
    settle: Callable[[StressResult], str | None] | None = None,
) -> DoctorReport:
    """Lint every listed tool (or those in ``select``) and stress the ones it may call.

    ``definitions`` are the server's ``tools/list`` entries, ``tools`` the toolsafe
    Tools that call them (by name); a tool missing from ``tools`` is not stressed, for
    the reason in ``unbuildable``. ``settle(result)`` runs after each tool's stress,
    before the next one starts (a server blocked by a hung call must not make the next
    tool look hung); what it returns is noted on that tool. Raises ``UnknownTools`` for a ``select`` name the
    server does not list and ``ValueError`` for a bad calls file.
    """
    started = time.monotonic()
    names = [str(d.get("name", "")) for d in definitions]
    unknown = sorted(set(select) - set(names))
    if unknown:
        listed = ", ".join(names) or "(none)"
        raise UnknownTools(
            f"no tool named {', '.join(repr(n) for n in unknown)} on {target}; its tools are: "
            f"{listed}"
        )
    # MCP calls share one session and are awaited on one event loop: the concurrent
    # phase is asyncio whatever --mode says (threads would only wrap the same loop).
    opts = replace(options or StressOptions(), modes=("asyncio",))
    if calls_file is not None:
        opts = replace(opts, recorded=load_calls_file(calls_file, set(names)))
    findings = lint_definitions(definitions)
    report = DoctorReport(
        target=target, tools=[], import_problems=[], options=opts if stress else None
    )
    report.not_selected = [n for n in names if select and n not in select]
    for definition in definitions:
        name = str(definition.get("name", ""))
        if select and name not in select:
            continue
        diagnosis = ToolDiagnosis(
            name=name,
            label=_label(definition),
            framework="mcp",
            path=target,
            line=None,
            findings=list(findings.get(name, [])),
        )
        report.tools.append(diagnosis)
        if not stress:
            diagnosis.not_stressed = "not requested (lint only)"
            continue
        reason = None if select else skip_reason(definition, all_tools=all_tools)
        tool = tools.get(name)
        if reason is None and tool is None:
            reason = (unbuildable or {}).get(name) or "no callable tool could be made from it"
        if reason is not None:
            diagnosis.not_stressed = reason
            continue
        live = LiveTool(
            name=name,
            framework="mcp",
            label=diagnosis.label,
            obj=tool,
            schema=dict(getattr(tool, "json_schema", {}) or {}),
            runner=f"MCP tools/call over {transport}, one session",
            toolsafe_tool=tool,
        )

        def tick(phase: str, done: int, total: int, _name: str = name) -> None:
            if progress is not None:
                progress(_name, phase, done, total)

        diagnosis.stress = result = stress_tool(live, opts, progress=tick)
        said = settle(result) if settle is not None else None
        if said:
            result.notes.append(said)
        flags = [
            flag(opts)
            for check, flag in _PROXY_FLAGS.items()
            if any(p.id == check for p in result.problems)
        ]
        if flags:
            result.notes.append(
                f"without changing the server: toolsafe proxy {' '.join(flags)} -- COMMAND "
                "bounds every call it serves"
            )
    report.elapsed_s = time.monotonic() - started
    return report
