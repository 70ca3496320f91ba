"""The pipeline's vocabulary: a Result flows through Handlers that Policies wrap.

Inside the pipeline nothing raises (but cancellation): each step returns a
``Result`` holding a value or a ToolError. A policy is composed once per tool, at
registration, so a policy that is off costs nothing per call.

A policy is handed a ``PipelineEnv`` (the runtime's store, clock, listeners and
the few settings a step needs), never the runtime itself: the arrows point from
the runtime down to the policies, not back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from toolsafe._serialize import serialize_result
from toolsafe.errors import ToolError, ToolFailure

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._clock import Clock
    from toolsafe._tokens import TokenCounter
    from toolsafe._tool import Tool, ToolOptions
    from toolsafe.observe.events import Listener
    from toolsafe.observe.redact import Redactor
    from toolsafe.stores._base import Store

__all__ = [
    "GIVEN_ID",
    "LINGERING",
    "REPLAYED",
    "Handler",
    "PipelineEnv",
    "Policy",
    "Result",
    "TextResult",
    "resolve_options",
    "serialize",
]

#: ``ctx.state`` key a backend sets when an attempt has returned (timed out) while the
#: tool body still runs on (a sync tool stuck in a thread that cannot be killed). The
#: value is a function taking a callback, which it runs (in some thread) once the body
#: really returns. A policy holding a resource *for the body* (a concurrency slot)
#: frees it then, not when the attempt returned, so the limit holds inside the tool.
LINGERING = "toolsafe.lingering"

#: ``ctx.state`` key set when the call's id came from the caller or the framework (not
#: made up by the runtime): such an id can serve as the idempotency key.
GIVEN_ID = "toolsafe.given_id"
#: ``ctx.state`` key the idempotency step sets when it answers with a recorded outcome.
REPLAYED = "toolsafe.replayed"


class Result:
    """A value or a ToolError, passed between pipeline steps."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any = None, error: ToolError | None = None) -> None:
        self.value = value
        self.error = error

    @property
    def ok(self) -> bool:
        return self.error is None

    def __repr__(self) -> str:
        return f"Result(ok={self.ok}, value={self.value!r}, error={self.error!r})"


class TextResult(Result):
    """A result whose model-facing ``text`` is already made (the output budget made it):
    ``full_text`` is the untrimmed text, ``trimmed`` whether content was cut."""

    __slots__ = ("full_text", "text", "trimmed")

    def __init__(self, value: Any, text: str, full_text: str | None, trimmed: bool) -> None:
        self.value = value
        self.error = None
        self.text = text
        self.full_text = full_text
        self.trimmed = trimmed


Handler = Callable[["CallContext"], Awaitable[Result]]


def serialize(result: Result, tool: str, call_id: str) -> str | None:
    """The model-facing text of ``result.value``; when it has none, ``result`` becomes
    a ``ResultNotSerializable`` error (non-retryable) and this returns None."""
    try:
        return serialize_result(result.value)
    except Exception as exc:
        failure = ToolFailure(
            f"tool '{tool}' returned a {type(result.value).__name__} that cannot be "
            f"serialized for the model: {exc}",
            retryable=False,
            type="ResultNotSerializable",
            hint="Return str, dict, list, a number, a pydantic model or a dataclass.",
        )
        result.value = None
        result.error = ToolError.from_exception(failure, tool=tool, call_id=call_id)
        return None


@dataclass(frozen=True, slots=True)
class PipelineEnv:
    """What a policy may use of the runtime it is built for (one per runtime).

    ``listeners`` is the runtime's own list: a listener added later is seen by the
    steps built earlier. A step emits events only when the list is non-empty.
    """

    store: Store
    clock: Clock
    listeners: list[Listener]
    redactor: Redactor
    token_counter: TokenCounter
    include_traceback: bool = False


class Policy(Protocol):
    """A pipeline step. ``level`` says whether it wraps the whole call or each attempt."""

    @property
    def name(self) -> str: ...

    @property
    def level(self) -> Literal["call", "attempt"]: ...

    def wrap(self, inner: Handler, *, tool: Tool, env: PipelineEnv) -> Handler: ...


def resolve_options(own: ToolOptions, defaults: ToolOptions) -> ToolOptions:
    """A tool's options with every unset (None) one taken from the runtime's defaults."""
    changes = {
        f.name: getattr(defaults, f.name)
        for f in fields(own)
        if getattr(own, f.name) is None and getattr(defaults, f.name) is not None
    }
    return replace(own, **changes) if changes else own
