"""Bounded text that never raises: for everything toolsafe shows a model or writes to a log.

Everything here takes values a tool or a model handed us, which may be hostile:
a ``__str__`` or ``__repr__`` that raises (even ``KeyboardInterrupt``), nesting
deeper than the interpreter's recursion limit, integers longer than Python's
4,300-digit conversion limit, NaN, lone surrogates (``os.fsdecode`` of a
non-UTF-8 file name), or simply ten megabytes. ``json.dumps`` and ``repr`` fail
on each of those, or render all of a huge value before anyone can cut it, so the
fallbacks below stop at a size limit while rendering, not after.

Cut text ends in the marker ``… [+N chars]`` (the redactor's ``capped`` says the
same), so a reader knows it was cut and by how much.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
import sys
from typing import Any

__all__ = [
    "clip",
    "int_digits",
    "json_safe",
    "render_json",
    "safe_repr",
    "safe_str",
    "utf8_safe",
]

_SURROGATE = re.compile("[\ud800-\udfff]")


#: Room for the marker: a text cut once is not cut again (bounding is idempotent).
MARKER_SLACK = 32


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with a marker saying how many were cut.

    Text at most ``MARKER_SLACK`` over the limit is left alone, so clipping what
    was clipped before changes nothing.
    """
    if len(text) <= limit + MARKER_SLACK:
        return text
    return f"{text[:limit]}… [+{len(text) - limit:,} chars]"


def int_digits(value: int) -> int:
    """About how many decimal digits ``value`` has (exact up to rounding; no conversion)."""
    bits = abs(value).bit_length()
    return max(1, math.floor(bits * 0.30102999566398120) + 1)


def _too_long_int(value: int) -> bool:
    limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 0
    return limit > 0 and abs(value).bit_length() > limit * 3.32


def _int_text(value: int) -> str:
    if _too_long_int(value):
        return f"<integer of about {int_digits(value):,} digits>"
    try:
        return str(int(value))
    except ValueError:  # just over the limit (the bit estimate is approximate)
        return f"<integer of about {int_digits(value):,} digits>"


def safe_str(obj: Any, limit: int | None = None) -> str:
    """``str(obj)``, or a placeholder when its ``__str__`` raises (anything, even Ctrl-C)."""
    try:
        text = _int_text(obj) if type(obj) is int else str(obj)
    except BaseException as exc:  # a foreign __str__ can raise anything
        text = f"<{_type_name(obj)}: str() raised {_type_name(exc)}>"
    return text if limit is None else clip(text, limit)


class _Repr(reprlib.Repr):
    """``reprlib``: bounded per level and per item, so a huge value costs little."""

    def repr_int(self, x: int, level: int) -> str:
        return clip(_int_text(x), self.maxlong)

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            return super().repr_instance(x, level)
        except BaseException:  # a foreign __repr__ can raise anything
            return f"<{_type_name(x)} object: repr() raised>"


_REPR = _Repr()
_REPR.maxlevel = 6
_REPR.maxstring = 200
_REPR.maxother = 200
_REPR.maxlong = 200
for _name in ("maxdict", "maxlist", "maxtuple", "maxset", "maxfrozenset", "maxdeque", "maxarray"):
    setattr(_REPR, _name, 20)


def safe_repr(obj: Any, limit: int = 200) -> str:
    """A bounded ``repr(obj)`` that never raises (deep, huge, or a raising ``__repr__``)."""
    try:
        text = _REPR.repr(obj)
    except BaseException:  # a foreign __repr__ can raise anything
        text = f"<{_type_name(obj)} object: repr() raised>"
    return clip(text, limit)


def _type_name(obj: Any) -> str:
    try:
        return type(obj).__name__
    except BaseException:  # pragma: no cover - a metaclass could
        return "object"


# --------------------------------------------------------------------------- JSON


