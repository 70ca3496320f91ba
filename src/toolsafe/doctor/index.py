"""Find the source of a name wherever it lives, without importing anything.

Tools are rarely defined where they are used: ``app_tools.py`` creates
``SerperDevTool()``, whose class lives in an installed package; a LangChain tool's
body is one line calling ``self.api_wrapper.run(query)``, whose code lives in
``langchain_community.utilities``. ``SourceIndex`` maps dotted names to parsed
source files found on ``sys.path`` (and beside the files being linted), following
re-exports (``from .tools import SerperDevTool`` in a package's ``__init__.py``), so
the rules can read the code a call really runs.

``importlib.util.find_spec`` is not used for submodules on purpose: it imports
their parent packages, and lint promises to import nothing.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

from toolsafe.doctor.sources import ModuleSource, parse_module

__all__ = ["Definition", "SourceIndex"]

Func = ast.FunctionDef | ast.AsyncFunctionDef
#: How many re-exports (``from .x import Y`` in a package) a name may go through.
_MAX_REEXPORTS = 8


@dataclass(frozen=True)
class Definition:
    """A class or function definition and the module it is written in."""

    mod: ModuleSource
    node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef

    @property
    def qualname(self) -> str:
        return f"{self.mod.name}.{self.node.name}"


class SourceIndex:
    """Parsed modules by dotted name, loaded on first use and cached."""

    def __init__(self, roots: list[Path] | None = None) -> None:
        self._roots: list[Path] = list(roots or [])
        self._by_name: dict[str, ModuleSource | None] = {}
        self._by_path: dict[Path, ModuleSource] = {}
        #: Top-level names of the modules being linted: calls into them are followed.
        self.project_tops: set[str] = set()

    def add_project(self, mod: ModuleSource) -> None:
        """Register a module of the lint target (its package's code is followed)."""
        self.add(mod)
        if mod.name:
            self.project_tops.add(mod.name.split(".")[0])

    # ------------------------------------------------------------------ modules

    def add(self, mod: ModuleSource) -> None:
        """Register an already-parsed module (and its folder as a place to look for imports)."""
        self._by_path[mod.path.resolve()] = mod
        if mod.name:
            self._by_name.setdefault(mod.name, mod)
        top = mod.path.resolve().parent
        for _ in mod.name.split(".")[:-1]:
            top = top.parent
        if top not in self._roots:
            self._roots.append(top)

    def by_path(self, path: Path) -> ModuleSource | None:
        resolved = path.resolve()
        if resolved not in self._by_path:
            try:
                self.add(parse_module(resolved))
            except (OSError, SyntaxError, ValueError):
                return None
        return self._by_path.get(resolved)

    def module(self, name: str) -> ModuleSource | None:
        """The parsed module ``name`` (``a.b.c``), or None when it has no Python source."""
        if name in self._by_name:
            return self._by_name[name]
        found: ModuleSource | None = None
        for path in self._candidates(name):
            found = self.by_path(path)
            if found is not None:
                break
        self._by_name[name] = found
        return found

    def _candidates(self, name: str) -> list[Path]:
        parts = name.split(".")
        roots = [*self._roots, *(Path(p) for p in sys.path if p)]
        out: list[Path] = []
        for root in roots:
            base = root.joinpath(*parts)
            for path in (base.with_suffix(".py"), base / "__init__.py"):
                if path.is_file():
                    out.append(path)
        return out

    # ------------------------------------------------------------------ definitions

    def lookup(self, dotted: str, depth: int = 0) -> Definition | None:
        """The class or function ``dotted`` names (``pkg.mod.Name``), through re-exports."""
        if depth > _MAX_REEXPORTS or "." not in dotted:
            return None
        module_name, _, attr = dotted.rpartition(".")
        mod = self.module(module_name)
        if mod is None:
            # ``pkg.sub.Class.method`` or a name that is itself a module attribute chain
            return None
        node = mod.classes.get(attr) or mod.functions.get(attr)
        if node is not None:
            return Definition(mod, node)
        target = mod.imports.get(attr)
        if target and target != dotted:
            return self.lookup(target, depth + 1)
        return None

    def resolve(self, mod: ModuleSource, expr: ast.AST | None) -> Definition | None:
        """What a name or attribute in ``mod`` refers to, if it is a class or function."""
        if isinstance(expr, ast.Name):
            node = mod.classes.get(expr.id) or mod.functions.get(expr.id)
            if node is not None:
                return Definition(mod, node)
        dotted = mod.resolve(expr)
        if not dotted or dotted == getattr(expr, "id", None):
            return None
        return self.lookup(dotted)

    def class_of(self, mod: ModuleSource, expr: ast.AST | None) -> Definition | None:
        found = self.resolve(mod, expr)
        return found if found and isinstance(found.node, ast.ClassDef) else None

    def bases(self, cls: Definition) -> list[Definition]:
        """The class's base classes whose source can be found (direct bases, in order)."""
        assert isinstance(cls.node, ast.ClassDef)
        out = []
        for base in cls.node.bases:
            found = self.class_of(cls.mod, base)
            if found is not None and found.node is not cls.node:
                out.append(found)
        return out

    def mro(self, cls: Definition, stop: frozenset[str] = frozenset()) -> list[Definition]:
        """The class and its ancestors (depth first, each once), not entering ``stop`` packages."""
        out: list[Definition] = []
        todo = [cls]
        while todo:
            item = todo.pop(0)
            if any(item.node is seen.node for seen in out):
                continue
            if item is not cls and item.mod.name.split(".")[0] in stop:
                continue
            out.append(item)
            todo.extend(self.bases(item))
        return out
