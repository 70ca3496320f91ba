"""Static tool discovery: which definitions in a parsed module are tools, by syntax alone.

Recognises CrewAI ``BaseTool`` subclasses and ``@tool`` functions, LangChain tools,
toolsafe tools and plain public functions with type hints and a docstring, so it
works whether or not a framework is installed (``lint`` never imports the code).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from toolsafe.doctor.sources import ModuleSource

__all__ = ["RUN_METHODS", "ToolSite", "class_methods", "find_sites"]

#: Methods that hold a class-based tool's body (the "run scope" lint looks at).
RUN_METHODS = ("_run", "_arun", "run", "arun", "__call__")


@dataclass
class ToolSite:
    """A tool found in source code, without running it."""

    name: str
    qualname: str
    #: "class" (a class-based tool) or "function".
    shape: str
    framework: str | None
    path: Path
    line: int
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef = field(repr=False, compare=False)
    #: Wrapped by toolsafe with per-call copies, so writes on ``self`` do not leak.
    isolated: bool = False
    #: The args_schema class name given to the tool, if any.
    args_schema: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (str(self.path.resolve()), self.qualname)

    @property
    def label(self) -> str:
        if self.shape == "class":
            return {
                "crewai": "CrewAI BaseTool",
                "langchain": "LangChain BaseTool",
                "toolsafe": "toolsafe class-based tool",
            }.get(self.framework or "", "class-based tool")
        return {
            "crewai": "CrewAI @tool",
            "langchain": "LangChain tool",
            "toolsafe": "toolsafe tool",
        }.get(self.framework or "", "plain function")


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _class_attr(cls: ast.ClassDef, name: str) -> ast.expr | None:
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
                return stmt.value
        elif (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and stmt.target.id == name
        ):
            return stmt.value
    return None


def class_methods(cls: ast.ClassDef) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {s.name: s for s in cls.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _is_tool_decorator(mod: ModuleSource, deco: ast.expr) -> tuple[bool, str | None]:
    target = deco.func if isinstance(deco, ast.Call) else deco
    dotted = mod.resolve(target) or ""
    if dotted.split(".")[-1] != "tool":
        return False, None
    return True, mod.framework_of(target)


def _is_plain_tool_function(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    if fn.name.startswith("_") or fn.name == "main" or ast.get_docstring(fn) is None:
        return False
    returns = fn.returns
    if returns is None or (isinstance(returns, ast.Constant) and returns.value is None):
        return False
    params = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
    return all(p.annotation is not None for p in params)


def find_sites(mod: ModuleSource) -> list[ToolSite]:
    """Every tool defined in one module, recognised by syntax only."""
    sites: dict[str, ToolSite] = {}
    class_frameworks: dict[str, str | None] = {}
    for cls in mod.classes.values():
        framework: str | None = None
        is_tool = False
        for base in cls.bases:
            base_framework = mod.framework_of(base)
            base_name = (mod.resolve(base) or "").split(".")[-1]
            if base_framework and base_framework != "toolsafe":
                framework, is_tool = base_framework, is_tool or base_name.endswith("Tool")
            elif isinstance(base, ast.Name) and base.id in class_frameworks:
                framework, is_tool = class_frameworks[base.id], True
        methods = class_methods(cls)
        if any(m in methods for m in ("_run", "_arun")) or _class_attr(cls, "args_schema"):
            is_tool = True
        if not is_tool:
            continue
        class_frameworks[cls.name] = framework
        schema = _class_attr(cls, "args_schema")
        sites[cls.name] = ToolSite(
            name=_string(_class_attr(cls, "name")) or cls.name,
            qualname=cls.name,
            shape="class",
            framework=framework,
            path=mod.path,
            line=cls.lineno,
            node=cls,
            args_schema=schema.id if isinstance(schema, ast.Name) else None,
        )
    for fn in mod.functions.values():
        for deco in fn.decorator_list:
            ok, framework = _is_tool_decorator(mod, deco)
            if not ok:
                continue
            name = fn.name
            schema_name = None
            if isinstance(deco, ast.Call):
                name = next((s for s in map(_string, deco.args) if s), name)
                for kw in deco.keywords:
                    if kw.arg == "name" and _string(kw.value):
                        name = _string(kw.value) or name
                    if kw.arg == "args_schema" and isinstance(kw.value, ast.Name):
                        schema_name = kw.value.id
            sites[fn.name] = ToolSite(
                name=name,
                qualname=fn.name,
                shape="function",
                framework=framework,
                path=mod.path,
                line=fn.lineno,
                node=fn,
                args_schema=schema_name,
            )
            break
    _wrapped_at_module_level(mod, sites)
    for fn in mod.functions.values():
        if fn.name not in sites and _is_plain_tool_function(fn):
            sites[fn.name] = ToolSite(fn.name, fn.name, "function", None, mod.path, fn.lineno, fn)
    return sorted(sites.values(), key=lambda s: s.line)


def _wrapped_at_module_level(mod: ModuleSource, sites: dict[str, ToolSite]) -> None:
    """``toolsafe.tool(fn)``, ``tool(SearchTool())``, ``StructuredTool.from_function(fn)``."""
    for stmt in mod.tree.body:
        value = stmt.value if isinstance(stmt, (ast.Assign, ast.Expr, ast.AnnAssign)) else None
        if not isinstance(value, ast.Call):
            continue
        dotted = mod.resolve(value.func) or ""
        last = dotted.split(".")[-1]
        if last not in {"tool", "from_function", "from_object"}:
            continue
        framework = mod.framework_of(value.func)
        candidates = list(value.args[:1]) + [
            kw.value for kw in value.keywords if kw.arg in {"func", "coroutine", "obj"}
        ]
        shared = any(
            kw.arg == "isolation" and _string(kw.value) == "shared" for kw in value.keywords
        )
        name = next(
            (_string(kw.value) for kw in value.keywords if kw.arg == "name" and _string(kw.value)),
            None,
        )
        for arg in candidates:
            if isinstance(arg, ast.Name) and arg.id in mod.functions:
                fn = mod.functions[arg.id]
                sites[fn.name] = ToolSite(
                    name or fn.name, fn.name, "function", framework, mod.path, fn.lineno, fn
                )
            elif (
                isinstance(arg, ast.Call)
                and isinstance(arg.func, ast.Name)
                and arg.func.id in mod.classes
            ):
                cls = mod.classes[arg.func.id]
                previous = sites.get(cls.name)
                sites[cls.name] = ToolSite(
                    name=name or (previous.name if previous else cls.name),
                    qualname=cls.name,
                    shape="class",
                    framework=previous.framework if previous else framework,
                    path=mod.path,
                    line=cls.lineno,
                    node=cls,
                    isolated=framework == "toolsafe" and not shared,
                    args_schema=previous.args_schema if previous else None,
                )