def render_json(value: Any, limit: int | None = None) -> str:
    """``value`` as JSON text (``str`` as it is), never raising, cut at ``limit`` characters.

    ``json.dumps`` first (fast, in C); anything it cannot render (deep nesting, huge
    integers, a raising ``__repr__``) goes through a bounded encoder that stops
    once ``limit`` characters are written. Non-JSON values are shown by their repr.
    """
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=safe_repr, allow_nan=False)
        except BaseException:  # deep, huge ints, NaN, a raising __iter__...
            text = _BoundedEncoder(limit if limit is not None else 1_000_000).encode(value)
    text = utf8_safe(text)[0]
    return text if limit is None else clip(text, limit)


class _Full(Exception):
    """The encoder's output reached its limit."""


class _BoundedEncoder:
    """JSON-like text of any value, at most ~``limit`` characters, at most 64 levels deep.

    Hand-written because ``json.dumps`` renders a whole value before it can be cut
    and fails outright on the inputs this exists for.
    """

    max_depth = 64

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 16)
        self.parts: list[str] = []
        self.size = 0

    def encode(self, value: Any) -> str:
        try:
            self.value(value, 0)
        except _Full:
            self.parts.append("…")
        except BaseException:  # a container subclass raising from items()
            self.parts.append(f"… <{_type_name(value)}: cannot be rendered>")
        return "".join(self.parts)

    def put(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        if self.size >= self.limit:
            raise _Full

    def value(self, value: Any, depth: int) -> None:
        if value is None or isinstance(value, bool):
            self.put("null" if value is None else "true" if value else "false")
        elif isinstance(value, str):
            self.put(json.dumps(clip(value, self.limit), ensure_ascii=False))
        elif isinstance(value, int):
            text = _int_text(value)
            self.put(text if text[:1] != "<" else json.dumps(text))
        elif isinstance(value, float):
            self.put(repr(value) if math.isfinite(value) else json.dumps(repr(value)))
        elif depth >= self.max_depth and isinstance(value, (dict, list, tuple)):
            self.put('"… (nested deeper)"')
        elif isinstance(value, dict):
            self.put("{")
            for index, (key, item) in enumerate(value.items()):
                if index:
                    self.put(", ")
                name = key if isinstance(key, str) else safe_str(key, 200)
                self.put(json.dumps(clip(name, self.limit), ensure_ascii=False) + ": ")
                self.value(item, depth + 1)
            self.put("}")
        elif isinstance(value, (list, tuple)):
            self.put("[")
            for index, item in enumerate(value):
                if index:
                    self.put(", ")
                self.value(item, depth + 1)
            self.put("]")
        else:
            self.put(json.dumps(safe_repr(value), ensure_ascii=False))


def json_safe(value: Any, *, max_items: int = 20, max_chars: int = 500, max_depth: int = 8) -> Any:
    """``value`` as plain JSON data, bounded: at most ``max_items`` per list or dict
    (the last then says how many more there were),
    strings cut at ``max_chars``, ``max_depth`` levels; huge integers, non-finite
    floats and other objects as short strings. Returns ``value`` itself when it is
    already within bounds (the common case costs one walk and no copy).
    """
    out, _ = _bounded(value, max_items, max_chars, max_depth, 0)
    return out


def _bounded(value: Any, items: int, chars: int, depth: int, level: int) -> tuple[Any, bool]:
    """(bounded value, whether it changed)."""
    kind = type(value)
    if kind is str:  # the common leaf: short ASCII text is within bounds as it is
        if value.isascii() and len(value) <= chars + MARKER_SLACK:
            return value, False
    elif kind is int:
        if value.bit_length() < 64:
            return value, False
    elif kind is dict and level < depth and len(value) <= items:
        return _bounded_dict(value, items, chars, depth, level)
    elif kind is list and level < depth and len(value) <= items:
        return _bounded_list(value, items, chars, depth, level)
    if value is None or isinstance(value, bool):
        return value, False
    if isinstance(value, str):
        safe = utf8_safe(value)[0]
        cut = clip(safe, chars)
        return cut, cut is not value
    if isinstance(value, int):
        if _too_long_int(value):
            return _int_text(value), True
        return value, False
    if isinstance(value, float):
        if math.isfinite(value):
            return value, False
        return repr(value), True
    if isinstance(value, (dict, list, tuple)) and level >= depth:
        return "… (nested deeper)", True
    if isinstance(value, dict):
        changed = False
        out: dict[str, Any] = {}
        keep = items if len(value) <= items else items - 1  # the marker is the last item
        for index, (key, item) in enumerate(value.items()):
            if index >= keep:
                out["…"] = f"{len(value) - keep:,} more"
                changed = True
                break
            name = key if isinstance(key, str) else safe_str(key)
            name_cut = clip(utf8_safe(name)[0], chars)
            new, moved = _bounded(item, items, chars, depth, level + 1)
            changed = changed or moved or name_cut is not key
            out[name_cut] = new
        return (out, True) if changed else (value, False)
    if isinstance(value, (list, tuple)):
        changed = isinstance(value, tuple)
        seq: list[Any] = []
        keep = items if len(value) <= items else items - 1  # the marker is the last item
        for index, item in enumerate(value):
            if index >= keep:
                seq.append(f"… {len(value) - keep:,} more")
                changed = True
                break
            new, moved = _bounded(item, items, chars, depth, level + 1)
            changed = changed or moved
            seq.append(new)
        return (seq, True) if changed else (value, False)
    return safe_repr(value, chars), True


def _bounded_dict(
    value: dict[Any, Any], items: int, chars: int, depth: int, level: int
) -> tuple[Any, bool]:
    """A dict with at most ``items`` entries (what ``_bounded`` would do, without a copy
    until something changes)."""
    out: dict[str, Any] | None = None
    for index, (key, item) in enumerate(value.items()):
        if type(key) is str and key.isascii() and len(key) <= chars + MARKER_SLACK:
            name = key
        else:
            text = key if isinstance(key, str) else safe_str(key)
            name = clip(utf8_safe(text)[0], chars)
        if type(item) is str and item.isascii() and len(item) <= chars + MARKER_SLACK:
            new, moved = item, False
        else:
            new, moved = _bounded(item, items, chars, depth, level + 1)
        if out is None and (moved or name is not key):
            out = dict(list(value.items())[:index])
        if out is not None:
            out[name] = new
    return (value, False) if out is None else (out, True)


def _bounded_list(
    value: list[Any], items: int, chars: int, depth: int, level: int
) -> tuple[Any, bool]:
    """A list of at most ``items`` items (what ``_bounded`` would do, without a copy
    until something changes: a ToolError's details, a list of problems, is one)."""
    out: list[Any] | None = None
    for index, item in enumerate(value):
        if type(item) is dict and level + 1 < depth and len(item) <= items:
            new, moved = _bounded_dict(item, items, chars, depth, level + 1)
        else:
            new, moved = _bounded(item, items, chars, depth, level + 1)
        if out is None and moved:
            out = value[:index]
        if out is not None:
            out.append(new)
    return (value, False) if out is None else (out, True)


# --------------------------------------------------------------------------- UTF-8


def utf8_safe(text: str) -> tuple[str, int]:
    """``text`` with each lone surrogate written as its escape ``\\udcff``; and how many.

    A lone surrogate (what ``os.fsdecode`` makes of a non-UTF-8 byte) cannot be
    encoded as UTF-8, so a transport writing it fails. Inside JSON text the escape
    is the standard one and decodes back to the same string.
    """
    if text.isascii():
        return text, 0
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        count = 0

        def escape(match: re.Match[str]) -> str:
            nonlocal count
            count += 1
            return f"\\u{ord(match.group()):04x}"

        return _SURROGATE.sub(escape, text), count
    return text, 0


def has_surrogate(text: str) -> bool:
    """True when ``text`` holds a lone surrogate (not valid UTF-8)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
