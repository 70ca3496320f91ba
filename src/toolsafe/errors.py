"""Structured tool errors: the payload, its wire format, classification and exceptions.

One error, one shape everywhere. ``ToolError`` is the data object carried by
outcomes, events, logs, recordings and traces; its text form is the wire format
that agents and frameworks already parse::

    Error executing tool: {"error": true, "type": "TimeoutError", "message": "...", "retryable": true}

The prefix and the first four keys, in that order, are a compatibility contract.
Optional keys follow (tool, call_id, attempts, elapsed_ms, retry_after_s, cause,
details, hint, traceback).

Every field is bounded when the ToolError is made (``MAX_MESSAGE_CHARS`` and
friends; cut text ends in ``… [+N chars]``), and building one never raises, whatever
the exception does: a ``__str__`` or property that raises, a huge message, a
lone surrogate. The text is always valid UTF-8.

Exceptions raised by toolsafe itself::

    ToolsafeError
    ├── ConfigurationError      a tool or runtime is defined wrongly (all problems at once)
    ├── InvalidArguments        the model's arguments do not fit the schema (.details)
    ├── ToolFailure             raised by a tool to state its own error and retryability
    ├── ToolCallError           raised by Outcome.unwrap(); carries the ToolError (.error)
    └── UnknownTool             no tool of that name is registered (also a KeyError)

**Rejections** (``is_rejection``) are the one family of errors that say the tool
body certainly did not run, so retrying cannot repeat a side effect: ``CircuitOpen``,
``RateLimited`` and ``ConcurrencyLimited`` (``REJECTION_TYPES``, built by
``toolsafe.policies.rejections``), a ``TimeoutError`` raised before the attempt
started (an exception that is a ``NotStarted``: no worker came free, no time was
left), and a shared store that failed before the body ran. All are retryable; a
tool not declared idempotent is retried only after one, and a breaker does not
count them. The mark is ``ToolError.rejected`` (never serialized).
"""

from __future__ import annotations

import datetime
import email.utils
import errno
import json
import math
import operator
import sys
import time
import traceback as _traceback
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from toolsafe._text import MARKER_SLACK, clip, json_safe, safe_repr, safe_str, utf8_safe

__all__ = [
    "ERROR_PREFIX",
    "REJECTION_TYPES",
    "Classification",
    "ConfigurationError",
    "InvalidArguments",
    "NotStarted",
    "ToolCallError",
    "ToolError",
    "ToolFailure",
    "ToolsafeError",
    "UnknownTool",
    "classify",
    "format_tool_error",
    "is_rejection",
    "parse_tool_error",
    "register_classifier",
    "unregister_classifier",
]

ERROR_PREFIX = "Error executing tool: "

#: Types of the pipeline's own refusals: always rejections, whoever built them (a
#: ``TimeoutError`` is one only when its attempt never started: see ``NotStarted``).
REJECTION_TYPES = frozenset({"CircuitOpen", "RateLimited", "ConcurrencyLimited"})

_MAX_DETAIL_REPR = 200

#: Bounds on the text of a ToolError (what a model reads and a log keeps).
MAX_MESSAGE_CHARS = 2000
MAX_HINT_CHARS = 1000
MAX_TRACEBACK_CHARS = 8000
#: type, tool, call_id, cause: names, not prose.
MAX_NAME_CHARS = 200
#: Problems listed in full (the rest are counted).
MAX_DETAIL_ITEMS = 20


# --------------------------------------------------------------------------- exceptions


class ToolsafeError(Exception):
    """Base of every exception toolsafe raises."""


class ConfigurationError(ToolsafeError):
    """A tool or runtime is defined wrongly. ``problems`` lists every issue found."""

    def __init__(self, problems: Sequence[str] | str, *, subject: str | None = None) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        self.subject = subject
        head = f"{subject}: " if subject else ""
        if len(self.problems) == 1:
            text = head + self.problems[0]
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            text = f"{head}{len(self.problems)} problems:\n{lines}"
        super().__init__(text)


