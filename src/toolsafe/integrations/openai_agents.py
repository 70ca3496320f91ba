"""OpenAI Agents SDK: toolsafe tools as ``FunctionTool``s, and ``FunctionTool``s under toolsafe.

``to_openai_agents`` gives ``agents.FunctionTool`` objects whose invocation runs
through a toolsafe ``Runtime``: the model sees toolsafe's strict schema export, a
sync tool returns at its timeout (the SDK only times out async handlers), and a
failed call comes back to the model as the structured error line. The tool never
raises into the SDK, so its ``failure_error_function`` default ("An error occurred
while running the tool...") never replaces toolsafe's error, and validation
details (which field, what was expected, what was received) are never hidden.

``from_openai_agents`` goes the other way: an existing ``FunctionTool`` becomes a
toolsafe ``Tool`` (validated against its ``params_json_schema``), so a runtime's
timeouts, retries, breakers, limits and output budgets apply to it. Its own failure
formatter is switched off on a private copy, so an exception reaches toolsafe and
is classified (retryable or not) instead of arriving as prose.

This module only translates; every policy lives in the runtime.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any, overload

try:
    from agents import FunctionTool
    from agents.tool_context import ToolContext
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "toolsafe.integrations.openai_agents needs the OpenAI Agents SDK: "
        "pip install 'toolsafe[openai-agents]'",
        name=exc.name,
    ) from exc

from toolsafe import Runtime, Tool
from toolsafe.integrations.support import resolve_tools

__all__ = ["from_openai_agents", "to_openai_agents"]


@overload
def to_openai_agents(
    tool_or_tools: Runtime | list[Any] | tuple[Any, ...],
    runtime: Runtime | None = None,
    **policy: Any,
) -> list[FunctionTool]: ...


@overload
def to_openai_agents(
    tool_or_tools: Any, runtime: Runtime | None = None, **policy: Any
) -> FunctionTool: ...


def to_openai_agents(
    tool_or_tools: Any, runtime: Runtime | None = None, **policy: Any
) -> FunctionTool | list[FunctionTool]:
    """``FunctionTool``s that run through ``runtime``: one for one tool, a list for a list.

    Accepts toolsafe Tools, plain functions, class-based tools, names of tools
    registered in ``runtime``, existing ``FunctionTool``s (wrapped with
    ``from_openai_agents``) or a Runtime (all its tools). ``policy`` holds tool
    options (``timeout=``, ``retry=``, ``max_output_chars=``, ...); without a
    ``runtime`` one is made, and runtime options may go in ``policy`` too.
    """
    single = not isinstance(tool_or_tools, (list, tuple, Runtime))
    items = list(tool_or_tools) if isinstance(tool_or_tools, (list, tuple)) else [tool_or_tools]
    runtime, tools = resolve_tools(items, runtime, policy, convert=_convert)
    wrapped = [_function_tool(runtime, t) for t in tools]
    return wrapped[0] if single else wrapped


def _convert(item: Any) -> Any:
    return from_openai_agents(item) if isinstance(item, FunctionTool) else item


def _function_tool(runtime: Runtime, tool: Tool) -> FunctionTool:
    spec = tool.to_openai()["function"]
    name = tool.name

    async def invoke(ctx: ToolContext[Any], arguments: str) -> str:
        # The SDK hands the model's raw JSON text: the runtime parses and validates it,
        # so malformed JSON gets toolsafe's precise message too.
        call_id = getattr(ctx, "tool_call_id", None) or None
        outcome = await runtime.acall(name, arguments or "{}", call_id=call_id)
        return outcome.text

    function_tool = FunctionTool(
        name=spec["name"],
        description=spec.get("description") or name,
        params_json_schema=spec["parameters"],
        on_invoke_tool=invoke,
        strict_json_schema=bool(spec.get("strict", False)),
    )
    function_tool.toolsafe_tool = tool  # type: ignore[attr-defined]
    function_tool.toolsafe_runtime = runtime  # type: ignore[attr-defined]
    return function_tool


def from_openai_agents(function_tool: FunctionTool, **options: Any) -> Tool:
    """A toolsafe Tool that invokes ``function_tool``, so a runtime's policies apply to it.

    The schema is the tool's ``params_json_schema``, validated strictly by toolsafe
    before the SDK's own invoker runs. Options are toolsafe tool options.
    """
    existing = getattr(function_tool, "toolsafe_tool", None)
    if isinstance(existing, Tool) and not options:
        return existing
    target = _raising_copy(function_tool)
    name = function_tool.name

    async def body(**arguments: Any) -> Any:
        text = json.dumps(arguments, ensure_ascii=False)
        ctx: ToolContext[Any] = ToolContext(
            context=None,
            tool_name=name,
            tool_call_id=f"toolsafe_{uuid.uuid4().hex[:16]}",
            tool_arguments=text,
        )
        return await target.on_invoke_tool(ctx, text)

    definition = {
        "name": name,
        "description": function_tool.description,
        "parameters": function_tool.params_json_schema,
    }
    return Tool.from_schema(definition, body, **options)


def _raising_copy(function_tool: FunctionTool) -> FunctionTool:
    """A copy whose invoker lets exceptions through instead of formatting them as text.

    The SDK's default failure formatter turns every exception into the same prose;
    with it off (the documented ``failure_error_function=None`` behaviour, set here
    on a copy through the dataclass fields the SDK reads), toolsafe sees the
    exception and classifies it. ``FunctionTool.__copy__`` rebinds the invoker to
    the copy, so the original keeps its own behaviour.
    """
    target = copy.copy(function_tool)
    if hasattr(target, "_use_default_failure_error_function"):
        target._use_default_failure_error_function = False
        target._failure_error_function = None
    return target
