"""Find tools in a file, folder or module: statically (AST, nothing run) and live (imported).

Static discovery feeds ``lint``: it recognises CrewAI ``BaseTool`` subclasses and
``@tool`` functions, LangChain tools, toolsafe tools and plain public functions with
type hints and a docstring by their syntax alone, so it works whether or not a
framework is installed. Live discovery imports the code and wraps every tool so that
``stress`` calls it the way its framework would (CrewAI ``tool.run``, LangChain
``tool.invoke``, a toolsafe runtime, or the plain function) on one shared instance,
because that is what frameworks do in production.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from toolsafe._importing import import_file
from toolsafe.errors import ToolsafeError

__all__ = [
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
#: Methods that hold a class-based tool's body (the "run scope" lint looks at).
RUN_METHODS = ("_run", "_arun", "run", "arun", "__call__")
_SKIP_DIRS = {".venv", "venv", "node_modules", "build", "dist", "site-packages"}


class TargetNotFound(ToolsafeError, LookupError):
    """The file, folder or module to examine does not exist or cannot be found."""


# --------------------------------------------------------------------------- sources


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
        spec = importlib.util.find_spec(target)
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


def parse_source(source: str, path: Path) -> ModuleSource:
    """Parse source text (raises SyntaxError) as if it were the file ``path``."""
    tree = ast.parse(source, filename=str(path))
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
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
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
    return ModuleSource(path, source, tree, imports, functions, classes, assigns)


# --------------------------------------------------------------------------- static discovery


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


# --------------------------------------------------------------------------- live discovery


@dataclass
class LiveTool:
    """An imported tool, with entry points that call it as its framework would."""

    name: str
    framework: str | None
    label: str
    obj: Any = field(repr=False)
    schema: dict[str, Any] = field(repr=False)
    #: How stress calls it, for the report (``tool.run(**args)``).
    runner: str
    call: Callable[[dict[str, Any]], Any] | None = field(default=None, repr=False)
    acall: Callable[[dict[str, Any]], Awaitable[Any]] | None = field(default=None, repr=False)
    #: Set when the tool is a toolsafe Tool: stress runs it with its own options.
    toolsafe_tool: Any = field(default=None, repr=False)
    path: Path | None = None
    qualname: str | None = None
    line: int | None = None

    @property
    def key(self) -> tuple[str, str] | None:
        if self.path is None or self.qualname is None:
            return None
        return (str(self.path.resolve()), self.qualname)


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


def discover(target: str, *, live: bool = True, only: str | None = None) -> Discovery:
    """Find every tool in ``target``; with ``live``, import the code and wrap the tools.

    ``only`` keeps the tool with that name (or qualname). Raises ``TargetNotFound``.
    """
    files = source_files(target)
    sources: list[ModuleSource] = []
    sites: list[ToolSite] = []
    problems: list[ImportProblem] = []
    for path in files:
        try:
            mod = parse_module(path)
        except SyntaxError as exc:
            problems.append(ImportProblem(path, f"SyntaxError: {exc.msg} (line {exc.lineno})"))
            continue
        sources.append(mod)
        sites.extend(find_sites(mod))
    found = Discovery(target, files, sources, sites, [], problems)
    if live:
        broken = {p.path for p in problems}
        for path in files:
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
            for item in _live_tools(module, path, found.unrunnable):
                found.live.append(item)
    if only is not None:
        found.sites = [s for s in found.sites if only in (s.name, s.qualname)]
        found.live = [t for t in found.live if only in (t.name, t.qualname)]
    return found


def framework_of_object(obj: Any) -> str | None:
    """crewai / langchain / toolsafe, from the object's class hierarchy (nothing imported)."""
    for klass in type(obj).__mro__:
        framework = FRAMEWORKS.get(klass.__module__.split(".")[0])
        if framework:
            return framework
    return None


def _framework_of_class(cls: type) -> str | None:
    for klass in cls.__mro__[1:]:
        framework = FRAMEWORKS.get(klass.__module__.split(".")[0])
        if framework and framework != "toolsafe":
            return framework
    return None


