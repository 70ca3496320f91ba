"""Output budgets: make a tool's result fit the model's context, and say so.

A result over budget is trimmed according to its structure:

- a JSON array keeps its first items (as many as fit) and ends with a marker
  string saying how many were dropped;
- a JSON object keeps its keys (while they fit), shortens long values, and gets a
  ``"_trimmed"`` key holding the marker;
- nested values are shortened in place (``"abc… [+1,234 chars]"``, ``"… [+95 more
  items]"``) so the shape survives;
- text keeps its head and tail, cut at a paragraph, line, sentence or word
  boundary, with the marker in the middle.

Valid JSON in gives valid JSON out. Every trimmed output contains ``TRIM_MARKER``
and says what was cut and how to get more. Re-serializing pretty-printed JSON
compactly is not trimming: when that alone fits, the result carries no marker.
The runtime keeps the untrimmed text on ``Outcome.full_text``.

Pure text in, text out: the pipeline step that applies a tool's budget (and its
summarizer) is ``toolsafe.policies.budget``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from toolsafe._tokens import TokenCounter

__all__ = [
    "DEFAULT_TRIM_HINT",
    "TRIM_MARKER",
    "Fitted",
    "OutputBudget",
    "trim_output",
    "trim_to",
]

#: Every trimmed output contains this text.
TRIM_MARKER = "[trimmed by toolsafe"

DEFAULT_TRIM_HINT = (
    "The program keeps the full result. To see more, ask for less: a narrower query, "
    "a filter, fewer fields or a smaller page."
)

#: Results above this many characters are trimmed off the event loop.
_OFFLOAD_CHARS = 256_000

_SEPARATORS = (",", ":")

#: (max items per array, max keys per object, max chars per string, max depth), generous first.
_LADDER: tuple[tuple[int, int, int, int], ...] = (
    (100_000, 100_000, 100_000, 64),
    (1000, 1000, 2000, 32),
    (200, 500, 1000, 24),
    (100, 200, 500, 16),
    (50, 100, 300, 12),
    (25, 100, 200, 10),
    (10, 50, 120, 8),
    (5, 30, 80, 6),
    (3, 20, 50, 4),
    (2, 10, 30, 3),
    (1, 5, 20, 2),
    (0, 3, 10, 1),
    (0, 0, 0, 0),
)


@dataclass(frozen=True, slots=True)
class OutputBudget:
    """A limit in characters, tokens, or both (``None``: no limit of that kind)."""

    max_chars: int | None = None
    max_tokens: int | None = None
    counter: TokenCounter | None = None

    def fits(self, text: str) -> bool:
        if self.max_chars is not None and len(text) > self.max_chars:
            return False
        if self.max_tokens is not None:
            # Tokens never outnumber UTF-8 bytes (at most 4 per character): skip counting.
            if 4 * len(text) <= self.max_tokens:
                return True
            return self._counter().count(text) <= self.max_tokens
        return True

    def _counter(self) -> TokenCounter:
        if self.counter is None:
            from toolsafe._tokens import default_token_counter

            return default_token_counter()
        return self.counter


@dataclass(frozen=True, slots=True)
class Fitted:
    """What ``trim_output`` produced: the text, and whether content was cut."""

    text: str
    trimmed: bool


# --------------------------------------------------------------------------- public entry


def trim_output(
    text: str,
    *,
    max_chars: int | None = None,
    max_tokens: int | None = None,
    counter: TokenCounter | None = None,
    hint: str | None = None,
) -> Fitted:
    """Fit ``text`` into the budget, structure-aware; unchanged when it already fits.

    Below about 100 characters there is no room for content: the output is the
    marker alone (still valid JSON when the input was), and may exceed the limit.
    """
    budget = OutputBudget(max_chars, max_tokens, counter)
    if budget.fits(text):
        return Fitted(text, False)
    hint = hint or DEFAULT_TRIM_HINT
    parsed = _parse_json(text)
    if parsed is not _NOT_JSON:
        compact = json.dumps(parsed, ensure_ascii=False, separators=_SEPARATORS)
        if budget.fits(compact):
            return Fitted(compact, False)
    limit = len(text) if max_chars is None else max_chars
    if max_tokens is not None:
        sample = text[:20_000]
        per_token = len(sample) / max(1, budget._counter().count(sample))
        limit = min(limit, max(1, int(max_tokens * per_token)))
    for _ in range(10):
        out = _fit_chars(text, parsed, limit, hint)
        if budget.fits(out):
            return Fitted(out, True)
        if max_tokens is None:
            break
        tokens = budget._counter().count(out)
        limit = min(limit - 1, int(limit * max_tokens / max(tokens, 1) * 0.97))
        if limit < 1:
            break
    return Fitted(_fit_chars(text, parsed, 0, hint), True)


def trim_to(text: str, budget: OutputBudget, hint: str | None = None) -> Fitted:
    """``trim_output`` with the limits of ``budget``."""
    return trim_output(
        text,
        max_chars=budget.max_chars,
        max_tokens=budget.max_tokens,
        counter=budget.counter,
        hint=hint,
    )


# --------------------------------------------------------------------------- shape dispatch

_NOT_JSON: Any = object()


def _parse_json(text: str) -> Any:
    head = text.lstrip()[:1]
    if not head or head not in '[{"-0123456789tfnNI':  # what can start a JSON document
        return _NOT_JSON
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=_SEPARATORS)


def _jlen(value: Any) -> int:
    """``len(_dumps(value))`` for a scalar, without building an encoder."""
    if isinstance(value, str):
        return len(encode_basestring(value))
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    if isinstance(value, int):
        return len(int.__repr__(value))
    return len(_dumps(value))


def _fit_chars(text: str, parsed: Any, limit: int, hint: str) -> str:
    if parsed is _NOT_JSON:
        return _trim_text(text, limit, hint)
    if isinstance(parsed, (list, dict)):
        return _trim_container(parsed, len(text), limit, hint)
    if isinstance(parsed, str):
        return _trim_json_string(parsed, len(text), limit, hint)
    return _dumps(_marker("the value did not fit", len(text), hint, short=True))


def _marker(detail: str, original_chars: int, hint: str, *, short: bool) -> str:
    if short:
        return f"{TRIM_MARKER}: {detail}; ask for less]"
    return f"{TRIM_MARKER}: {detail}; {original_chars:,} characters in all. {hint}]"


def _use_short(limit: int, hint: str, original_chars: int) -> bool:
    full = _marker("showing the first 000 of 000 items", original_chars, hint, short=False)
    return limit < 4 * len(full)


# --------------------------------------------------------------------------- text


_HEAD_BREAKS = ("\n\n", "\n", ". ", " ")


def _trim_text(text: str, limit: int, hint: str) -> str:
    n = len(text)
    short = _use_short(limit, hint, n)

    def marker(cut: int) -> str:
        return _marker(f"{cut:,} characters cut from the middle", n, hint, short=short)

    sep = "\n…\n"
    room = limit - len(marker(n)) - 2 * len(sep)
    if room < 8:
        return _marker(f"all {n:,} characters cut", n, hint, short=True)
    head_end = _head_end(text, room * 2 // 3)
    tail_start = _tail_start(text, room - head_end)
    return text[:head_end] + sep + marker(tail_start - head_end) + sep + text[tail_start:]


def _head_end(text: str, size: int) -> int:
    start = max(0, size - max(size // 4, 1))
    window = text[start:size]
    for brk in _HEAD_BREAKS:
        i = window.rfind(brk)
        if i > 0:
            return start + i + (1 if brk == ". " else 0)
    return size


def _tail_start(text: str, size: int) -> int:
    begin = len(text) - max(size, 0)
    window = text[begin : begin + max(size // 4, 1)]
    for brk in _HEAD_BREAKS:
        i = window.find(brk)
        if i != -1:
            return begin + i + len(brk)
    return begin


def _trim_json_string(value: str, original_chars: int, limit: int, hint: str) -> str:
    inner = limit - 2
    for _ in range(12):
        out = _dumps(_trim_text(value, inner, hint))
        if len(out) <= limit or inner < 8:
            return out
        inner -= len(out) - limit + 1  # escapes made it longer: shrink by the overflow
    return _dumps(_marker(f"all {len(value):,} characters cut", original_chars, hint, short=True))


# --------------------------------------------------------------------------- JSON containers


class _TooBig(Exception):
    pass


class _Pruner:
    """Copies a JSON value with limits applied, counting its compact size as it goes.

    It stops (``_TooBig``) as soon as the copy exceeds ``limit``, so a try costs
    about the budget, not the size of the input.
    """

    def __init__(self, items: int, keys: int, chars: int, depth: int, limit: int) -> None:
        self.items, self.keys, self.chars, self.depth = items, keys, chars, depth
        self.limit = limit
        self.size = 0
        self.shortened = 0  # nested strings, arrays, objects cut

    def add(self, n: int) -> None:
        self.size += n
        if self.size > self.limit:
            raise _TooBig

    def value(self, v: Any, depth: int) -> Any:
        if isinstance(v, str):
            if len(v) > self.chars:
                v = f"{v[: self.chars]}… [+{len(v) - self.chars:,} chars]"
                self.shortened += 1
            self.add(_jlen(v))
            return v
        if isinstance(v, list):
            if v and depth >= self.depth:
                return self._summary(f"[… {len(v):,} items]")
            out = self.elements(v, depth)
            if len(v) > self.items:
                self.shortened += 1
                self.add(_jlen(note := f"… [+{len(v) - self.items:,} more items]") + 1)
                out.append(note)
            return out
        if isinstance(v, dict):
            if v and depth >= self.depth:
                return self._summary(f"{{… {len(v):,} keys}}")
            obj = self.members(v, depth)
            if len(v) > self.keys:
                self.shortened += 1
                key = _free_key(obj, "…")
                note = f"+{len(v) - self.keys:,} more keys"
                self.add(_jlen(key) + _jlen(note) + 2)
                obj[key] = note
            return obj
        self.add(_jlen(v))
        return v

    def _summary(self, text: str) -> str:
        self.shortened += 1
        self.add(_jlen(text))
        return text

    def elements(self, v: list[Any], depth: int) -> list[Any]:
        self.add(2)
        out: list[Any] = []
        for item in itertools.islice(v, self.items):
            if out:
                self.add(1)
            out.append(self.value(item, depth + 1))
        return out

    def members(self, v: dict[str, Any], depth: int) -> dict[str, Any]:
        self.add(2)
        obj: dict[str, Any] = {}
        for key, item in itertools.islice(v.items(), self.keys):
            self.add(_jlen(key) + 1 + (1 if obj else 0))
            obj[key] = self.value(item, depth + 1)
        return obj


def _free_key(obj: dict[str, Any], base: str) -> str:
    key = base
    while key in obj:
        key += "_"
    return key


def _interp(a: int, b: int, t: float) -> int:
    scaled: float = float(a + 1) ** (1 - t) * float(b + 1) ** t
    return max(0, round(scaled) - 1)


def _trim_container(
    data: list[Any] | dict[str, Any], original_chars: int, limit: int, hint: str
) -> str:
    short = _use_short(limit, hint, original_chars)
    total = len(data)
    noun = "items" if isinstance(data, list) else "keys"
    top_key = _free_key(data, "_trimmed") if isinstance(data, dict) else ""

    def marker(kept: int, shortened: bool) -> str:
        parts = []
        if kept < total:
            parts.append(f"showing the first {kept:,} of {total:,} {noun}")
        if shortened or not parts:
            parts.append("long values shortened")
        return _marker(", ".join(parts), original_chars, hint, short=short)

    worst = marker(0, True).replace("0", "0" * len(str(total)), 1)
    if isinstance(data, list):
        reserve = len(_dumps(worst)) + 1
    else:
        reserve = len(_dumps(top_key)) + len(_dumps(worst)) + 2

    def attempt(params: tuple[int, int, int, int]) -> str | None:
        items, keys, chars, depth = params
        pruner = _Pruner(items, keys, chars, depth, limit - reserve)
        try:
            if isinstance(data, list):
                body: Any = pruner.elements(data, 0)
                kept = len(body)
                body.append(marker(kept, pruner.shortened > 0))
            else:
                body = pruner.members(data, 0)
                kept = len(body)
                body[top_key] = marker(kept, pruner.shortened > 0)
        except (_TooBig, RecursionError):
            return None
        out = _dumps(body)
        return out if len(out) <= limit else None

    def top_param(i: int) -> tuple[int, int, int, int]:
        items, keys, chars, depth = _LADDER[i]
        # The top level is the one the marker describes: let it keep what fits.
        return items, keys, chars, depth + 1

    previous: tuple[int, int, int, int] | None = None
    for i in range(len(_LADDER)):
        params = top_param(i)
        found = attempt(params)
        if found is None:
            previous = params
            continue
        if previous is None:
            return found
        lo, hi = 0.0, 1.0  # t=1 is the level that fits; look for a gentler one
        best = found
        for _ in range(8):
            mid = (lo + hi) / 2
            candidate = attempt(
                (
                    _interp(previous[0], params[0], mid),
                    _interp(previous[1], params[1], mid),
                    _interp(previous[2], params[2], mid),
                    max(params[3], round(previous[3] * (1 - mid) + params[3] * mid)),
                )
            )
            if candidate is None:
                lo = mid
            else:
                hi, best = mid, candidate
        return best
    minimal = _marker(f"all {total:,} {noun} cut", original_chars, hint, short=True)
    return _dumps([minimal] if isinstance(data, list) else {top_key: minimal})
