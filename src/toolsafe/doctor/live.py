"""Live tool discovery: import the code and wrap every tool so stress can call it.

Each tool is wrapped so that ``stress`` calls it the way its framework would
(CrewAI ``tool.run``, LangChain ``tool.invoke``, a toolsafe runtime, or the plain
function) on one shared instance, because that is what frameworks do in production.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from toolsafe.doctor.sources import FRAMEWORKS

__all__ = ["LiveTool", "framework_of_object", "live_tools"]


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


@dataclass
class _Module:
    """One imported module, and what its members already wrap (so each tool is seen once)."""

    module: ModuleType
    path: Path
    instance_types: set[type]
    wrapped_types: set[type]
    wrapped_fns: set[Any]


def live_tools(
    module: ModuleType, path: Path, unrunnable: dict[tuple[str, str], str]
) -> Iterator[LiveTool]:
    """Every tool among an imported module's members, each once, toolsafe tools first.

    Members that are tools but cannot be prepared (a class that needs constructor
    arguments) are recorded in ``unrunnable`` with the reason.
    """
    from toolsafe._tool import Tool

    members = list(vars(module).items())
    tools = [v for _, v in members if isinstance(v, Tool)]
    context = _Module(
        module=module,
        path=path,
        instance_types={type(v) for _, v in members if not isinstance(v, type)},
        wrapped_types={type(v.instance) for v in tools if v.instance is not None},
        wrapped_fns={v.fn for v in tools if v.fn is not None},
    )
    seen: set[tuple[str, str] | int] = set()
    for attr, value in sorted(members, key=lambda kv: not isinstance(kv[1], Tool)):
        try:
            made = _member_tool(context, attr, value, unrunnable)
        except Exception as exc:
            target = value.fn if isinstance(value, Tool) else value
            _, qualname, _ = _source_of(target)
            unrunnable[(str(path.resolve()), qualname or attr)] = f"cannot prepare {attr}: {exc}"
            continue
        if made is None:
            continue
        marker = made.key or id(made.obj)
        if marker not in seen:
            seen.add(marker)
            yield made


def _member_tool(
    context: _Module, attr: str, value: Any, unrunnable: dict[tuple[str, str], str]
) -> LiveTool | None:
    """The tool one module member is, if it is one (classes are instantiated without args)."""
    from toolsafe._tool import Tool

    if isinstance(value, Tool):
        return _from_toolsafe(value)
    if isinstance(value, type):
        return _from_class(context, attr, value, unrunnable)
    if framework_of_object(value) in {"crewai", "langchain"}:
        return _from_object(value)
    if inspect.isfunction(value) or inspect.iscoroutinefunction(value):
        if not _defined_in(value, context.module) or value in context.wrapped_fns:
            return None
        return _from_function(value) if _looks_like_tool_function(value) else None
    if not callable(value) and any(hasattr(value, m) for m in ("_run", "_arun")):
        return _from_object(value) if _defined_in(type(value), context.module) else None
    return None


def _from_class(
    context: _Module, attr: str, cls: type, unrunnable: dict[tuple[str, str], str]
) -> LiveTool | None:
    if not _defined_in(cls, context.module):
        return None
    if cls in context.instance_types | context.wrapped_types:
        return None  # the module's own instance is the one to stress
    framework = _framework_of_class(cls)
    if framework is None and not any(hasattr(cls, m) for m in ("_run", "_arun")):
        return None
    if inspect.isabstract(cls) or attr.startswith("_"):
        return None
    _, qualname, _ = _source_of(cls)
    try:
        instance = cls()
    except Exception as exc:
        unrunnable[(str(context.path.resolve()), qualname or attr)] = (
            f"cannot create {cls.__name__}() without arguments: {exc}"
        )
        return None
    return _from_object(instance)


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


def _framework_tool_classes(framework: str) -> tuple[type, ...]:
    """The framework's own tool classes, whose ``_arun`` only wraps the sync ``_run``.

    Imported here, lazily: ``obj`` is one of the framework's tools, so it is installed.
    Identity, not a module-name prefix: ``crewai_tools`` and ``langchain_community``
    tools that define their own ``_arun`` start with the framework's name too.
    """
    if framework == "crewai":
        from crewai.tools.base_tool import BaseTool as CrewBaseTool
        from crewai.tools.base_tool import Tool as CrewTool

        return (CrewBaseTool, CrewTool)
    from langchain_core.tools import BaseTool, StructuredTool
    from langchain_core.tools import Tool as LangChainTool

    return (BaseTool, StructuredTool, LangChainTool)


def _overrides(obj: Any, method: str, framework: str) -> bool:
    """Whether ``obj``'s class (not the framework's base classes) defines ``method``."""
    defaults = _framework_tool_classes(framework)
    for klass in type(obj).__mro__:
        if method in vars(klass):
            return klass not in defaults
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
        native_async = is_async_fn or _overrides(obj, "_arun", "crewai")

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
        native_async = coroutine is not None or _overrides(obj, "_arun", "langchain")

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
