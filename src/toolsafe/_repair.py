"""Opt-in repair of the malformed JSON models send, and the diagnosis of it.

Models break JSON in a few recurring ways: a Markdown code fence around it,
comments, trailing commas, Python literals (``True``, ``None``, single quotes),
text before or after the object, output cut off mid-object. ``repair_json``
fixes those and describes every change, because a silent repair hides a model
(or prompt) problem; ``diagnose`` names the same problems without changing
anything, for the error message when repair is off (the default).
"""

from __future__ import annotations

import ast
import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Finding", "diagnose", "parse_container", "repair_containers", "repair_json"]

_PAIRS = {"{": "}", "[": "]"}
_PY_WORDS = {"True": "true", "False": "false", "None": "null"}
_JSON_WORDS = frozenset({"true", "false", "null"})
_FENCE = re.compile(r"^```[\w+-]*[ \t]*\n?(.*?)(?:\n?```(.*))?$", re.S)
_LITERAL_LIMIT = 200_000  # ast.literal_eval on huge or deep input costs memory and recursion


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the text: how to say it, and what repair mode did about it."""

    problem: str
    repair: str


def _short(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


class _Scan:
    """One pass over the text that rewrites it as JSON and records each change."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[str] = []
        self.stack: list[str] = []
        self.kinds: dict[str, Finding] = {}
        self.unterminated = False
        self.trailing = ""

    def note(self, kind: str, finding: Finding) -> None:
        self.kinds.setdefault(kind, finding)

    def run(self) -> str:
        text, n, i = self.text, len(self.text), 0
        out = self.out
        while i < n:
            c = text[i]
            if c in "\"'":
                i = self.string(i)
                if not self.stack:
                    self.trailing = text[i:]
                    break
                continue
            if (c == "/" and text.startswith("//", i)) or c == "#":
                end = text.find("\n", i)
                i = n if end < 0 else end
                self.note("comment", _COMMENT)
                continue
            if c == "/" and text.startswith("/*", i):
                end = text.find("*/", i + 2)
                i = n if end < 0 else end + 2
                self.note("comment", _COMMENT)
                continue
            if c in _PAIRS:
                self.stack.append(c)
                out.append(c)
                i += 1
                continue
            if c in "}]":
                self.drop_comma(trailing=True)
                if self.stack and _PAIRS[self.stack[-1]] == c:
                    self.stack.pop()
                out.append(c)
                i += 1
                if not self.stack:
                    self.trailing = text[i:]
                    break
                continue
            if c.isalpha() or c == "_":
                i = self.word(i)
                continue
            out.append(c)
            i += 1
        if self.trailing.strip():
            snippet = _short(self.trailing)
            self.note(
                "trailing",
                Finding(
                    f"trailing text after the JSON value: {snippet!r}",
                    f"removed trailing text after the JSON value: {snippet!r}",
                ),
            )
        if self.stack:
            self.close()
        return "".join(out)

    def string(self, start: int) -> int:
        text, n = self.text, len(self.text)
        quote = text[start]
        if quote == "'":
            self.note("single", _SINGLE)
        buf = ['"']
        j = start + 1
        while j < n:
            ch = text[j]
            if ch == "\\":
                if j + 1 >= n:
                    j += 1
                    break
                nxt = text[j + 1]
                if nxt == "'":
                    buf.append("'")
                elif nxt in '"\\/bfnrtu':
                    buf.append(ch + nxt)
                else:  # not a JSON escape: keep the backslash as a character
                    buf.append("\\\\" + nxt)
                j += 2
                continue
            if ch == quote:
                buf.append('"')
                self.out.append("".join(buf))
                return j + 1
            if ch == '"':
                buf.append('\\"')
            elif ch < " ":
                buf.append(json.dumps(ch)[1:-1])
                self.note("control", _CONTROL)
            else:
                buf.append(ch)
            j += 1
        buf.append('"')
        self.out.append("".join(buf))
        self.unterminated = True
        return n

    def word(self, start: int) -> int:
        text, n = self.text, len(self.text)
        j = start
        while j < n and (text[j].isalnum() or text[j] == "_"):
            j += 1
        word = text[start:j]
        if word in _PY_WORDS:
            self.out.append(_PY_WORDS[word])
            self.note("python", _PYTHON)
        elif word in _JSON_WORDS:
            self.out.append(word)
        else:
            k = j
            while k < n and text[k] in " \t":
                k += 1
            if k < n and text[k] == ":" and self.stack and self.stack[-1] == "{":
                self.out.append(json.dumps(word))
                self.note("bare", _BARE_KEY)
            else:
                self.out.append(word)
        return j

    def last(self) -> int:
        k = len(self.out) - 1
        while k >= 0 and self.out[k].isspace():
            k -= 1
        return k

    def drop_comma(self, *, trailing: bool) -> bool:
        k = self.last()
        if k >= 0 and self.out[k] == ",":
            del self.out[k]
            if trailing:
                self.note("comma", _COMMA)
            return True
        return False

    def close(self) -> None:
        """The text ended inside an object or array: drop a dangling member, close brackets."""
        self.drop_comma(trailing=False)
        dangling = False
        if self.stack[-1] == "{":
            k = self.last()
            if k >= 0 and self.out[k] == ":":
                k -= 1
                while k >= 0 and self.out[k].isspace():
                    k -= 1
            if k >= 0 and self.out[k].startswith('"'):
                before = k - 1
                while before >= 0 and self.out[before].isspace():
                    before -= 1
                if before >= 0 and self.out[before] in ("{", ","):
                    # a key with no value: the member was cut off
                    del self.out[before + 1 if self.out[before] == "{" else before :]
                    dangling = True
        count = len(self.stack)
        self.out.extend(_PAIRS[c] for c in reversed(self.stack))
        parts = []
        if self.unterminated:
            parts.append("an unterminated string")
        parts.append(f"{count} unclosed bracket{'s' if count != 1 else ''}")
        closed = " and ".join(parts)
        cut = "; dropped an incomplete last member" if dangling else ""
        self.note(
            "truncated",
            Finding(
                f"the JSON is truncated ({closed})",
                f"closed {closed}{cut} (the JSON was truncated)",
            ),
        )


