"""What crosses to a worker process or a Ray task and back, shared by both backends.

An error travels as a tuple ``("err", blob, type, message, traceback, retryable,
retry_after_s)``: the exception itself when it survives pickling, otherwise its
type and attributes without calling ``__init__`` (custom ``__init__``s often break
the default reduce), and in any case its name, message and the worker's verdict
on retrying, so the caller keeps them even when the exception cannot come back.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from toolsafe.backends._base import EscapedBaseException
from toolsafe.errors import ToolFailure, classify

__all__ = ["error_reply", "load_exception", "not_serializable", "raise_reply"]

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
