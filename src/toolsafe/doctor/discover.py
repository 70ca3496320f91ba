"""Find tools in a file, folder or module: statically (AST, nothing run) and live (imported).

Static discovery (``toolsafe.doctor.sites``) feeds ``lint``; live discovery
(``toolsafe.doctor.live``) imports each file and wraps its tools for ``stress``.
This module joins the two halves for one target and records what could not be
examined (``ImportProblem``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from toolsafe._importing import import_file
from toolsafe.doctor.index import SourceIndex
from toolsafe.doctor.live import LiveTool, live_tools
from toolsafe.doctor.sites import ToolSite, find_sites, not_tools_removed
from toolsafe.doctor.sources import (
    FRAMEWORK_LABELS,
    FRAMEWORKS,
    ModuleSource,
    TargetNotFound,
    parse_module,
    parse_source,
    source_files,
)

__all__ = [
    "FRAMEWORK_LABELS",
    "Discovery",
    "ImportProblem",
    "LiveTool",
    "ModuleSource",
    "TargetNotFound",
    "ToolSite",
    "discover",
    "parse_module",
    "parse_source",
    "source_files",
]


@dataclass
class ImportProblem:
    """A file that could not be imported (so only static checks ran on it)."""

    path: Path
    message: str
    #: The framework whose absence stopped the import, if that was the cause.
    missing_framework: str | None = None


@dataclass
class Discovery:
    target: str
    files: list[Path]
    sources: list[ModuleSource]
    sites: list[ToolSite]
    live: list[LiveTool]
    import_problems: list[ImportProblem]
    #: Tools found live that could not be prepared for stress (name -> reason).
    unrunnable: dict[tuple[str, str], str] = field(default_factory=dict)
    #: Where lint finds the source of imported names (shared by every tool of the target).
    index: SourceIndex = field(default_factory=SourceIndex)
    #: Files that imported but in which live discovery found no tool.
    no_live_tools: list[Path] = field(default_factory=list)
    #: Files in which lint found a tool, counting instances of a class defined in another
    #: file or an installed package (the site's own path is where the class lives).
    files_with_sites: set[Path] = field(default_factory=set)


def discover(target: str, *, live: bool = True, only: str | None = None) -> Discovery:
    """Find every tool in ``target``; with ``live``, import the code and wrap the tools.

    ``only`` keeps the tool with that name (or qualname). Raises ``TargetNotFound``.
    """
    found = _static(target, source_files(target))
    if live:
        _import_all(found)
    if only is not None:
        found.sites = [s for s in found.sites if only in (s.name, s.qualname)]
        found.live = [t for t in found.live if only in (t.name, t.qualname)]
    return found


def _static(target: str, files: list[Path]) -> Discovery:
    """Parse every file and find its tools by syntax; a file that does not parse is a problem."""
    found = Discovery(target, files, [], [], [], [])
    for path in files:
        try:
            mod = parse_module(path)
        except SyntaxError as exc:
            found.import_problems.append(
                ImportProblem(path, f"SyntaxError: {exc.msg} (line {exc.lineno})")
            )
            continue
        found.sources.append(mod)
        found.index.add_project(mod)
    sites: dict[tuple[str, str], ToolSite] = {}
    found_in: dict[tuple[str, str], set[Path]] = {}
    for mod in found.sources:
        for site in find_sites(mod, found.index):
            sites.setdefault(site.key, site)
            found_in.setdefault(site.key, set()).add(mod.path.resolve())
    found.sites = not_tools_removed(found.index, found.sources, list(sites.values()))
    for site in found.sites:
        found.files_with_sites |= found_in.get(site.key, set())
    return found


def _import_all(found: Discovery) -> None:
    """Import every file that parsed and collect its tools; record each import failure once."""
    broken = {p.path for p in found.import_problems}
    for path in found.files:
        if path in broken:
            continue
        try:
            module = import_file(path)
        except ModuleNotFoundError as exc:
            top = (exc.name or "").split(".")[0]
            found.import_problems.append(
                ImportProblem(path, f"{type(exc).__name__}: {exc}", FRAMEWORKS.get(top))
            )
            continue
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            found.import_problems.append(ImportProblem(path, f"{type(exc).__name__}: {exc}"))
            continue
        tools = list(live_tools(module, path, found.unrunnable))
        found.live.extend(tools)
        if not tools:
            found.no_live_tools.append(path)