class NotStarted(Exception):
    """Base (mixed in) of an exception raised before the tool body started, e.g. the
    backends' ``NotStartedTimeout``: its ToolError is a rejection (``is_rejection``)."""


class InvalidArguments(ToolsafeError):
    """The arguments do not fit the tool's schema.

    ``details`` is a list of dicts, one per problem, each with ``field`` (a dotted
    path, ``""`` for the whole input), ``expected``, ``received`` and ``message``.
    """

    #: ``details`` are within a ToolError's bounds as they are (short ASCII strings,
    #: few problems: ``_validation.build_invalid`` says so), so none is walked again.
    _plain_details = False

    def __init__(
        self,
        message: str,
        details: Sequence[Mapping[str, Any]] = (),
        *,
        hint: str | None = None,
        repairs: Sequence[str] = (),
    ) -> None:
        self.details: list[dict[str, Any]] = [dict(d) for d in details]
        self.hint = hint
        self.repairs: list[str] = list(repairs)
        super().__init__(message)


class ToolFailure(ToolsafeError):
    """Raise from a tool to state the error yourself, including whether a retry can help.

    >>> raise ToolFailure("quota exhausted", retryable=True, retry_after_s=30)
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after_s: float | None = None,
        type: str | None = None,
        hint: str | None = None,
        details: Any = None,
    ) -> None:
        self.message = message
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.type = type
        self.hint = hint
        self.details = details
        super().__init__(message)


class ToolCallError(ToolsafeError):
    """Raised by ``Outcome.unwrap()`` when the call failed; ``.error`` is the ToolError."""

    def __init__(self, error: ToolError) -> None:
        self.error = error
        super().__init__(f"{error.type}: {error.message}")


class UnknownTool(ToolsafeError, KeyError):
    """No tool of that name is registered."""

    def __init__(self, name: str, known: Sequence[str], suggestion: str | None = None) -> None:
        self.name = name
        self.known = list(known)
        self.suggestion = suggestion
        super().__init__(name)

    def __str__(self) -> str:
        shown = [clip(k, MAX_NAME_CHARS) for k in self.known[:50]]
        more = len(self.known) - len(shown)
        known = ", ".join(shown) + (f" and {more:,} more" if more > 0 else "")
        tip = f" Did you mean '{self.suggestion}'?" if self.suggestion else ""
        return f"Unknown tool '{clip(self.name, MAX_NAME_CHARS)}'.{tip} Available tools: {known or '(none)'}."


# --------------------------------------------------------------------------- payload


@dataclass(frozen=True, slots=True)
class ToolError:
    """The structured error: what the model sees, and what listeners and logs carry."""

    type: str
    message: str
    retryable: bool
    tool: str | None = None
    call_id: str | None = None
    attempts: int | None = None
    elapsed_ms: float | None = None
    retry_after_s: float | None = None
    cause: str | None = None
    details: Any = None
    hint: str | None = None
    traceback: str | None = None
    #: The original exception, when this process saw it. Never serialized.
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    #: The body certainly did not run (a rejection; see ``is_rejection``). Never serialized.
    rejected: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Bound every field once, here, so no producer (the runtime, a policy, a
        # backend, user code) can hand a model or a log an unbounded error.
        self._bound(None)

    def _bound(self, changed: Collection[str] | None) -> None:
        """Bound the fields (only those ``changed``: the others already are)."""
        limits: tuple[tuple[str, int], ...]
        values: tuple[Any, ...]
        if changed is None or changed is _TEXT_FIELDS:
            limits = _FIELD_LIMITS
            values = _limited_values(self)
        else:
            limits = tuple((name, limit) for name, limit in _FIELD_LIMITS if name in changed)
            values = tuple(getattr(self, name) for name, _ in limits)
        for (name, limit), value in zip(limits, values, strict=True):
            if value is None or (
                type(value) is str and len(value) <= limit + MARKER_SLACK and value.isascii()
            ):
                continue  # within bounds as it is (the common case)
            if isinstance(value, str):
                bounded = clip(utf8_safe(value)[0], limit)
                if bounded is not value:
                    object.__setattr__(self, name, bounded)
            elif value is not None and name in ("type", "message"):
                object.__setattr__(self, name, clip(safe_str(value), limit))
        retry_after = self.retry_after_s
        if retry_after is not None and not (
            isinstance(retry_after, (int, float)) and math.isfinite(retry_after)
        ):
            object.__setattr__(self, "retry_after_s", None)
        if self.details is not None and (changed is None or "details" in changed):
            details = json_safe(self.details, max_items=MAX_DETAIL_ITEMS)
            if details is not self.details:
                object.__setattr__(self, "details", details)

    def to_dict(self) -> dict[str, Any]:
        """The wire dict: contract keys first, optional keys only when set."""
        out: dict[str, Any] = {
            "error": True,
            "type": self.type,
            "message": self.message,
            "retryable": self.retryable,
        }
        # One test per key rather than a loop over _OPTIONAL_KEYS (in its order): one is
        # built per failed call.
        tool, call_id, attempts, elapsed_ms, retry_after_s, cause, details, hint, tb = (
            _optional_values(self)
        )
        if tool is not None:
            out["tool"] = tool
        if call_id is not None:
            out["call_id"] = call_id
        if attempts is not None:
            out["attempts"] = attempts
        if elapsed_ms is not None:
            out["elapsed_ms"] = elapsed_ms
        if retry_after_s is not None:
            out["retry_after_s"] = retry_after_s
        if cause is not None:
            out["cause"] = cause
        if details is not None:
            out["details"] = details
        if hint is not None:
            out["hint"] = hint
        if tb is not None:
            out["traceback"] = tb
        return out

    def to_text(self) -> str:
        """The line the model sees: ``Error executing tool: {...}`` (valid UTF-8, bounded)."""
        data = self.to_dict()
        try:
            body = _encode(data)
        except (TypeError, ValueError, RecursionError):  # pragma: no cover - fields are bounded
            data["details"] = safe_repr(data.get("details"), MAX_MESSAGE_CHARS)
            body = _encode(data)
        return ERROR_PREFIX + utf8_safe(body)[0]

    def __str__(self) -> str:
        return self.to_text()

    def with_(self, **changes: Any) -> ToolError:
        """A copy with some fields changed (the object is frozen); only those are re-bounded."""
        unknown = changes.keys() - _FIELD_NAMES
        if unknown:
            raise TypeError(f"ToolError has no field(s) {', '.join(sorted(unknown))}")
        new = object.__new__(type(self))
        get = changes.get
        for name, put, value in zip(_FIELD_NAMES, _FIELD_SETTERS, _field_values(self), strict=True):
            put(new, get(name, value))
        new._bound(changes)
        return new

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolError:
        """Rebuild from ``to_dict()`` output (unknown keys are ignored)."""
        extra = {k: data[k] for k in _OPTIONAL_KEYS if k in data}
        return cls(
            type=str(data["type"]),
            message=str(data["message"]),
            retryable=bool(data["retryable"]),
            **extra,
        )

    @classmethod
    def from_exception(
        cls,
        exc: BaseException,
        *,
        tool: str | None = None,
        call_id: str | None = None,
        include_traceback: bool = False,
        traceback_frames: int = 5,
    ) -> ToolError:
        """Classify ``exc`` and build its ToolError (never raises, whatever ``exc`` does)."""
        return _error_of(cls, exc, tool, call_id, None, None, include_traceback, traceback_frames)


def error_of(
    exc: BaseException,
    *,
    tool: str | None,
    call_id: str | None,
    attempts: int | None,
    elapsed_ms: float | None,
) -> ToolError:
    """The ToolError a call ends with: ``ToolError.from_exception(exc, tool=tool,
    call_id=call_id).with_(attempts=attempts, elapsed_ms=elapsed_ms)``, built once
    rather than built and then copied (the express lane's refusal of invalid arguments)."""
    return _error_of(ToolError, exc, tool, call_id, attempts, elapsed_ms, False, 5)


def _error_of(
    cls: type[ToolError],
    exc: BaseException,
    tool: str | None,
    call_id: str | None,
    attempts: int | None,
    elapsed_ms: float | None,
    include_traceback: bool,
    traceback_frames: int,
) -> ToolError:
    verdict = classify(exc)
    if isinstance(exc, ToolFailure):
        type_name = safe_str(exc.type) if exc.type else "ToolFailure"
        message = safe_str(exc.message)
        hint = None if exc.hint is None else safe_str(exc.hint)
        details = exc.details
    elif isinstance(exc, InvalidArguments):
        type_name, message, hint, details = (
            "InvalidArguments",
            _message_of(exc),
            exc.hint,
            exc.details,
        )
    else:
        type_name = _error_type(exc)
        message, hint, details = _message_of(exc), None, None
    tb = format_traceback(exc, traceback_frames) if include_traceback else None
    if isinstance(exc, InvalidArguments) and exc._plain_details and cls is ToolError:
        # Details bounded as they are (what json_safe would give back is ``details``
        # itself): the fields set by their slots, as ``with_`` does, rather than by the
        # frozen dataclass's ``__init__``, and only the text fields bounded.
        new = object.__new__(ToolError)
        values = (
            type_name,
            message,
            verdict.retryable,
            tool,
            call_id,
            attempts,
            elapsed_ms,
            verdict.retry_after_s,
            _cause_name(exc),
            details,
            hint,
            tb,
            exc,
            isinstance(exc, NotStarted),
        )
        for put, value in zip(_FIELD_SETTERS, values, strict=True):
            put(new, value)
        new._bound(_TEXT_FIELDS)
        return new
    error = cls(
        type=type_name,
        message=message,
        retryable=verdict.retryable,
        tool=tool,
        call_id=call_id,
        attempts=attempts,
        elapsed_ms=elapsed_ms,
        retry_after_s=verdict.retry_after_s,
        cause=_cause_name(exc),
        details=details,
        hint=hint,
        traceback=tb,
        exception=exc,
        rejected=isinstance(exc, NotStarted),
    )
    return error


_FIELD_NAMES = tuple(f.name for f in fields(ToolError))
_field_values = operator.attrgetter(*_FIELD_NAMES)
#: The slots' own setters (the class's ``__setattr__`` refuses: it is frozen).
_FIELD_SETTERS = tuple(ToolError.__dict__[name].__set__ for name in _FIELD_NAMES)
#: The wire keys after the four of the contract, in order.
_OPTIONAL_KEYS = (
    "tool",
    "call_id",
    "attempts",
    "elapsed_ms",
    "retry_after_s",
    "cause",
    "details",
    "hint",
    "traceback",
)
_optional_values = operator.attrgetter(*_OPTIONAL_KEYS)

_FIELD_LIMITS = (
    ("type", MAX_NAME_CHARS),
    ("message", MAX_MESSAGE_CHARS),
    ("tool", MAX_NAME_CHARS),
    ("call_id", MAX_NAME_CHARS),
    ("cause", MAX_NAME_CHARS),
    ("hint", MAX_HINT_CHARS),
    ("traceback", MAX_TRACEBACK_CHARS),
)
_limited_values = operator.attrgetter(*(name for name, _ in _FIELD_LIMITS))
#: Every field ``_bound`` looks at but ``details`` (``changed`` of a ToolError built
#: with details already in bounds).
_TEXT_FIELDS = frozenset(_FIELD_NAMES) - {"details"}


def _error_type(exc: BaseException) -> str:
    try:
        named = getattr(type(exc), "error_type", None)
    except Exception:  # a raising class property
        named = None
    return named if isinstance(named, str) and named else type(exc).__name__


def is_rejection(error: ToolError) -> bool:
    """True for the pipeline's refusals (see the module docstring): the tool body
    certainly did not run, so even a tool that is not idempotent may be retried."""
    return error.rejected or error.type in REJECTION_TYPES


def _message_of(exc: BaseException) -> str:
    """``str(exc)``, bounded; a placeholder when its ``__str__`` raises (even Ctrl-C)."""
    text = safe_str(exc)
    if text:
        return clip(text, MAX_MESSAGE_CHARS)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return type(exc).__name__


def _cause_name(exc: BaseException) -> str | None:
    inner = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if inner is None:
        return None
    return type(inner).__name__


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return safe_repr(value, _MAX_DETAIL_REPR)


def _wire_encoder() -> Callable[[Any], str]:
    """One encoder for every wire line: ``json.JSONEncoder(ensure_ascii=False,
    default=_json_default).encode``, without what that builds on every call (its C
    encoder, the circular-reference markers: every field is bounded, so nothing
    nests deeply; a cycle still fails, as RecursionError rather than ValueError).
    That encoder itself where the C one is not there or writes otherwise."""
    plain = json.JSONEncoder(ensure_ascii=False, default=_json_default).encode
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has it
        return plain
    try:
        encoder = make(
            None,
            _json_default,
            json.encoder.encode_basestring,
            None,
            ": ",
            ", ",
            False,
            False,
            True,
        )
        probe = {"a": [1, 2.5, None, True, 'é"\n\udcff'], "b": {"c": float("inf")}, "d": ()}
        if "".join(encoder(probe, 0)) != plain(probe):  # pragma: no cover
            return plain
    except Exception:  # pragma: no cover - another signature
        return plain
    join = "".join

    def encode(data: Any) -> str:
        return join(encoder(data, 0))

    return encode


_encode = _wire_encoder()


def format_traceback(exc: BaseException, frames: int = 5) -> str:
    """Format the last ``frames`` frames of ``exc``'s own traceback (never ambient state).

    Never raises: ``traceback`` itself survives a ``__str__`` raising an Exception,
    not one raising ``KeyboardInterrupt``; then only the frames and type are shown.
    Bounded by ``MAX_TRACEBACK_CHARS`` (its end kept: the innermost frames).
    """
    try:
        lines = _traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-frames)
    except BaseException:  # a foreign __str__ can raise anything
        try:
            lines = _traceback.format_tb(exc.__traceback__, limit=-frames)
        except BaseException:  # pragma: no cover
            lines = []
        lines = [
            "Traceback (most recent call last):\n",
            *lines,
            f"{type(exc).__name__}: {safe_str(exc)}",
        ]
    text = utf8_safe("".join(lines).rstrip())[0]
    if len(text) > MAX_TRACEBACK_CHARS:
        cut = len(text) - MAX_TRACEBACK_CHARS
        text = f"[{cut:,} chars cut] …{text[cut:]}"
    return text


