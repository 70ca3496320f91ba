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

from toolsafe.doctor.discover import discover
from toolsafe.doctor.rules import FAMILIES, RULES, Finding, LintContext, Rule
from toolsafe.doctor.rules.context import run_scope
from toolsafe.doctor.sites import ToolSite, find_sites
from toolsafe.doctor.sources import ModuleSource, parse_source

__all__ = ["RULES", "Finding", "Rule", "lint", "lint_module", "lint_source"]

_IGNORE = re.compile(r"#\s*toolsafe:\s*ignore(?:\[([A-Z0-9_,\s]+)\])?")


def lint(target: str) -> tuple[list[ToolSite], list[Finding]]:
    """Lint every tool in a file, folder or module; returns (tools found, findings)."""
    found = discover(target, live=False)
    findings: list[Finding] = []
    for mod in found.sources:
        sites = [s for s in found.sites if s.path == mod.path]
        findings.extend(lint_module(mod, sites))
    return found.sites, findings


def lint_source(source: str, filename: str = "<string>") -> list[Finding]:
    """Lint source text (handy in tests and editors)."""
    mod = parse_source(source, Path(filename))
    return lint_module(mod, find_sites(mod))


def lint_module(mod: ModuleSource, sites: list[ToolSite]) -> list[Finding]:
    """Run every rule family on every tool of one parsed module."""
    ctx = LintContext(mod)
    for site in sites:
        scope = run_scope(mod, site)
        for family in FAMILIES:
            family(ctx, site, scope)
    ignored = _ignored_lines(mod.source)
    kept = []
    for f in ctx.findings:
        rules = ignored.get(f.line)
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
