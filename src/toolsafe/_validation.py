"""Turn pydantic validation errors into field-level details a model can act on."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError

from toolsafe.errors import InvalidArguments

__all__ = ["describe_received", "invalid_arguments", "json_type_name"]

_EXPECTED_BY_TYPE = {
    "int_type": "integer",
    "int_parsing": "integer",
    "int_from_float": "integer (no fractional part)",
    "float_type": "number",
    "float_parsing": "number",
    "string_type": "string",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
    "list_type": "array",
    "tuple_type": "array",
    "set_type": "array of unique items",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "dataclass_type": "object",
    "none_required": "null",
    "missing": "a value (required field)",
}

_JSON_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    tuple: "array",
    dict: "object",
    type(None): "null",
}


def json_type_name(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def describe_received(value: Any, limit: int = 80) -> str:
    """``"3" (string)``: the value as JSON, shortened, and its JSON type."""
    try:
        shown = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        shown = repr(value)
    if len(shown) > limit:
        shown = shown[: limit - 3] + "..."
    return f"{shown} ({json_type_name(value)})"


def _expected(err: Any, allowed: Sequence[str]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        names = ", ".join(allowed) if allowed else "none"
        return f"no such field (allowed: {names})"
    if kind in _EXPECTED_BY_TYPE:
        return _EXPECTED_BY_TYPE[kind]
    ctx = err.get("ctx") or {}
    if kind in ("literal_error", "enum") and "expected" in ctx:
        return f"one of {ctx['expected']}"
    msg = str(err.get("msg", ""))
    for prefix in ("Input should be ", "Value should be ", "Value error, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg or kind


def _path(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc)


def invalid_arguments(
    exc: ValidationError,
    *,
    tool: str,
    allowed: Sequence[str] = (),
    repairs: Sequence[str] = (),
) -> InvalidArguments:
    """One InvalidArguments listing every problem pydantic found, with a hint for the model."""
    details: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False):
        kind = err.get("type", "")
        field = _path(err.get("loc", ()))
        received = "nothing" if kind == "missing" else describe_received(err.get("input"))
        details.append(
            {
                "field": field,
                "expected": _expected(err, allowed),
                "received": received,
                "message": str(err.get("msg", "")),
            }
        )
    return build_invalid(tool, details, repairs=repairs)


def build_invalid(
    tool: str, details: list[dict[str, Any]], *, repairs: Sequence[str] = ()
) -> InvalidArguments:
    parts = [
        f"{d['field'] or '(arguments)'}: expected {d['expected']}, got {d['received']}"
        for d in details
    ]
    count = len(details)
    noun = "problem" if count == 1 else "problems"
    message = f"Invalid arguments for tool '{tool}' ({count} {noun}): " + "; ".join(parts)
    hint = (
        f"Call '{tool}' again with arguments that match its schema; fix: "
        + "; ".join(parts[:5])
        + ("; ..." if count > 5 else "")
    )
    return InvalidArguments(message, details, hint=hint, repairs=repairs)
