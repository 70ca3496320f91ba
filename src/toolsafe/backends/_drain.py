"""A tool that returns an iterator: consumed in its worker, in its time, within a bound.

A sync tool may return a generator (or ``map``, ``zip``, an open file: any
iterator), and its work only happens as it is consumed. Left to serialization,
that consumption would run on the event loop after the attempt's timeout stopped
counting: a slow generator would block the loop past every deadline, an endless
one would grow until the process died. So a backend consumes it where the body
ran (the worker thread or process), as part of the attempt:

- the time it takes counts against the attempt's timeout (past it the call gets
  its ``TimeoutError`` as for any slow body, and consumption stops at the next item);
- it stops once the items, as JSON, exceed the tool's output budget
  (``max_output_chars``; ``max_output_tokens`` × 16 characters; else
  ``DRAIN_CHARS``): the output budget then trims the text as usual, so
  ``Outcome.trimmed`` is true and ``full_text`` is what was consumed. Without a
  budget of its own, a marker item says where consumption stopped;
- the iterator is closed (``close()``) either way, so a generator's ``finally``
  blocks run in the worker;
- the call's value is the list of items consumed.

An async tool's returned iterator is consumed the same way, bounded by the same
budget and its attempt's timeout (checked between items), but on the event loop,
where the tool's own code runs: a generator that blocks per item blocks the loop
as a blocking ``async def`` body would (``drain_returned``).

The budget is the one the call runs with: the tool's own, else a runtime-wide
default (``Runtime(max_output_chars=...)``). The attempt step hands the latter to the
backend in ``ctx.state[DRAIN_OPTIONS]`` (only when it differs from the tool's own
options), and the express lane is compiled with it.

Only the returned object itself is consumed here; an iterator nested inside a
returned dict or list is serialized by the runtime as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from toolsafe.backends._base import AttemptTimeout

if TYPE_CHECKING:
    from toolsafe._tool import ToolOptions

__all__ = [
    "DRAIN_CHARS",
    "DRAIN_OPTIONS",
    "deadline_in",
    "drain",
    "drain_bound",
    "drain_returned",
    "draining",
    "is_lazy",
]

#: Characters of JSON consumed from an iterator a tool returns when it has no budget.
DRAIN_CHARS = 1_000_000
#: ``ctx.state`` key: the resolved options whose output budget bounds a returned
#: iterator, set by the attempt step only when that budget is not the tool's own (a
#: runtime-wide ``max_output_chars`` or ``max_output_tokens``); backends read it.
DRAIN_OPTIONS = "toolsafe.drain_options"
#: Characters per token assumed when only a token budget bounds the output (generous:
#: the budget, not this bound, decides what the model sees).
_CHARS_PER_TOKEN = 16

#: Result types that are never iterators, checked first (the usual results are these).
_PLAIN = frozenset({str, int, float, bool, type(None), dict, list, tuple, bytes})


def deadline_in(timeout: float | None) -> float | None:
    """The monotonic time ``timeout`` seconds from now (None: no limit), as ``drain`` reads it."""
    return None if timeout is None else time.monotonic() + timeout


def drain_bound(options: ToolOptions) -> tuple[int, bool]:
    """Characters to consume, and whether that bound is the tool's own output budget."""
    if options.max_output_chars is not None:
        return options.max_output_chars, True
    if options.max_output_tokens is not None:
        return options.max_output_tokens * _CHARS_PER_TOKEN, True
    return DRAIN_CHARS, False


def is_lazy(value: Any) -> bool:
    """True for an iterator the serializer would consume (not str, bytes or a mapping)."""
    return type(value) not in _PLAIN and isinstance(value, Iterator)


def _size(item: Any) -> int:
    from toolsafe._serialize import serialize_result

    try:
        text = serialize_result(item)
    except Exception:
        return 1  # the runtime reports unserializable results once the list is built
    return len(text) + 2 if isinstance(item, str) else len(text)


def drain(
    value: Iterator[Any], max_chars: int, *, budgeted: bool, deadline: float | None = None
) -> list[Any]:
    """The items of ``value`` up to ``max_chars`` of JSON; ``AttemptTimeout`` once
    ``deadline`` (monotonic) passed."""
    items: list[Any] = []
    size = 2  # the brackets
    try:
        for item in value:
            items.append(item)
            size += _size(item) + 1
            if size > max_chars:
                if not budgeted:
                    items.append(
                        f"[toolsafe: the tool's iterator was not consumed past {max_chars} "
                        "characters; set max_output_chars to bound it]"
                    )
                break
            if deadline is not None and time.monotonic() > deadline:
                # Stop the work. Usually the caller already has its TimeoutError; if this
                # thread got here first, a partial list must not pass for the result.
                raise AttemptTimeout("the tool's iterator was still yielding at its timeout")
    finally:
        close = getattr(value, "close", None)
        if callable(close):
            close()
    return items


def draining(
    fn: Callable[[], Any], options: ToolOptions, timeout: float | None
) -> Callable[[], Any]:
    """``fn`` whose returned iterator, if any, is consumed by the same (worker) call."""
    deadline = deadline_in(timeout)

    def run() -> Any:
        value = fn()
        if is_lazy(value):
            limit, budgeted = drain_bound(options)
            return drain(value, limit, budgeted=budgeted, deadline=deadline)
        return value

    return run


def drain_returned(value: Any, options: ToolOptions, deadline: float | None) -> Any:
    """``value``, or the items of it when it is an iterator (an async tool's return):
    bounded by the output budget and ``deadline`` (monotonic), never endless."""
    if not is_lazy(value):
        return value
    limit, budgeted = drain_bound(options)
    return drain(value, limit, budgeted=budgeted, deadline=deadline)
