"""Static checks: read tool source (AST only, nothing imported or run) for what breaks at scale.

Each rule targets one production failure: state shared between concurrent calls,
schemas that disagree with the code, network calls that can hang or hide HTTP
errors, swallowed exceptions, and files or database cursors shared between
threads. The catalogue is ``toolsafe.doctor.rules.catalogue``; the checks are one
module per family in ``toolsafe.doctor.rules``. Rules only look at a tool's *run
scope* (``rules.context.run_scope``).

Silence a finding with a comment on its line: ``# toolsafe: ignore`` or
``# toolsafe: ignore[TS101,TS301]``.
"""

from __future__ import annotations

import re
from pathlib import Path

from toolsafe.doctor.discover import Discovery, discover
from toolsafe.doctor.index import SourceIndex
from toolsafe.doctor.rules import FAMILIES, RULES, Finding, LintContext, Rule
from toolsafe.doctor.rules.context import run_scope
from toolsafe.doctor.sites import ToolSite, find_sites, not_tools_removed
from toolsafe.doctor.sources import ModuleSource, parse_source

__all__ = ["RULES", "Finding", "Rule", "lint", "lint_module", "lint_sites", "lint_source"]

_IGNORE = re.compile(r"#\s*toolsafe:\s*ignore(?:\[([A-Z0-9_,\s]+)\])?")


def lint(target: str) -> tuple[list[ToolSite], list[Finding]]:
    """Lint every tool in a file, folder or module; returns (tools found, findings)."""
    found = discover(target, live=False)
    findings: list[Finding] = []
    for by_tool in lint_sites(found).values():
        findings.extend(by_tool)
    findings.sort(key=lambda f: (f.path, f.line, f.rule))
    return found.sites, findings


def lint_sites(found: Discovery) -> dict[tuple[str, str], list[Finding]]:
    """Findings per tool (``ToolSite.key``) for the tools of a discovery."""
    index = found.index
    out: dict[tuple[str, str], list[Finding]] = {}
    for site in found.sites:
        home = index.by_path(site.path)
        if home is not None:
            out[site.key] = lint_module(home, [site], index=index)
    return out


def lint_source(source: str, filename: str = "<string>") -> list[Finding]:
    """Lint source text (handy in tests and editors)."""
    mod = parse_source(source, Path(filename))
    index = SourceIndex()
    index.add_project(mod)
    sites = not_tools_removed(index, [mod], find_sites(mod, index))
    return lint_module(mod, sites, index=index)


def lint_module(
    mod: ModuleSource, sites: list[ToolSite], *, index: SourceIndex | None = None
) -> list[Finding]:
    """Run every rule family on the given tools of one parsed module (and what they call)."""
    if index is None:
        index = SourceIndex()
        index.add_project(mod)
    ctx = LintContext(mod, index)
    for site in sites:
        scope = run_scope(index, mod, site)
        for family in FAMILIES:
            family(ctx, site, scope)
    ignored: dict[str, dict[int, set[str]]] = {}
    kept = []
    for f in ctx.findings:
        if f.path not in ignored:
            source = index.by_path(Path(f.path))
            ignored[f.path] = _ignored_lines(source.source if source else mod.source)
        rules = ignored[f.path].get(f.line)
        if rules is not None and (not rules or f.rule in rules):
            continue
        kept.append(f)
    kept.sort(key=lambda f: (f.path, f.line, f.rule))
    return kept


def _ignored_lines(source: str) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for number, text in enumerate(source.splitlines(), start=1):
        match = _IGNORE.search(text)
        if match:
            rules = match.group(1)
            out[number] = {r.strip() for r in rules.split(",") if r.strip()} if rules else set()
    return out
