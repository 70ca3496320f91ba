"""LangChain and LangGraph: toolsafe tools as LangChain tools, and LangChain tools under toolsafe.

``to_langchain`` gives ``BaseTool`` objects whose every call goes through a toolsafe
``Runtime``. They never raise for a failed call: invoked with a ``ToolCall`` they
return a ``ToolMessage`` with ``status="error"`` whose content is the structured
error line, so one failing call among parallel calls in LangGraph's ``ToolNode``
cannot abort its siblings (``ToolNode`` re-raises tool exceptions by default).

``from_langchain`` goes the other way: an existing LangChain tool becomes a toolsafe
``Tool``, so a runtime's timeouts, retries, limits and isolation apply to it.

This module only translates; every policy lives in the runtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, overload

try:
    from langchain_core.tools import BaseTool, StructuredTool, ToolException
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "toolsafe.integrations.langchain needs LangChain: pip install 'toolsafe[langchain]'",
        name=exc.name,
    ) from exc

from pydantic import BaseModel, Field

import toolsafe
from toolsafe import CallContext, ConfigurationError, Outcome, Runtime, Tool, ToolError, ToolOptions
from toolsafe.integrations.support import (
    register,
    runtime_for,
    runtime_problems,
    split_policy,
    strict_model,
)

__all__ = ["ToolsafeLangChainTool", "ToolsafeToolException", "from_langchain", "to_langchain"]


class ToolsafeToolException(ToolException):
    """A failed call, raised inside LangChain's tool run and turned into an error ToolMessage.

    ``.error`` is the ToolError and ``.outcome`` the Outcome, for a custom
    ``handle_tool_error`` callable; the exception text is the structured error line.
    """

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.error: ToolError | None = outcome.error
        super().__init__(outcome.text)


class ToolsafeLangChainTool(BaseTool):
    """A LangChain tool that runs a toolsafe Tool through a Runtime.

    Its ``args_schema`` is the tool's exported JSON Schema (what the model is
    shown); validation happens in the runtime so that a bad call comes back as
    the structured error with field-level detail, not as a pydantic exception.
    """

    toolsafe_tool: Tool = Field(exclude=True)
    toolsafe_runtime: Runtime = Field(exclude=True)
    #: Failed calls are raised as ToolsafeToolException and handled into error content.
    handle_tool_error: Any = True

    def get_input_schema(self, config: Any = None) -> type[BaseModel]:
        """The tool's pydantic argument model (LangChain asks for a model class here)."""
        return self.toolsafe_tool.model

    def _to_args_and_kwargs(
        self, tool_input: str | dict[str, Any], tool_call_id: str | None
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        # Hand the raw input to the runtime untouched: it validates (strictly), and a
        # model argument named ``config`` or ``run_manager`` cannot collide with
        # LangChain's own keyword arguments.
        return (), {"tool_input": tool_input, "tool_call_id": tool_call_id}

    def _arguments(self, tool_input: str | dict[str, Any]) -> Any:
        if isinstance(tool_input, str) and not tool_input.lstrip().startswith("{"):
            # LangChain's single-input convention: a bare string is the only field's value.
            fields = list(self.toolsafe_tool.json_schema.get("properties", {}))
            if len(fields) == 1:
                return {fields[0]: tool_input}
        return tool_input

    def _run(self, tool_input: str | dict[str, Any], tool_call_id: str | None = None) -> str:
        outcome = self.toolsafe_runtime.call(
            self.toolsafe_tool.name, self._arguments(tool_input), call_id=tool_call_id
        )
        if not outcome.ok:
            raise ToolsafeToolException(outcome)
        return outcome.text

    async def _arun(self, tool_input: str | dict[str, Any], tool_call_id: str | None = None) -> str:
        outcome = await self.toolsafe_runtime.acall(
            self.toolsafe_tool.name, self._arguments(tool_input), call_id=tool_call_id
        )
        if not outcome.ok:
            raise ToolsafeToolException(outcome)
        return outcome.text


@overload
def to_langchain(
    tool_or_tools: Runtime | list[Any] | tuple[Any, ...],
    runtime: Runtime | None = None,
    **policy: Any,
) -> list[ToolsafeLangChainTool]: ...


@overload
def to_langchain(
    tool_or_tools: Any, runtime: Runtime | None = None, **policy: Any
) -> ToolsafeLangChainTool: ...


def to_langchain(
    tool_or_tools: Any, runtime: Runtime | None = None, **policy: Any
) -> ToolsafeLangChainTool | list[ToolsafeLangChainTool]:
    """LangChain tools that run through ``runtime``: one for one tool, a list for a list.

    Accepts toolsafe Tools, plain functions, class-based tools, names of tools
    registered in ``runtime``, existing LangChain tools (wrapped with
    ``from_langchain``), or a Runtime (all of its tools). ``policy`` takes the same
    keywords as CrewAI's ``harden``: tool options (``timeout=``, ``retry=``, ...)
    for the tools wrapped here, and, without a ``runtime``, runtime options for the
    one made for them. Tools not yet registered are registered; a different tool
    under a taken name is a ConfigurationError.
    """
    if isinstance(tool_or_tools, Runtime):
        runtime = runtime or tool_or_tools
        items: list[Any] = list(tool_or_tools.tools)
        single = False
    elif isinstance(tool_or_tools, (list, tuple)):
        items, single = list(tool_or_tools), False
    else:
        items, single = [tool_or_tools], True
    tool_opts, runtime_opts = split_policy(policy)
    problems = runtime_problems(runtime, runtime_opts)
    if problems:
        raise ConfigurationError(problems)
    runtime = runtime_for(runtime, runtime_opts)
    tools = _resolve(items, runtime, tool_opts)
    wrapped = [
        ToolsafeLangChainTool(
            name=tool.export_name,
            description=tool.description or tool.name,
            args_schema=tool.json_schema_closed(),
            toolsafe_tool=tool,
            toolsafe_runtime=runtime,
        )
        for tool in tools
    ]
    return wrapped[0] if single else wrapped


def _resolve(items: Iterable[Any], runtime: Runtime, options: Mapping[str, Any]) -> list[Tool]:
    """Each item as a Tool registered in ``runtime`` (registering new ones together)."""
    resolved: list[Tool] = []
    problems: list[str] = []
    for item in items:
        if isinstance(item, str):
            if options:
                problems.append(f"{item}: already registered; give it its options there")
            resolved.append(runtime.get(item))
            continue
        if isinstance(item, ToolsafeLangChainTool):
            item = item.toolsafe_tool
        if isinstance(item, BaseTool):
            resolved.append(from_langchain(item, **options))
            continue
        tool = toolsafe.tool(item)
        resolved.append(tool.with_options(**options) if options else tool)
    if problems:
        raise ConfigurationError(problems)
    return register(runtime, resolved)


# --------------------------------------------------------------------------- from LangChain


def from_langchain(lc_tool: BaseTool, **options: Any) -> Tool:
    """A toolsafe Tool that runs ``lc_tool``, so a runtime's policies apply to it.

    The schema is the one LangChain shows the model (``tool_call_schema``, without
    injected arguments), validated strictly. The tool's own ``handle_tool_error``
    and ``handle_validation_error`` are turned off on a private copy, so a failure
    reaches toolsafe and comes back as a structured, classified error. Options are
    toolsafe tool options (``timeout=``, ``retry=``, ...). Subclasses of ``BaseTool``
    get a per-call copy of what their calls may change (the tool's
    ``isolation_report`` says what, and why); function-based ``StructuredTool``
    objects carry no call state and are shared.
    """
    if isinstance(lc_tool, ToolsafeLangChainTool):
        return lc_tool.toolsafe_tool
    if not isinstance(lc_tool, BaseTool):
        raise ConfigurationError(
            [f"expected a LangChain BaseTool, got {type(lc_tool).__name__}"],
            subject=getattr(lc_tool, "name", None),
        )
    if "isolation" not in options and type(lc_tool) is StructuredTool:
        options = {**options, "isolation": "shared"}
    opts = ToolOptions().merged(**options)
    target = lc_tool.model_copy(
        update={"handle_tool_error": False, "handle_validation_error": False}
    )
    name, description = lc_tool.name, lc_tool.description or lc_tool.name
    schema = lc_tool.tool_call_schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        model = strict_model(schema, strict=opts.strict)
        json_schema = _json_schema(model)
    else:
        # A JSON Schema dict (or a pydantic v1 model): read as a foreign definition.
        raw = dict(schema) if isinstance(schema, Mapping) else schema.schema()
        parameters = {k: v for k, v in raw.items() if k not in ("description", "title")}
        definition = {"name": name, "description": description, "parameters": parameters}
        validator = Tool.from_schema(definition, **options)
        model, json_schema = validator.model, validator.json_schema
    is_async = _has_native_async(lc_tool)
    tool = _LangChainBody(
        None,
        name=name,
        description=description,
        model=model,
        json_schema=json_schema,
        options=opts,
        instance=target,
        method_name="ainvoke" if is_async else "invoke",
        is_async=is_async,
        dump_arguments=True,
    )
    tool.origin = lc_tool
    return tool


class _LangChainBody(Tool):
    """A LangChain tool as a toolsafe Tool: each call is ``invoke(arguments)`` on its instance.

    The instance is a Tool instance like any class-based tool's, so per-call
    isolation and its report are the same as for ``toolsafe.tool(instance)``.
    """

    def call_arguments(
        self, arguments: Mapping[str, Any], ctx: CallContext | None
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (dict(arguments),), {}


def _json_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = dict(model.model_json_schema())
    schema.pop("description", None)  # LangChain puts the tool description here
    return schema


def _has_native_async(lc_tool: BaseTool) -> bool:
    if isinstance(lc_tool, StructuredTool):
        return lc_tool.coroutine is not None
    return type(lc_tool)._arun is not BaseTool._arun