def format_tool_error(
    exc: BaseException,
    include_traceback: bool = False,
    *,
    tool: str | None = None,
    call_id: str | None = None,
) -> str:
    """``Error executing tool: {"error": true, "type": ..., "message": ..., "retryable": ...}``.

    The traceback, when asked for, comes from ``exc.__traceback__`` so this is
    correct outside an ``except`` block too.
    """
    return ToolError.from_exception(
        exc, tool=tool, call_id=call_id, include_traceback=include_traceback
    ).to_text()


def parse_tool_error(text: str) -> ToolError | None:
    """Read a structured error line back; ``None`` for anything else (a normal result)."""
    if not isinstance(text, str):
        return None
    stripped = text.lstrip()
    if not stripped.startswith(ERROR_PREFIX):
        return None
    try:
        data = json.loads(stripped[len(ERROR_PREFIX) :])
    except (ValueError, RecursionError):  # not JSON, a 4,301-digit int, nested too deeply
        return None
    if not isinstance(data, dict) or data.get("error") is not True:
        return None
    if list(data)[:4] != ["error", "type", "message", "retryable"]:
        return None
    if not (
        isinstance(data["type"], str)
        and isinstance(data["message"], str)
        and isinstance(data["retryable"], bool)
    ):
        return None
    try:
        return ToolError.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- classification