_COMMENT = Finding("JSON does not allow comments", "removed comments")
_COMMA = Finding("a trailing comma before a closing bracket", "removed trailing commas")
_PYTHON = Finding(
    "Python literals (True/False/None) are not JSON: use true/false/null",
    "replaced Python literals True/False/None with true/false/null",
)
_SINGLE = Finding(
    "single-quoted strings are not JSON (this looks like a Python repr): use double quotes",
    "converted single-quoted strings to double-quoted",
)
_BARE_KEY = Finding("object keys must be double-quoted strings", "quoted bare object keys")
_CONTROL = Finding(
    "raw control characters (such as a newline) inside a string must be escaped",
    "escaped raw control characters inside strings",
)
_FENCE_FINDING = Finding(
    "the JSON is wrapped in a Markdown code fence", "removed a Markdown code fence"
)
_LITERAL = Finding(
    "this is a Python literal, not JSON", "read the text as a Python literal (ast.literal_eval)"
)
_FAILED = object()


def _analyze(text: str) -> tuple[Any, list[Finding]]:
    """The repaired value (or ``_FAILED``) and every finding, in the order met."""
    findings: list[Finding] = []
    body = text.strip()
    fence = _FENCE.match(body) if body.startswith("```") else None
    if fence is not None:
        findings.append(_FENCE_FINDING)
        body = fence.group(1).strip()
        after = (fence.group(2) or "").strip()
        if after:
            snippet = _short(after)
            findings.append(
                Finding(
                    f"trailing text after the code fence: {snippet!r}",
                    f"removed trailing text after the code fence: {snippet!r}",
                )
            )
    try:
        return json.loads(body), findings
    except (ValueError, RecursionError):  # too deep, or an int of 4,301+ digits
        pass
    if body and body[0] not in "{[":
        starts = [p for p in (body.find("{"), body.find("[")) if p > 0]
        if starts:
            snippet = _short(body[: min(starts)])
            findings.append(
                Finding(
                    f"text before the JSON value: {snippet!r}",
                    f"removed text before the JSON value: {snippet!r}",
                )
            )
            body = body[min(starts) :]
    scan = _Scan(body)
    fixed = scan.run()
    findings.extend(scan.kinds.values())
    try:
        return json.loads(fixed), findings
    except (ValueError, RecursionError):  # too deep, or an int of 4,301+ digits
        pass
    value = _literal(body)
    if value is not _FAILED:
        return value, [*(f for f in findings if f is not _SINGLE and f is not _PYTHON), _LITERAL]
    return _FAILED, findings


