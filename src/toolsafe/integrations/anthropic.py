"""Anthropic tool use: run a message's ``tool_use`` blocks through a runtime, get ``tool_result`` blocks.

Works on plain dicts and on the ``anthropic`` SDK's objects alike (read by
attribute, never imported). Calls run concurrently under the runtime's limits;
the blocks come back in the model's order, each with the result text or, with
``"is_error": true``, the structured error line. Send them back as the next user
message: ``{"role": "user", "content": blocks}``. Exported names map back to
the tools; definitions come from ``Tool.to_anthropic()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolsafe import Outcome, Runtime, ToolCall
from toolsafe.integrations.support import new_call_id, safe_str

__all__ = ["aexecute_tool_use", "execute_tool_use", "read_tool_use"]


def execute_tool_use(runtime: Runtime, message: Any) -> list[dict[str, Any]]:
    """Run every ``tool_use`` block of ``message``; return the ``tool_result`` blocks."""
    calls = read_tool_use(message)
    if not calls:
        return []
    if len(calls) == 1:  # the common case: skip the batch machinery
        only = calls[0]
        return [_result(runtime.call(only.name, only.arguments, call_id=only.id))]
    return [_result(o) for o in runtime.call_many(calls)]


async def aexecute_tool_use(runtime: Runtime, message: Any) -> list[dict[str, Any]]:
    """Async twin of ``execute_tool_use``."""
    calls = read_tool_use(message)
    if not calls:
        return []
    if len(calls) == 1:
        only = calls[0]
        return [_result(await runtime.acall(only.name, only.arguments, call_id=only.id))]
    return [_result(o) for o in await runtime.acall_many(calls)]


def read_tool_use(message: Any) -> list[ToolCall]:
    """The ``tool_use`` blocks of a message (dict or SDK object) or a list of blocks."""
    content = message if _is_list(message) else _field(message, "content")
    if content is None and not _is_list(message):
        raise TypeError(
            f"cannot read Anthropic tool use from {type(message).__name__}: expected a "
            "message with content blocks or a list of blocks"
        )
    if isinstance(content, str):
        return []
    return [
        ToolCall(
            safe_str(_field(block, "id") or new_call_id()),
            safe_str(_field(block, "name")),
            _field(block, "input"),
        )
        for block in content
        if _field(block, "type") == "tool_use"  # server and MCP tool use are not ours
    ]


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _field(obj: Any, key: str) -> Any:
    """A key of a dict or an attribute of an SDK object; None when absent (or raising)."""
    if isinstance(obj, dict):
        return obj.get(key)
    try:
        return getattr(obj, key, None)
    except Exception:  # one odd object must not lose the other calls of the message
        return None


def _result(outcome: Outcome) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": outcome.call_id,
        "content": outcome.text,
    }
    if not outcome.ok:
        block["is_error"] = True
    return block
