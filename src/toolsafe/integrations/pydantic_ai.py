"""Pydantic AI: a toolset whose every call runs through a toolsafe Runtime.

``ToolsafeToolset`` is a Pydantic AI toolset (the framework's own extension point,
``AbstractToolset``): give it toolsafe tools, functions or class-based tools and
pass it to ``Agent(toolsets=[...])``. Each call goes through the runtime, so a sync
tool returns at its timeout (Pydantic AI runs sync tools in a worker thread that
"runs to completion"), and breakers, limits, output budgets and per-call isolation
apply.

How results reach the model:

- invalid arguments raise ``ModelRetry`` carrying toolsafe's field-level message, so
  the model corrects its call through Pydantic AI's own retry prompt (and its
  ``max_retries`` budget);
- any other failure is returned as the structured error line, ``retryable`` kept, so
  the model can tell a transient failure from a permanent one;
- a result is the outcome's text (trimmed by the output budget when one applies).

Arguments are validated by toolsafe, not by the toolset's schema validator: the
validator handed to Pydantic AI only parses JSON, and text that is not valid JSON
is passed through untouched so toolsafe can say exactly what is wrong with it.

This module only translates; every policy lives in the runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:
    from pydantic_ai import ModelRetry, RunContext
    from pydantic_ai.tools import ToolDefinition
    from pydantic_ai.toolsets import AbstractToolset, ToolsetTool
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "toolsafe.integrations.pydantic_ai needs Pydantic AI: pip install 'toolsafe[pydantic-ai]'",
        name=exc.name,
    ) from exc

import pydantic_core

from toolsafe import Outcome, Runtime, Tool
from toolsafe.integrations.support import resolve_tools

__all__ = ["ToolsafeToolset"]

#: Key under which text that is not a JSON object travels to ``call_tool`` unparsed.
_RAW = "__toolsafe_raw_arguments__"


class _PassThroughValidator:
    """Parses the model's JSON and nothing more: toolsafe validates in the runtime.

    Pydantic AI calls ``validate_json`` with ``allow_partial`` while arguments stream
    in; a partial or malformed text must not raise here in the final (non-partial)
    pass, or Pydantic AI would answer with its own error instead of toolsafe's.
    """

    def validate_json(
        self, input: str | bytes | bytearray, *, allow_partial: Any = False, **_: Any
    ) -> Any:
        partial = allow_partial not in (False, "off")
        try:
            parsed = pydantic_core.from_json(input, allow_partial=partial)
        except ValueError:
            if partial:
                raise
            text = input if isinstance(input, str) else bytes(input).decode("utf-8", "replace")
            return {_RAW: text}
        return parsed if isinstance(parsed, dict) else {_RAW: parsed}

    def validate_python(self, input: Any, *, allow_partial: Any = False, **_: Any) -> Any:
        return input if isinstance(input, dict) else {_RAW: input}


class ToolsafeToolset(AbstractToolset[Any]):
    """A Pydantic AI toolset of toolsafe tools, each call run through ``runtime``.

    ``tools`` may hold toolsafe Tools, plain functions, class-based tools, names of
    tools registered in ``runtime`` or a Runtime. ``policy`` holds tool options
    (``timeout=``, ``retry=``, ``max_output_chars=``, ...); without a ``runtime`` one
    is made, and runtime options may go in ``policy`` too. ``max_retries`` is
    Pydantic AI's budget of retry prompts for invalid arguments, per tool.
    """

    def __init__(
        self,
        tools: Sequence[Any] | Runtime,
        runtime: Runtime | None = None,
        *,
        id: str | None = None,
        max_retries: int = 2,
        **policy: Any,
    ) -> None:
        items = [tools] if isinstance(tools, Runtime) else list(tools)
        self.runtime, self.tools = resolve_tools(items, runtime, policy)
        self._id = id
        self._max_retries = max_retries
        self._validator = _PassThroughValidator()
        self._by_export = {t.export_name: t for t in self.tools}

    @property
    def id(self) -> str | None:
        return self._id

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        return {
            tool.export_name: ToolsetTool(
                toolset=self,
                tool_def=_definition(tool),
                max_retries=self._max_retries,
                args_validator=self._validator,
            )
            for tool in self.tools
        }

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        target = self._by_export.get(name)
        arguments: Any = tool_args.get(_RAW, tool_args) if _RAW in tool_args else tool_args
        call_id = getattr(ctx, "tool_call_id", None) or None
        outcome = await self.runtime.acall(
            target.name if target is not None else name, arguments, call_id=call_id
        )
        return _answer(outcome)


def _definition(tool: Tool) -> ToolDefinition:
    # The closed schema (unknown keys refused, optionals not required); Pydantic AI
    # makes it strict for the providers that support it.
    return ToolDefinition(
        name=tool.export_name,
        description=tool.description or tool.name,
        parameters_json_schema=tool.json_schema_closed(),
    )


def _answer(outcome: Outcome) -> str:
    """The text for the model, or ``ModelRetry`` for arguments the model should fix."""
    error = outcome.error
    if error is None:
        return outcome.text
    if error.type == "InvalidArguments":
        raise ModelRetry(error.message if not error.hint else f"{error.message}\n{error.hint}")
    return outcome.text
