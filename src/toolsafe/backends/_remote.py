"""What crosses to a worker process or a Ray task and back, shared by both backends.

Going out: a ``Target`` (``target_of(tool)``, once per tool) says what the worker
calls; ``run_target`` is the worker's side: resolve the callable (a per-call copy
of an instance, as the thread backend makes, or a factory's fresh one), call it,
finish a coroutine, consume a returned iterator within the output bound
(``_drain``). Outputs are not trimmed in the worker: the runtime's output budget
does that, so ``Outcome.trimmed`` and ``full_text`` are right on every backend.

Coming back, an error travels as a tuple ``("err", blob, type, message, traceback,
retryable, retry_after_s)``: the exception itself when it survives pickling,
otherwise its type and attributes without calling ``__init__`` (custom
``__init__``s often break the default reduce), and in any case its name, message
and the worker's verdict on retrying, so the caller keeps them even when the
exception cannot come back.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from toolsafe.backends._base import EscapedBaseException
from toolsafe.backends._drain import DRAIN_CHARS, drain, drain_bound, is_lazy
from toolsafe.errors import ConfigurationError, ToolFailure, classify

if TYPE_CHECKING:
    from toolsafe._tool import Tool, ToolOptions

__all__ = [
    "Target",
    "error_reply",
    "load_exception",
    "not_serializable",
    "raise_reply",
    "run_target",
    "target_of",
]


@dataclass(frozen=True, slots=True)
class Target:
    """What a worker calls: a function, or a method of an instance."""

    fn: Callable[..., Any] | None
    instance: Any = None
    method: str | None = None
    #: ``instance`` is a factory called per call (``isolation=callable``).
    factory: bool = False
    #: Copy ``instance`` per call, keeping ``keep`` shared and deep-copying ``deep``
    #: (all when None): the tool's own isolation plan, as in the thread backend.
    copy: bool = False
    keep: tuple[str, ...] = ()
    deep: frozenset[str] | None = None
    #: Characters of a returned iterator to consume, and whether that is the tool's budget.
    drain_chars: int = DRAIN_CHARS
    budgeted: bool = False


def target_of(tool: Tool, *, copies: bool = True, options: ToolOptions | None = None) -> Target:
    """The tool-to-worker step. ``copies=False`` where every call gets its own
    unpickled instance anyway (a Ray task), so a per-call copy would be a second one.
    ``options``: those whose output budget bounds a returned iterator, when not the
    tool's own (``_drain.DRAIN_OPTIONS``)."""
    drain_chars, budgeted = drain_bound(options or tool.options)
    if tool.instance is None:
        if tool.fn is None:
            raise ConfigurationError(["built from a schema without a function: it only validates"])
        return Target(tool.fn, drain_chars=drain_chars, budgeted=budgeted)
    isolation = tool.options.isolation
    if callable(isolation):
        return Target(
            None,
            isolation,
            tool.method_name,
            factory=True,
            drain_chars=drain_chars,
            budgeted=budgeted,
        )
    plan = tool._plan  # the isolation plan made at registration (toolsafe._isolation)
    shared = plan is None or plan.report.mode == "shared"
    return Target(
        None,
        tool.instance,
        tool.method_name,
        copy=copies and not shared,
        keep=tuple(plan.keep) if plan is not None else (),
        deep=plan.deep if plan is not None else None,
        drain_chars=drain_chars,
        budgeted=budgeted,
    )


def run_target(
    target: Target,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    finish: Callable[[Coroutine[Any, Any, Any]], Any],
) -> Any:
    """In the worker: one call of ``target``; ``finish`` runs a coroutine to its end."""
    if target.fn is not None:
        fn = target.fn
    else:
        owner = target.instance() if target.factory else target.instance
        if target.copy:
            from toolsafe._isolation import isolate

            owner, _ = isolate(owner, keep=target.keep, deep=target.deep)
        fn = getattr(owner, cast(str, target.method))
    value = fn(*args, **kwargs)
    if inspect.iscoroutine(value):  # not asyncio's: on 3.11 it takes generators too
        value = finish(value)
    if is_lazy(value):
        value = drain(value, target.drain_chars, budgeted=target.budgeted)
    return value


Dumps = Callable[[Any], bytes]
Loads = Callable[[bytes], Any]


def error_reply(
    exc: BaseException, dumps: Dumps, loads: Loads, *, frames: int = 8
) -> tuple[Any, ...]:
    """The error tuple for ``exc``, raised in the worker."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-frames))
    blob: bytes | None
    try:
        blob = dumps(exc)
        loads(blob)  # some exceptions pickle but cannot be rebuilt: find out here
    except Exception:
        try:  # keep the type and attributes (an HTTP status) without calling __init__
            blob = dumps(("raw", type(exc), exc.args, dict(vars(exc))))
        except Exception:
            blob = None
    name = getattr(type(exc), "error_type", None) or type(exc).__name__
    message = str(exc)
    if isinstance(exc, ToolFailure):
        name, message = exc.type or name, exc.message
    verdict = classify(exc)
    return ("err", blob, name, message, text.rstrip(), verdict.retryable, verdict.retry_after_s)


def not_serializable(value: Any, exc: BaseException, where: str) -> ToolFailure:
    """The error for a result that cannot be pickled back from ``where``."""
    return ToolFailure(
        f"the tool returned a {type(value).__name__} that cannot be pickled back "
        f"from {where}: {exc}",
        type="ResultNotSerializable",
        hint="Return plain data (str, dict, list, numbers, pydantic models).",
    )


def load_exception(blob: bytes, loads: Loads) -> BaseException | None:
    try:
        loaded = loads(blob)
    except Exception:
        return None
    if isinstance(loaded, BaseException):
        return loaded
    try:
        _, cls, args, state = loaded
        exc: BaseException = cls.__new__(cls)
        exc.args = args
        exc.__dict__.update(state)
    except Exception:
        return None
    return exc


def raise_reply(reply: tuple[Any, ...], loads: Loads, *, where: str, tool_name: str) -> Any:
    """The value of an ``("ok", value, ...)`` reply; for an error tuple, raise the error."""
    if reply[0] == "ok":
        return reply[1]
    _, blob, type_name, message, remote_tb, retryable, retry_after = reply[:7]
    exc = None if blob is None else load_exception(blob, loads)
    if exc is None:
        exc = ToolFailure(
            message or type_name,
            type=type_name,
            retryable=retryable,
            retry_after_s=retry_after,
            details={"note": f"the exception could not be pickled back from {where}"},
        )
    if remote_tb and hasattr(exc, "add_note"):
        exc.add_note(f"raised in {where} of tool '{tool_name}':\n{remote_tb}")
    if not isinstance(exc, Exception):
        raise EscapedBaseException(exc)
    raise exc