@dataclass(frozen=True, slots=True)
class Classification:
    """Whether a retry can help, and how long the upstream asked us to wait."""

    retryable: bool
    retry_after_s: float | None = None
    status: int | None = None


#: A user classifier returns a verdict, or None to let the next one decide.
Classifier = Callable[[BaseException], "Classification | bool | None"]

_classifiers: list[Classifier] = []

TRANSIENT_ERRNOS = frozenset(
    code
    for code in (
        getattr(errno, name, None)
        for name in (
            "ECONNRESET",
            "ECONNREFUSED",
            "ECONNABORTED",
            "ETIMEDOUT",
            "EAGAIN",
            "EWOULDBLOCK",
            "EPIPE",
            "ENETDOWN",
            "ENETUNREACH",
            "ENETRESET",
            "EHOSTDOWN",
            "EHOSTUNREACH",
            "EBUSY",
            "EINTR",
            "ENOBUFS",
            "EADDRNOTAVAIL",
        )
    )
    if code is not None
)

RETRYABLE_STATUS = frozenset({408, 425, 429})


def register_classifier(classifier: Classifier, *, first: bool = True) -> Classifier:
    """Add a classifier. It returns a ``Classification``, a bool, or None to pass.

    Usable as a decorator. User classifiers run before the built-in rules.
    """
    if first:
        _classifiers.insert(0, classifier)
    else:
        _classifiers.append(classifier)
    return classifier


