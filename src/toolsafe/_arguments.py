"""Raw tool arguments (a dict or the model's JSON text) to a dict, with clear errors.

Models send malformed JSON in a few recurring ways: truncated output, trailing
text, comments, Python literals (``True``, ``None``, single quotes). Each gets a
message that names the problem. Repair is opt-in (``repair=True``) and always
reports what it changed.

Hostile input is answered, never raised: JSON nested deeper than
``MAX_ARGUMENT_DEPTH`` levels (the parser would hit the recursion limit, and so
would every log and trace after it), integers longer than Python's 4,300-digit
conversion limit, and, in strict mode, what JSON cannot carry: NaN and Infinity,
and strings with lone surrogates (``\udcff``: not valid Unicode text, they cannot
be written as UTF-8). Each is an ``InvalidArguments`` naming the field. In lax
mode (``strict=False``) NaN, Infinity and lone surrogates reach the tool as they
are.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from toolsafe._text import clip, has_surrogate
from toolsafe._validation import build_invalid, json_type_name
from toolsafe.errors import MAX_DETAIL_ITEMS, InvalidArguments

__all__ = ["MAX_ARGUMENT_DEPTH", "arguments_clean", "check_arguments", "parse_arguments"]

#: Deeper arguments are rejected: no tool schema needs it, and pydantic, ``json``,
#: logs and traces all recurse over the value.
MAX_ARGUMENT_DEPTH = 128

_LONG_INT = re.compile(r"\d{4301,}")


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


def _unreadable(tool: str, raw: str, err: Exception) -> InvalidArguments:
    """Valid-looking JSON that Python's parser refuses: too deep, or a huge integer."""
    if isinstance(err, RecursionError):
        problem = f"the JSON is nested too deeply (more than {MAX_ARGUMENT_DEPTH} levels)"
    else:
        found = _LONG_INT.search(raw)
        digits = len(found.group()) if found else 4301
        where = f" at char {found.start()}" if found else ""
        problem = f"a number of {digits:,} digits{where}: at most 4,300 digits are accepted"
    return build_invalid(
        tool,
        [{"field": "", "expected": "a JSON object", "received": problem, "message": problem}],
    )


