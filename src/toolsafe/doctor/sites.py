"""Static tool discovery: which definitions in a parsed module are tools, by syntax alone.

Recognises CrewAI ``BaseTool`` subclasses and ``@tool`` functions, LangChain tools,
toolsafe tools and plain public functions with type hints and a docstring, so it
works whether or not a framework is installed (``lint`` never imports the code).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from toolsafe.doctor.index import Definition, SourceIndex
from toolsafe.doctor.sources import ModuleSource

__all__ = [
    "RUN_METHODS",
    "ToolSite",
    "class_attr",
    "class_methods",
    "class_site",
    "find_sites",
    "not_tools_removed",
]

#: Methods that hold a class-based tool's body (the "run scope" lint looks at).
RUN_METHODS = ("_run", "_arun", "run", "arun", "__call__")
#: How many base classes up a tool class is looked for.
_MAX_BASE_DEPTH = 8


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
    #: A plain function recognised by its shape only (no decorator, no framework).
    plain: bool = False
    #: The toolsafe options the tool is wrapped with (``@toolsafe.tool(retry=3)``,
    #: ``toolsafe.tool(X(), idempotency_key=...)``, ``harden(x, ...)``): name -> expression.
    options: dict[str, ast.expr] = field(default_factory=dict, repr=False, compare=False)
    #: The module those option expressions are written in.
    options_mod: ModuleSource | None = field(default=None, repr=False, compare=False)

    def wrapped_with(self, mod: ModuleSource, call: ast.Call) -> None:
        """Record the options of a toolsafe call that wraps this tool."""
        self.options.update({k.arg: k.value for k in call.keywords if k.arg})
        self.options_mod = mod

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


def class_attr(cls: ast.ClassDef, name: str) -> ast.expr | None:
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


def find_sites(mod: ModuleSource, index: SourceIndex | None = None) -> list[ToolSite]:
    """Every tool defined (or created from an imported class) in one module, by syntax only.

    ``index`` finds the source of imported names: a class whose base is a tool class in
    another file is a tool, and ``search = SerperDevTool()`` is a tool whose code lives
    in the installed package.
    """
    if index is None:
        index = SourceIndex()
        index.add_project(mod)
    sites: dict[str, ToolSite] = {}
    for cls in mod.classes.values():
        site = class_site(index, Definition(mod, cls))
        if site is not None:
            sites[cls.name] = site
    for fn in mod.functions.values():
        site = _decorated_site(mod, fn)
        if site is not None:
            sites[fn.name] = site
    _wrapped_at_module_level(mod, index, sites)
    for fn in mod.functions.values():
        if fn.name not in sites and _is_plain_tool_function(fn):
            sites[fn.name] = ToolSite(
                fn.name, fn.name, "function", None, mod.path, fn.lineno, fn, plain=True
            )
    return sorted(sites.values(), key=lambda s: (str(s.path) != str(mod.path), s.line))


def class_site(index: SourceIndex, cls: Definition, name: str | None = None) -> ToolSite | None:
    """The tool a class is, or None (not a tool class, or abstract)."""
    assert isinstance(cls.node, ast.ClassDef)
    is_tool, framework = _tool_class(index, cls, 0)
    if not is_tool or _is_abstract(index, cls):
        return None
    schema = class_attr(cls.node, "args_schema")
    return ToolSite(
        name=name or _tool_name(index, cls) or cls.node.name,
        qualname=cls.node.name,
        shape="class",
        framework=framework,
        path=cls.mod.path,
        line=cls.node.lineno,
        node=cls.node,
        args_schema=schema.id if isinstance(schema, ast.Name) else None,
    )


def _tool_class(index: SourceIndex, cls: Definition, depth: int) -> tuple[bool, str | None]:
    """(is a tool class, its framework): a framework ``...Tool`` base, a tool base, or ``_run``."""
    assert isinstance(cls.node, ast.ClassDef)
    framework: str | None = None
    is_tool = False
    for base in cls.node.bases:
        base_framework = cls.mod.framework_of(base)
        base_name = (cls.mod.resolve(base) or "").split(".")[-1]
        if base_framework and base_framework != "toolsafe":
            framework = framework or base_framework
            is_tool = is_tool or base_name.endswith("Tool")
        if is_tool or depth >= _MAX_BASE_DEPTH:
            continue
        found = index.class_of(cls.mod, base)
        if found is not None and found.node is not cls.node:
            base_tool, inherited = _tool_class(index, found, depth + 1)
            if base_tool:
                is_tool, framework = True, framework or inherited
    methods = class_methods(cls.node)
    if any(m in methods for m in ("_run", "_arun")) or class_attr(cls.node, "args_schema"):
        is_tool = True
    return is_tool, framework


def _is_abstract(index: SourceIndex, cls: Definition) -> bool:
    """Declares abstract methods or derives from ``abc.ABC``: a base for tools, not a tool."""
    assert isinstance(cls.node, ast.ClassDef)
    for base in cls.node.bases:
        if (cls.mod.resolve(base) or "") in {"abc.ABC", "ABC"}:
            return True
    for stmt in cls.node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in stmt.decorator_list:
                if (cls.mod.resolve(deco) or "").split(".")[-1] == "abstractmethod":
                    return True
    return False


def _tool_name(index: SourceIndex, cls: Definition) -> str | None:
    """The ``name`` default of the class, or of the nearest base that sets one."""
    for item in index.mro(cls):
        assert isinstance(item.node, ast.ClassDef)
        name = _string(class_attr(item.node, "name"))
        if name:
            return name
    return None


def _decorated_site(
    mod: ModuleSource, fn: ast.FunctionDef | ast.AsyncFunctionDef
) -> ToolSite | None:
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
        site = ToolSite(
            name=name,
            qualname=fn.name,
            shape="function",
            framework=framework,
            path=mod.path,
            line=fn.lineno,
            node=fn,
            args_schema=schema_name,
        )
        if framework == "toolsafe" and isinstance(deco, ast.Call):
            site.wrapped_with(mod, deco)
        return site
    return None


def _module_level_calls(mod: ModuleSource) -> Iterator[ast.Call]:
    """Calls whose value a module keeps: ``x = f(...)``, ``f(...)``, ``tools = [A(), B()]``."""
    for stmt in mod.tree.body:
        value = stmt.value if isinstance(stmt, (ast.Assign, ast.Expr, ast.AnnAssign)) else None
        if isinstance(value, ast.Call):
            yield value
        elif isinstance(value, (ast.List, ast.Tuple)):
            yield from (e for e in value.elts if isinstance(e, ast.Call))


#: toolsafe functions that wrap one tool or a list of them with options in ``**policy``.
_WRAPPERS = frozenset({"harden", "to_crewai", "to_langchain", "to_openai_agents"})


def _wrapped_at_module_level(
    mod: ModuleSource, index: SourceIndex, sites: dict[str, ToolSite]
) -> None:
    """``toolsafe.tool(fn)``, ``tool(SearchTool())``, ``StructuredTool.from_function(fn)``,
    ``harden([SearchTool()], retry=3)``, and instances of tool classes imported from
    elsewhere (``search = SerperDevTool()``). The options of a toolsafe wrapper are kept
    on the site (``ToolSite.options``)."""
    for value in _module_level_calls(mod):
        dotted = mod.resolve(value.func) or ""
        last = dotted.split(".")[-1]
        framework = mod.framework_of(value.func)
        if last in _WRAPPERS and framework == "toolsafe":
            _wrapped_by_policy(mod, index, sites, value)
            continue
        if last not in {"tool", "from_function", "from_object"}:
            _instance(mod, index, sites, value)
            continue
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
            if isinstance(arg, ast.Name) and isinstance(mod.assigns.get(arg.id), ast.Call):
                arg = mod.assigns[arg.id]  # ``search = SearchTool()`` then ``tool(search)``
            found: ToolSite | None = None
            if isinstance(arg, ast.Name) and arg.id in mod.functions:
                fn = mod.functions[arg.id]
                found = sites[fn.name] = ToolSite(
                    name or fn.name, fn.name, "function", framework, mod.path, fn.lineno, fn
                )
            elif isinstance(arg, ast.Call):
                found = _instance(mod, index, sites, arg, name)
                if found is not None and framework == "toolsafe" and not shared:
                    found.isolated = True
                elif found is None and isinstance(arg.func, ast.Name):
                    cls = mod.classes.get(arg.func.id)
                    if cls is not None:  # a plain class wrapped by toolsafe.tool(...)
                        found = sites[cls.name] = ToolSite(
                            name=name or cls.name,
                            qualname=cls.name,
                            shape="class",
                            framework=framework,
                            path=mod.path,
                            line=cls.lineno,
                            node=cls,
                            isolated=framework == "toolsafe" and not shared,
                        )
            if found is not None and framework == "toolsafe":
                found.wrapped_with(mod, value)


def _wrapped_by_policy(
    mod: ModuleSource, index: SourceIndex, sites: dict[str, ToolSite], call: ast.Call
) -> None:
    """``harden(tool_or_tools, runtime, **policy)`` and its kin: the tools it is given (a
    function, an instance, a name bound to one, or a list of them) carry its options."""
    given = call.args[0] if call.args else None
    items = given.elts if isinstance(given, (ast.List, ast.Tuple)) else [given]
    for item in items:
        if isinstance(item, ast.Name) and isinstance(mod.assigns.get(item.id), ast.Call):
            item = mod.assigns[item.id]
        found: ToolSite | None = None
        if isinstance(item, ast.Name) and item.id in sites:
            found = sites[item.id]
        elif isinstance(item, ast.Name) and item.id in mod.functions:
            fn = mod.functions[item.id]
            found = sites[fn.name] = ToolSite(
                fn.name, fn.name, "function", "toolsafe", mod.path, fn.lineno, fn
            )
        elif isinstance(item, ast.Call):
            found = _instance(mod, index, sites, item)
        if found is not None:
            found.wrapped_with(mod, call)


def _instance(
    mod: ModuleSource,
    index: SourceIndex,
    sites: dict[str, ToolSite],
    call: ast.Call,
    name: str | None = None,
) -> ToolSite | None:
    """The site of ``SomeTool(...)`` when SomeTool is a tool class (here or imported)."""
    cls = index.class_of(mod, call.func)
    if cls is None:
        return None
    assert isinstance(cls.node, ast.ClassDef)
    local = cls.mod is mod or cls.mod.path == mod.path
    key = cls.node.name if local else f"{cls.mod.path}:{cls.node.name}"
    if key in sites:
        if name:
            sites[key].name = name
        return sites[key]
    given = next(
        (_string(kw.value) for kw in call.keywords if kw.arg == "name" and _string(kw.value)),
        None,
    )
    site = class_site(index, cls, name or given)
    if site is not None:
        sites[key] = site
    return site


def not_tools_removed(
    index: SourceIndex, sources: list[ModuleSource], sites: list[ToolSite]
) -> list[ToolSite]:
    """Drop what only looks like a tool: bases of other tools and helper functions.

    A class other tools derive from is their base, not a tool of its own, when it is
    named ``...Base...`` or has no ``name`` of its own (``BraveSearchToolBase``). A plain
    function (no decorator, no framework) is a helper when other code in the target
    calls it, or when it is part of an installed package: a package's tools are its
    framework tools, its typed functions serve them (``crewai_tools.security``).
    """
    classes = [s for s in sites if isinstance(s.node, ast.ClassDef)]
    ancestors: set[int] = set()
    for site in classes:
        mod = index.by_path(site.path)
        if mod is None:
            continue
        for base in index.mro(Definition(mod, site.node))[1:]:
            ancestors.add(id(base.node))
    called = _called_functions(index, sources) if any(s.plain for s in sites) else set()
    kept = []
    for site in sites:
        if (
            isinstance(site.node, ast.ClassDef)
            and id(site.node) in ancestors
            and ("Base" in site.qualname or _string(class_attr(site.node, "name")) is None)
        ):
            continue
        if site.plain and (id(site.node) in called or _installed(site.path)):
            continue
        kept.append(site)
    return kept


def _installed(path: Path) -> bool:
    return any(part in {"site-packages", "dist-packages"} for part in path.parts)


def _called_functions(index: SourceIndex, sources: list[ModuleSource]) -> set[int]:
    """ids of the function definitions some code in ``sources`` calls."""
    out: set[int] = set()
    for mod in sources:
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
                found = index.resolve(mod, node.func)
                if found is not None and not isinstance(found.node, ast.ClassDef):
                    out.add(id(found.node))
    return out
