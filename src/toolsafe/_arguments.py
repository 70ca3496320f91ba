"""Raw tool arguments (a dict or the model's JSON text) to a dict, with clear errors.

Models send malformed JSON in a few recurring ways: truncated output, trailing
text, comments, Python literals (``True``, ``None``, single quotes). Each gets a
message that names the problem. Repair is opt-in (``repair=True``) and always
reports what it changed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from toolsafe._validation import build_invalid, json_type_name

__all__ = ["parse_arguments"]

_PY_LITERAL = re.compile(r"(?<![\"\w])(True|False|None)(?![\"\w])")


def _snippet(text: str, pos: int, width: int = 30) -> str:
    start = max(0, pos - width)
    return text[start : pos + width].replace("\n", " ")


def _diagnose(text: str, err: json.JSONDecodeError) -> str:
    stripped = text.strip()
    if not stripped:
        return "empty text"
    if err.msg == "Extra data":
        return f"trailing text after the JSON value at char {err.pos}: {_snippet(text, err.pos)!r}"
    if stripped.startswith("```"):
        return "the JSON is wrapped in a Markdown code fence"
    if re.search(r"(^|[\s,{\[])(//|/\*|#)", stripped):
        return f"JSON does not allow comments (near char {err.pos})"
    if _PY_LITERAL.search(stripped):
        return "Python literals (True/False/None) are not JSON: use true/false/null"
    if err.msg.startswith("Expecting property name enclosed in double quotes") or (
        "'" in stripped and '"' not in stripped
    ):
        if "'" in stripped:
            return "single-quoted strings are not JSON (this looks like a Python dict repr)"
        return f"a trailing comma or an unquoted key at char {err.pos}"
    if err.pos >= len(stripped) - 1 or err.msg.startswith("Unterminated string"):
        return f"the JSON looks truncated ({err.msg.lower()} at char {err.pos})"
    return f"{err.msg} at char {err.pos}: {_snippet(text, err.pos)!r}"


def parse_arguments(
    raw: Any, *, tool: str, repair: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """Return (arguments dict, repairs made). Raise InvalidArguments for anything else."""
    if raw is None:
        return {}, []
    if isinstance(raw, dict):
        return raw, []
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        if not raw.strip():
            return {}, []
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as err:
            if repair:
                from toolsafe._repair import repair_json

                fixed = repair_json(raw)
                if fixed is not None:
                    value, repairs = fixed
                    if isinstance(value, dict):
                        return value, repairs
            problem = _diagnose(raw, err)
            raise build_invalid(
                tool,
                [
                    {
                        "field": "",
                        "expected": "a JSON object",
                        "received": f"malformed JSON: {problem}",
                        "message": problem,
                    }
                ],
            ) from None
        if isinstance(value, dict):
            return value, []
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