def unregister_classifier(classifier: Classifier) -> None:
    """Remove a classifier added with ``register_classifier``."""
    if classifier in _classifiers:
        _classifiers.remove(classifier)


#: The verdict of the commonest permanent errors (frozen: one is shared).
_PERMANENT = Classification(False)


def classify(exc: BaseException) -> Classification:
    """Decide whether ``exc`` is transient (worth retrying) or permanent.

    A ``ToolFailure`` is the tool's own statement and is taken as it is; then
    user classifiers run (newest first), then the built-in rules.
    """
    if isinstance(exc, ToolFailure):
        return Classification(bool(exc.retryable), exc.retry_after_s)
    if not _classifiers and isinstance(exc, InvalidArguments):
        return _PERMANENT  # (the common refusal: no user classifier to ask)
    for classifier in tuple(_classifiers):
        try:
            verdict = classifier(exc)
        except Exception:  # a broken classifier must not break the call
            continue
        if verdict is None:
            continue
        if isinstance(verdict, bool):
            return Classification(verdict)
        return verdict
    try:
        return _builtin_classify(exc, depth=0)
    except BaseException:  # a property of exc raised: it is not transient
        return Classification(False)


def _builtin_classify(exc: BaseException, depth: int) -> Classification:
    if isinstance(exc, ToolFailure):
        return Classification(exc.retryable, exc.retry_after_s)
    if isinstance(exc, (InvalidArguments, ConfigurationError, UnknownTool)):
        return Classification(False)

    http = _http_classification(exc)
    if http is not None:
        return http

    if isinstance(exc, TimeoutError) or type(exc).__name__ == "TimeoutError":
        return Classification(True)
    if isinstance(exc, ConnectionError):
        return Classification(True)
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
        return Classification(False)
    if isinstance(exc, OSError) and not _is_library_io_error(exc):
        if type(exc).__name__ == "gaierror":  # DNS: only "try again later" is transient
            import socket

            return Classification(exc.errno == getattr(socket, "EAI_AGAIN", None))
        return Classification(exc.errno in TRANSIENT_ERRNOS)

    # An explicit ``raise X from transient`` keeps the cause's verdict.
    if exc.__cause__ is not None and depth < 5 and type(exc) in (Exception, RuntimeError):
        return _builtin_classify(exc.__cause__, depth + 1)
    return Classification(False)


