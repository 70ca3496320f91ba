"""Raw tool arguments (a dict or the model's JSON text) to a dict, with clear errors.

Models send malformed JSON in a few recurring ways: truncated output, trailing
text, comments, Python literals (``True``, ``None``, single quotes). Each gets a
message that names the problem. Repair is opt-in (``repair=True``) and always
reports what it changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from toolsafe._validation import build_invalid, json_type_name
from toolsafe.errors import InvalidArguments

__all__ = ["parse_arguments"]


def _snippet(text: str, pos: int, width: int = 30) -> str:
    start = max(0, pos - width)
    return text[start : pos + width].replace("\n", " ")


def _diagnose(text: str, err: json.JSONDecodeError) -> str:
    """One clear sentence on what is wrong with the JSON text (every known problem named)."""
    if not text.strip():
        return "empty text"
    from toolsafe._repair import diagnose

    problems = diagnose(text)
    if problems:
        return "; ".join(problems)
    if err.pos >= len(text.rstrip()):
        return f"the JSON ends early ({err.msg.lower()} at char {err.pos})"
    return f"{err.msg} at char {err.pos}: {_snippet(text, err.pos)!r}"


def _malformed(tool: str, problem: str) -> InvalidArguments:
    return build_invalid(
        tool,
        [
            {
                "field": "",
                "expected": "a JSON object",
                "received": f"malformed JSON: {problem}",
                "message": problem,
            }
        ],
    )


def _repair(text: str) -> tuple[Any, list[str]] | None:
    from toolsafe._repair import repair_json

    return repair_json(text)


def parse_arguments(
    raw: Any, *, tool: str, repair: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """Return (arguments dict, repairs made). Raise InvalidArguments for anything else."""
    if raw is None:
        return {}, []
    if isinstance(raw, dict):
        return raw, []
    if isinstance(raw, Mapping):
        return dict(raw), []
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        if not raw.strip():
            return {}, []
        repairs: list[str] = []
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as err:
            fixed = _repair(raw) if repair else None
            if fixed is None or not isinstance(fixed[0], dict):
                raise _malformed(tool, _diagnose(raw, err)) from None
            value, repairs = fixed
        if isinstance(value, str) and value.strip()[:1] == "{":
            # double-encoded: a JSON string whose content is the JSON object
            inner = _repair(value) if repair else None
            if inner is None or not isinstance(inner[0], dict):
                raise _malformed(
                    tool,
                    "the arguments are a JSON string holding JSON (double-encoded): "
                    "send the object itself",
                )
            value = inner[0]
            repairs = [*repairs, "decoded double-encoded JSON (a string holding the object)"]
            repairs += inner[1]
        if isinstance(value, dict):
            return value, repairs
        raw = value
    raise build_invalid(
        tool,
        [
            {
                "field": "",
                "expected": "a JSON object of named arguments",
                "received": json_type_name(raw),
                "message": "arguments must be an object",
            }
        ],
    )
