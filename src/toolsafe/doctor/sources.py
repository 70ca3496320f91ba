"""Source files and what their names refer to: the ground every static check stands on.

``source_files`` turns a target (a file, a folder, an importable module name) into
``.py`` files without importing anything; ``ModuleSource`` is one parsed file with
its imports resolved to dotted names, so rules can ask what ``Session`` means there.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from toolsafe.errors import ToolsafeError

__all__ = [
    "FRAMEWORKS",
    "FRAMEWORK_LABELS",
    "ModuleSource",
    "TargetNotFound",
    "module_name",
    "parse_module",
    "parse_source",
    "source_files",
]

#: Top-level package -> the framework name the doctor reports.
FRAMEWORKS = {
    "crewai": "crewai",
    "crewai_tools": "crewai",
    "langchain": "langchain",
    "langchain_core": "langchain",
    "langchain_community": "langchain",
    "toolsafe": "toolsafe",
}
FRAMEWORK_LABELS = {"crewai": "CrewAI", "langchain": "LangChain", "toolsafe": "toolsafe"}
_SKIP_DIRS = {".venv", "venv", "node_modules", "build", "dist", "site-packages"}


class TargetNotFound(ToolsafeError, LookupError):
    """The file, folder or module to examine does not exist or cannot be found."""


def source_files(target: str) -> list[Path]:
    """The ``.py`` files a target names: a file, a folder (recursively) or a module."""
    path = Path(target)
    if path.is_dir():
        return sorted(
            p
            for p in path.rglob("*.py")
            if not p.name.startswith("_")
            and not any(
                part.startswith((".", "__")) or part in _SKIP_DIRS
                for part in p.relative_to(path).parts[:-1]
            )
        )
    if path.suffix == ".py":
        if not path.is_file():
            raise TargetNotFound(f"no such file: {target}")
        return [path]
    if "/" in target or "\\" in target or path.exists():
        raise TargetNotFound(f"not a Python file, folder or module: {target}")
    try:
        spec = _find_spec(target)
    except (ImportError, ValueError) as exc:
        raise TargetNotFound(f"cannot find module '{target}': {exc}") from exc
    if spec is None:
        raise TargetNotFound(f"no such file, folder or module: {target}")
    if spec.submodule_search_locations:
        files: list[Path] = []
        for location in spec.submodule_search_locations:
            folder = Path(location)
            init = folder / "__init__.py"
            if init.is_file():
                files.append(init)
            files.extend(source_files(str(folder)))
        return files
    if spec.origin is None or not spec.origin.endswith(".py"):
        raise TargetNotFound(f"module '{target}' has no Python source to examine")
    return [Path(spec.origin)]


def _find_spec(target: str) -> importlib.machinery.ModuleSpec | None:
    """``find_spec`` without importing parent packages (``find_spec("a.b")`` imports ``a``):
    the top-level package is found, the rest is a path under it."""
    top, _, rest = target.partition(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not rest:
        return spec
    for location in spec.submodule_search_locations or []:
        base = Path(location).joinpath(*rest.split("."))
        if (base / "__init__.py").is_file():
            return importlib.util.spec_from_file_location(
                target, base / "__init__.py", submodule_search_locations=[str(base)]
            )
        if base.with_suffix(".py").is_file():
            return importlib.util.spec_from_file_location(target, base.with_suffix(".py"))
    return None


@dataclass
class ModuleSource:
    """One parsed source file and what its names refer to (from its imports)."""

    path: Path
    source: str
    tree: ast.Module
    imports: dict[str, str]
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]
    classes: dict[str, ast.ClassDef]
    assigns: dict[str, ast.expr]
    #: The dotted module name the file has on ``sys.path`` (from its package's ``__init__.py``
    #: files): ``crewai_tools.tools.serper_dev_tool.serper_dev_tool``.
    name: str = ""

    @property
    def package(self) -> str:
        """The package relative imports start from."""
        if self.path.name == "__init__.py":
            return self.name
        return self.name.rpartition(".")[0]

    def resolve(self, node: ast.AST | None) -> str | None:
        """The dotted name an expression refers to (``BaseTool`` -> ``crewai.tools.BaseTool``)."""
        if isinstance(node, ast.Name):
            return self.imports.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            return self.resolve(node.func)
        return None

    def framework_of(self, node: ast.AST | None) -> str | None:
        dotted = self.resolve(node)
        if not dotted:
            return None
        return FRAMEWORKS.get(dotted.split(".")[0])


def parse_module(path: Path) -> ModuleSource:
    """Parse a file (raises SyntaxError) and index its imports and top-level definitions."""
    return parse_source(path.read_text(encoding="utf-8", errors="replace"), path)


def module_name(path: Path) -> str:
    """``.../site-packages/pkg/sub/mod.py`` -> ``pkg.sub.mod`` (parents with ``__init__.py``)."""
    parts = [] if path.name == "__init__.py" else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts)


def parse_source(source: str, path: Path) -> ModuleSource:
    """Parse source text (raises SyntaxError) as if it were the file ``path``."""
    tree = ast.parse(source, filename=str(path))
    name = module_name(path) if path.is_file() else path.stem
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imports: dict[str, str] = {}
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    classes: dict[str, ast.ClassDef] = {}
    assigns: dict[str, ast.expr] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imports[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    imports[top] = top
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            if base is None:
                continue
            for alias in node.names:
                imports[alias.asname or alias.name] = f"{base}.{alias.name}"
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions[stmt.name] = stmt
        elif isinstance(stmt, ast.ClassDef):
            classes[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    assigns[target.id] = stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value:
            assigns[stmt.target.id] = stmt.value
    return ModuleSource(path, source, tree, imports, functions, classes, assigns, name)


def _absolute(node: ast.ImportFrom, package: str) -> str | None:
    """The absolute module of ``from .x import y`` (None when it climbs above the package)."""
    if node.level == 0:
        return node.module
    parts = package.split(".") if package else []
    if node.level - 1 > len(parts) or not package:
        return None
    base = parts[: len(parts) - (node.level - 1)]
    if node.module:
        base.append(node.module)
    return ".".join(base) or None