def parse_arguments(
    raw: Any, *, tool: str, repair: bool = False, strict: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """Return (arguments dict, repairs made). Raise InvalidArguments for anything else.

    The dict is also checked by ``check_arguments`` (depth; NaN and lone
    surrogates in strict mode).
    """
    value, repairs = _parse(raw, tool=tool, repair=repair, strict=strict)
    if not arguments_clean(value, strict):
        check_arguments(value, tool=tool, strict=strict)
    return value, repairs


def _parse(raw: Any, *, tool: str, repair: bool, strict: bool) -> tuple[dict[str, Any], list[str]]:
    if raw is None:
        return {}, []
    if isinstance(raw, dict):
        return raw, []
    if isinstance(raw, Mapping):
        return dict(raw), []
    if isinstance(raw, (bytes, bytearray)):
        try:
            raw = bytes(raw).decode("utf-8", errors="strict" if strict else "replace")
        except UnicodeDecodeError as err:  # strict: no silent U+FFFD in what reaches the tool
            problem = f"the bytes are not valid UTF-8 (at byte {err.start})"
            raise build_invalid(
                tool,
                [{"field": "", "expected": "UTF-8 text", "received": problem, "message": problem}],
            ) from None
    if isinstance(raw, str):
        if not raw.strip():
            return {}, []
        repairs: list[str] = []
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as err:
            try:
                fixed = _repair(raw) if repair else None
            except RecursionError:
                fixed = None
            if fixed is None or not isinstance(fixed[0], dict):
                raise _malformed(tool, _diagnose(raw, err)) from None
            value, repairs = fixed
        except (ValueError, RecursionError) as err:
            raise _unreadable(tool, raw, err) from None
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


# --------------------------------------------------------------------------- hygiene


def arguments_clean(value: Any, strict: bool) -> bool:
    """True when ``value`` needs no closer look: not too deep, and in strict mode no
    NaN/Infinity and no lone surrogate. One pass without paths (the hot path)."""
    if type(value) is dict:  # the common case first: a flat dict of plain values
        for key, item in value.items():
            if strict and (type(key) is not str or not key.isascii()):
                break
            kind = type(item)
            if kind is str:
                if strict and not item.isascii():
                    break
            elif kind not in _PLAIN:
                break
        else:
            return True
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth >= MAX_ARGUMENT_DEPTH:
            return False
        if isinstance(node, dict):
            if strict and not _keys_clean(node):
                return False
            items: Any = node.values()
        else:
            items = node
        for item in items:
            kind = type(item)
            if kind in _PLAIN:
                continue
            if kind is str:
                if strict and not item.isascii() and has_surrogate(item):
                    return False
            elif kind is float:
                if strict and not math.isfinite(item):
                    return False
            elif isinstance(item, (dict, list, tuple)):
                push((item, depth + 1))
            elif strict and isinstance(item, (str, float)):
                return False  # a subclass: the slow path looks at it
    return True


_PLAIN = frozenset({int, bool, type(None)})


def _keys_clean(node: dict[Any, Any]) -> bool:
    for key in node:
        if type(key) is not str or (not key.isascii() and has_surrogate(key)):
            return False
    return True


def check_arguments(value: Any, *, tool: str, strict: bool = True) -> None:
    """Raise InvalidArguments naming each field that is too deep, non-finite or not
    valid Unicode (the last two in strict mode only)."""
    details: list[dict[str, Any]] = []
    count = 0
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if len(path) >= MAX_ARGUMENT_DEPTH:
            count += 1
            if len(details) < MAX_DETAIL_ITEMS:
                details.append(
                    _detail(
                        path,
                        f"at most {MAX_ARGUMENT_DEPTH} levels of nesting",
                        f"a value nested more than {MAX_ARGUMENT_DEPTH} levels deep",
                    )
                )
            continue
        if isinstance(node, dict):
            pairs: list[tuple[str, Any]] = []
            for key, item in node.items():
                name = key if isinstance(key, str) else str(key)
                if strict and isinstance(key, str) and has_surrogate(key):
                    count += 1
                    if len(details) < MAX_DETAIL_ITEMS:
                        details.append(_surrogate_detail((*path, _escaped(name)), key="key"))
                pairs.append((_escaped(name), item))
        elif isinstance(node, (list, tuple)):
            pairs = [(str(i), item) for i, item in enumerate(node)]
        else:
            continue
        for name, item in reversed(pairs):
            where = (*path, name)
            if isinstance(item, str):
                if strict and has_surrogate(item):
                    count += 1
                    if len(details) < MAX_DETAIL_ITEMS:
                        details.append(_surrogate_detail(where))
            elif isinstance(item, float) and not isinstance(item, bool):
                if strict and not math.isfinite(item):
                    count += 1
                    if len(details) < MAX_DETAIL_ITEMS:
                        details.append(
                            _detail(
                                where,
                                "a finite number (NaN and Infinity are not JSON)",
                                f"{item!r} (number)",
                            )
                        )
            elif isinstance(item, (dict, list, tuple)):
                stack.append((item, where))
    if details:
        raise build_invalid(tool, details, count=count)


def _escaped(name: str) -> str:
    return clip(name.encode("utf-8", "backslashreplace").decode("utf-8"), 200)


def _detail(path: tuple[str, ...], expected: str, received: str) -> dict[str, Any]:
    field = ".".join(path)
    return {"field": field, "expected": expected, "received": received, "message": expected}


def _surrogate_detail(path: tuple[str, ...], key: str = "value") -> dict[str, Any]:
    return _detail(
        path,
        "valid Unicode text (no lone surrogates such as \\udcff)",
        f"a string {key} holding a lone surrogate (not valid UTF-8)",
    )