def _is_library_io_error(exc: BaseException) -> bool:
    # requests' exceptions subclass OSError (IOError); they are handled by name below.
    return type(exc).__module__.split(".")[0] in {"requests", "urllib3"}


_HTTPX_TRANSIENT = frozenset(
    {
        "TimeoutException",
        "ConnectTimeout",
        "ReadTimeout",
        "WriteTimeout",
        "PoolTimeout",
        "NetworkError",
        "ConnectError",
        "ReadError",
        "WriteError",
        "CloseError",
        "RemoteProtocolError",
    }
)
_REQUESTS_TRANSIENT = frozenset(
    {"ConnectionError", "Timeout", "ConnectTimeout", "ReadTimeout", "ChunkedEncodingError"}
)
_URLLIB3_TRANSIENT = frozenset(
    {"TimeoutError", "ProtocolError", "NewConnectionError", "ReadTimeoutError", "MaxRetryError"}
)


def _mro_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _http_classification(exc: BaseException) -> Classification | None:
    """Classify HTTP and HTTP-client errors without importing the client libraries."""
    root = type(exc).__module__.split(".")[0]
    status, headers = _status_and_headers(exc)
    if status is not None:
        return classify_status(status, headers)
    if root == "httpx":
        return Classification(bool(_mro_names(exc) & _HTTPX_TRANSIENT))
    if root == "requests":
        names = _mro_names(exc)
        if "SSLError" in names:  # a certificate problem does not go away on retry
            return Classification(False)
        return Classification(bool(names & _REQUESTS_TRANSIENT))
    if root == "urllib3":
        return Classification(bool(_mro_names(exc) & _URLLIB3_TRANSIENT))
    if root == "aiohttp":
        names = _mro_names(exc)
        return Classification(
            bool(names & {"ClientConnectionError", "ServerTimeoutError", "ServerDisconnectedError"})
        )
    if "urllib" in sys.modules and type(exc).__name__ == "URLError":
        reason = _attr(exc, "reason")
        if isinstance(reason, BaseException):
            return _builtin_classify(reason, depth=1)
        return Classification(True)
    return None