def _literal(text: str) -> Any:
    if len(text) > _LITERAL_LIMIT:
        return _FAILED
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _FAILED
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data (tuples become lists), or ``_FAILED`` when it cannot be."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        items = [_jsonable(v) for v in value]
        return _FAILED if any(v is _FAILED for v in items) else items
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            converted = _jsonable(item)
            if not isinstance(key, str) or converted is _FAILED:
                return _FAILED
            out[key] = converted
        return out
    return _FAILED


def repair_json(text: str) -> tuple[Any, list[str]] | None:
    """``(value, repairs made)`` for malformed JSON text, or None when it cannot be repaired.

    Each repair is described in words (``"removed trailing commas"``), for the
    events and logs: a repair hides a model's mistake, so it must be visible.
    """
    value, findings = _analyze(text)
    if value is _FAILED:
        return None
    return value, [f.repair for f in findings]


def diagnose(text: str) -> list[str]:
    """What is wrong with ``text`` as JSON, one clause per problem (empty if nothing known)."""
    _, findings = _analyze(text)
    return [f.problem for f in findings]


# --------------------------------------------------------------------------- fields


def parse_container(value: Any) -> list[Any] | dict[str, Any] | None:
    """The list or dict held in a string (JSON or a Python repr), or None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or text[0] not in "[{(":
        return None
    try:
        parsed: Any = json.loads(text)
    except (ValueError, RecursionError):  # too deep, or an int of 4,301+ digits
        parsed = _literal(text)
    if isinstance(parsed, tuple):
        parsed = list(parsed)
    if isinstance(parsed, (list, dict)):
        return parsed
    return None


#: pydantic error types that mean "wanted an array" / "wanted an object".
ARRAY_ERRORS = frozenset({"list_type", "tuple_type", "set_type", "frozen_set_type"})
OBJECT_ERRORS = frozenset(
    {"dict_type", "model_type", "model_attributes_type", "dataclass_type", "typed_dict_type"}
)


def repair_containers(
    data: dict[str, Any], errors: Sequence[Any]
) -> tuple[dict[str, Any], list[str]] | None:
    """Parse string field values that hold a list/dict repr where an array/object is wanted.

    ``errors`` are pydantic error dicts. Returns a repaired copy of ``data`` and
    the repairs made, or None when nothing could be repaired.
    """
    fixed: dict[str, Any] | None = None
    repairs: list[str] = []
    for err in errors:
        kind = err.get("type")
        if kind in ARRAY_ERRORS:
            want: type = list
        elif kind in OBJECT_ERRORS:
            want = dict
        else:
            continue
        parsed = parse_container(err.get("input"))
        if not isinstance(parsed, want):
            continue
        if fixed is None:
            fixed = copy.deepcopy(data)
        path = _settable_path(fixed, err.get("loc", ()))
        if path is None:
            continue
        container, key, label = path
        if container[key] != err.get("input"):
            continue
        container[key] = parsed
        noun = "an array" if want is list else "an object"
        held = "list" if want is list else "dict"
        repairs.append(f"parsed field '{label}' from a string holding a {held} repr into {noun}")
    if fixed is None or not repairs:
        return None
    return fixed, repairs


def _settable_path(data: Any, loc: Sequence[Any]) -> tuple[Any, Any, str] | None:
    """Walk ``loc`` through ``data``, skipping pydantic's union tags; the last container/key."""
    node = data
    parent: Any = None
    key: Any = None
    label: list[str] = []
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            parent, key, node = node, part, node[part]
            label.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            parent, key, node = node, part, node[part]
            label.append(str(part))
        elif isinstance(node, str):
            break  # the rest are union tags
        else:
            continue  # a union tag inside a container
    if parent is None:
        return None
    return parent, key, ".".join(label)