def _source_of(obj: Any) -> tuple[Path | None, str | None, int | None]:
    target = inspect.unwrap(obj) if callable(obj) else obj
    try:
        file = inspect.getsourcefile(target)
        line = inspect.getsourcelines(target)[1]
    except (OSError, TypeError):
        return None, getattr(target, "__qualname__", None), None
    return (Path(file) if file else None), getattr(target, "__qualname__", None), line


def _defined_in(obj: Any, module: ModuleType) -> bool:
    return getattr(obj, "__module__", None) == module.__name__


def _live_tools(
    module: ModuleType, path: Path, unrunnable: dict[tuple[str, str], str]
) -> Iterator[LiveTool]:
    from toolsafe._tool import Tool

    seen: set[tuple[str, str] | int] = set()
    members = list(vars(module).items())
    instance_types = {type(v) for _, v in members if not isinstance(v, type)}
    wrapped_types = {
        type(v.instance) for _, v in members if isinstance(v, Tool) and v.instance is not None
    }
    wrapped_fns = {v.fn for _, v in members if isinstance(v, Tool) and v.fn is not None}
    ordered = sorted(members, key=lambda kv: not isinstance(kv[1], Tool))
    for attr, value in ordered:
        made: LiveTool | None = None
        try:
            if isinstance(value, Tool):
                made = _from_toolsafe(value)
            elif isinstance(value, type):
                if not _defined_in(value, module) or value in instance_types | wrapped_types:
                    continue
                framework = _framework_of_class(value)
                if framework is None and not any(hasattr(value, m) for m in ("_run", "_arun")):
                    continue
                if inspect.isabstract(value) or attr.startswith("_"):
                    continue
                _, qualname, _ = _source_of(value)
                try:
                    instance = value()
                except Exception as exc:
                    unrunnable[(str(path.resolve()), qualname or attr)] = (
                        f"cannot create {value.__name__}() without arguments: {exc}"
                    )
                    continue
                made = _from_object(instance)
            elif framework_of_object(value) in {"crewai", "langchain"}:
                made = _from_object(value)
            elif inspect.isfunction(value) or inspect.iscoroutinefunction(value):
                if not _defined_in(value, module) or value in wrapped_fns:
                    continue
                if not _looks_like_tool_function(value):
                    continue
                made = _from_function(value)
            elif not callable(value) and any(hasattr(value, m) for m in ("_run", "_arun")):
                if not _defined_in(type(value), module):
                    continue
                made = _from_object(value)
        except Exception as exc:
            _, qualname, _ = _source_of(value if not isinstance(value, Tool) else value.fn)
            unrunnable[(str(path.resolve()), qualname or attr)] = f"cannot prepare {attr}: {exc}"
            continue
        if made is None:
            continue
        marker = made.key or id(made.obj)
        if marker in seen:
            continue
        seen.add(marker)
        yield made


def _looks_like_tool_function(fn: Callable[..., Any]) -> bool:
    name = fn.__name__
    if name.startswith("_") or name == "main" or not fn.__doc__:
        return False
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    if sig.return_annotation in (inspect.Signature.empty, None, "None"):
        return False
    return all(p.annotation is not inspect.Parameter.empty for p in sig.parameters.values())


def _from_toolsafe(tool: Any) -> LiveTool:
    target = tool.fn if tool.fn is not None else type(tool.instance)
    path, qualname, line = _source_of(target)
    return LiveTool(
        name=tool.name,
        framework="toolsafe",
        label="toolsafe tool",
        obj=tool,
        schema=dict(tool.json_schema),
        runner="a toolsafe Runtime, with the tool's own options",
        toolsafe_tool=tool,
        path=path,
        qualname=qualname,
        line=line,
    )