def _attr(obj: Any, name: str) -> Any:
    """``getattr(obj, name, None)``, also None when a property raises (any exception)."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _status_and_headers(exc: BaseException) -> tuple[int | None, Mapping[str, str] | None]:
    response = _attr(exc, "response")
    status = None
    headers: Any = None
    if response is not None:
        status = _attr(response, "status_code") or _attr(response, "status")
        headers = _attr(response, "headers")
    if status is None:
        for attr in ("status_code", "status"):
            value = _attr(exc, attr)
            if isinstance(value, int):
                status = value
                break
    if status is None and type(exc).__name__ == "HTTPError":
        code = _attr(exc, "code")  # urllib.error.HTTPError
        if isinstance(code, int):
            status = code
            headers = _attr(exc, "headers")
    if headers is None:
        headers = _attr(exc, "headers")
    if isinstance(status, int) and 100 <= status <= 599:
        return status, headers if _is_mapping_like(headers) else None
    return None, None


def _is_mapping_like(value: Any) -> bool:
    return value is not None and hasattr(value, "get")


def classify_status(status: int, headers: Mapping[str, str] | None = None) -> Classification:
    """HTTP 408, 425, 429 and 5xx are transient; other 4xx are permanent."""
    retryable = status in RETRYABLE_STATUS or 500 <= status <= 599
    try:
        value = headers.get("Retry-After") if headers else None
    except Exception:  # a foreign headers object that raises
        value = None
    retry_after = parse_retry_after(value)
    return Classification(retryable, retry_after if retryable else None, status)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = safe_str(value, 100).strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment is None:
            return None
        if moment.tzinfo is None:  # "-0000": HTTP dates are always UTC
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
