"""OpenAI tool calls: run what the model asked for through a runtime, get the items to send back.

Works on plain dicts and on the ``openai`` SDK's objects alike (read by attribute,
never imported), for both APIs:

- Chat Completions: an assistant message (or a whole ``ChatCompletion``) with
  ``tool_calls`` gives ``{"role": "tool", "tool_call_id": ..., "content": ...}``
  messages to append;
- Responses: a ``Response`` (or its ``output`` list, or one item) with
  ``function_call`` items gives ``function_call_output`` items to send as input.

Calls run concurrently under the runtime's limits; results come back in the
model's order, one per call, each either the result text or the structured error
line. Exported names (``billing_refund`` for ``billing.refund``) map back to the
tools. Tool definitions come from ``Tool.to_openai()`` / ``Tool.to_openai_responses()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from toolsafe import Outcome, Runtime, ToolCall
from toolsafe.integrations.support import new_call_id, safe_str

__all__ = ["aexecute_tool_calls", "execute_tool_calls", "read_tool_calls"]

Shape = Literal["chat", "chat_custom", "responses", "responses_custom"]


@dataclass(frozen=True, slots=True)
class _Request:
    call: ToolCall
    shape: Shape


def execute_tool_calls(runtime: Runtime, message_or_response: Any) -> list[dict[str, Any]]:
    """Run every tool call in ``message_or_response``; return the messages/items to append."""
    requests = _requests(message_or_response)
    if not requests:
        return []
    if len(requests) == 1:  # the common case: skip the batch machinery
        call = requests[0].call
        return [_reply(requests[0], runtime.call(call.name, call.arguments, call_id=call.id))]
    outcomes = runtime.call_many([r.call for r in requests])
    return [_reply(r, o) for r, o in zip(requests, outcomes, strict=True)]


async def aexecute_tool_calls(runtime: Runtime, message_or_response: Any) -> list[dict[str, Any]]:
    """Async twin of ``execute_tool_calls``."""
    requests = _requests(message_or_response)
    if not requests:
        return []
    if len(requests) == 1:
        call = requests[0].call
        outcome = await runtime.acall(call.name, call.arguments, call_id=call.id)
        return [_reply(requests[0], outcome)]
    outcomes = await runtime.acall_many([r.call for r in requests])
    return [_reply(r, o) for r, o in zip(requests, outcomes, strict=True)]


def read_tool_calls(message_or_response: Any) -> list[ToolCall]:
    """The tool calls in a Chat Completions message or a Responses output, in order."""
    return [r.call for r in _requests(message_or_response)]


# --------------------------------------------------------------------------- reading


def _field(obj: Any, key: str) -> Any:
    """A key of a dict or an attribute of an SDK object; None when absent (or raising)."""
    if isinstance(obj, dict):
        return obj.get(key)
    try:
        return getattr(obj, key, None)
    except Exception:  # one odd object must not lose the other calls of the message
        return None


def _requests(source: Any) -> list[_Request]:
    choices = _field(source, "choices")
    if isinstance(choices, Sequence) and not isinstance(choices, str):
        if not choices:
            return []
        source = _field(choices[0], "message")  # a ChatCompletion: its first choice
    if isinstance(source, Sequence) and not isinstance(source, (str, bytes)):
        return [r for item in source for r in _item_requests(item)]
    output = _field(source, "output")
    if isinstance(output, Sequence) and not isinstance(output, str):
        return [r for item in output for r in _item_requests(item)]
    if _field(source, "type") in ("function_call", "custom_tool_call"):
        return _item_requests(source)
    if source is None:
        raise TypeError("expected an assistant message or a response, got None")
    tool_calls = _field(source, "tool_calls")
    if tool_calls is None and _field(source, "role") is None and _field(source, "content") is None:
        raise TypeError(
            f"cannot read OpenAI tool calls from {type(source).__name__}: expected an "
            "assistant message, a ChatCompletion, a Response or a list of output items"
        )
    return [_chat_request(tc) for tc in tool_calls or ()]


def _chat_request(tool_call: Any) -> _Request:
    call_id = safe_str(_field(tool_call, "id") or new_call_id())
    if _field(tool_call, "type") == "custom":
        custom = _field(tool_call, "custom")
        return _Request(
            ToolCall(call_id, safe_str(_field(custom, "name")), _field(custom, "input")),
            "chat_custom",
        )
    function = _field(tool_call, "function")
    return _Request(
        ToolCall(call_id, safe_str(_field(function, "name")), _field(function, "arguments")), "chat"
    )


def _item_requests(item: Any) -> list[_Request]:
    kind = _field(item, "type")
    if kind == "function_call":
        call_id = safe_str(_field(item, "call_id") or new_call_id())
        return [
            _Request(
                ToolCall(call_id, safe_str(_field(item, "name")), _field(item, "arguments")),
                "responses",
            )
        ]
    if kind == "custom_tool_call":
        call_id = safe_str(_field(item, "call_id") or new_call_id())
        return [
            _Request(
                ToolCall(call_id, safe_str(_field(item, "name")), _field(item, "input")),
                "responses_custom",
            )
        ]
    if kind in (None, "function", "custom") and (
        _field(item, "function") is not None or _field(item, "custom") is not None
    ):  # a Chat Completions tool call on its own (``message.tool_calls``)
        return [_chat_request(item)]
    return []  # messages, reasoning, built-in tool calls: not ours to run


# --------------------------------------------------------------------------- replying


def _reply(request: _Request, outcome: Outcome) -> dict[str, Any]:
    call_id = request.call.id
    if request.shape in ("chat", "chat_custom"):
        return {"role": "tool", "tool_call_id": call_id, "content": outcome.text}
    kind = "function_call_output" if request.shape == "responses" else "custom_tool_call_output"
    return {"type": kind, "call_id": call_id, "output": outcome.text}