def _from_function(fn: Callable[..., Any]) -> LiveTool:
    from toolsafe._tool import Tool

    schema = dict(Tool.from_function(fn, strict=False).json_schema)
    path, qualname, line = _source_of(fn)
    is_async = inspect.iscoroutinefunction(fn)

    def call(args: dict[str, Any]) -> Any:
        return fn(**args)

    async def acall(args: dict[str, Any]) -> Any:
        return await fn(**args)

    return LiveTool(
        name=fn.__name__,
        framework=None,
        label="plain function",
        obj=fn,
        schema=schema,
        runner=f"{fn.__name__}(**args)",
        call=None if is_async else call,
        acall=acall if is_async else None,
        path=path,
        qualname=qualname,
        line=line,
    )


def _model_schema(model: Any) -> dict[str, Any] | None:
    if isinstance(model, dict):
        return dict(model)
    schema_fn = getattr(model, "model_json_schema", None)
    if isinstance(model, type) and callable(schema_fn):
        result = schema_fn()
        return dict(result) if isinstance(result, dict) else None
    return None


def _overrides(obj: Any, method: str, framework_modules: tuple[str, ...]) -> bool:
    for klass in type(obj).__mro__:
        if method in vars(klass):
            return not klass.__module__.startswith(framework_modules)
    return False


def _from_object(obj: Any) -> LiveTool:
    framework = framework_of_object(obj)
    func = getattr(obj, "func", None) if framework else None
    coroutine = getattr(obj, "coroutine", None) if framework == "langchain" else None
    source_target = func or coroutine or type(obj)
    path, qualname, line = _source_of(source_target)
    name = getattr(obj, "name", None)
    name = name if isinstance(name, str) and name else type(obj).__name__
    if framework == "crewai":
        schema = _model_schema(getattr(obj, "args_schema", None)) or {}
        is_async_fn = func is not None and inspect.iscoroutinefunction(func)
        native_async = is_async_fn or _overrides(obj, "_arun", ("crewai",))

        async def crew_acall(args: dict[str, Any]) -> Any:
            return await obj.arun(**args)

        return LiveTool(
            name=name,
            framework="crewai",
            label="CrewAI @tool" if func is not None else "CrewAI BaseTool",
            obj=obj,
            schema=schema,
            runner="CrewAI tool.run(**args) on one shared instance",
            call=None if is_async_fn else (lambda args: obj.run(**args)),
            acall=crew_acall if native_async else None,
            path=path,
            qualname=qualname,
            line=line,
        )
    if framework == "langchain":
        lc_schema = _model_schema(getattr(obj, "args_schema", None))
        if lc_schema is None:
            lc_schema = _model_schema(obj.get_input_schema()) or {}
        native_async = coroutine is not None or _overrides(obj, "_arun", ("langchain",))

        async def lc_acall(args: dict[str, Any]) -> Any:
            return await obj.ainvoke(args)

        return LiveTool(
            name=name,
            framework="langchain",
            label="LangChain tool",
            obj=obj,
            schema=lc_schema,
            runner="LangChain tool.invoke(args) on one shared instance",
            call=None if (coroutine is not None and func is None) else (obj.invoke),
            acall=lc_acall if native_async else None,
            path=path,
            qualname=qualname,
            line=line,
        )
    from toolsafe._tool import Tool

    run = getattr(obj, "_run", None)
    arun = getattr(obj, "_arun", None)
    plain_schema = _model_schema(getattr(obj, "args_schema", None))
    method = run if callable(run) else arun
    if plain_schema is None and callable(method):
        plain_schema = dict(Tool.from_function(method, strict=False).json_schema)

    async def plain_acall(args: dict[str, Any]) -> Any:
        assert callable(arun)
        return await arun(**args)

    return LiveTool(
        name=name,
        framework=None,
        label="class-based tool",
        obj=obj,
        schema=plain_schema or {},
        runner=f"{type(obj).__name__}()._run(**args) on one shared instance",
        call=(lambda args: run(**args)) if callable(run) else None,
        acall=plain_acall if callable(arun) and inspect.iscoroutinefunction(arun) else None,
        path=path,
        qualname=qualname,
        line=line,
    )
