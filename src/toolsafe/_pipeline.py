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

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._clock import Clock
    from toolsafe._tokens import TokenCounter
    from toolsafe._tool import Tool, ToolOptions
    from toolsafe.errors import ToolError
    from toolsafe.observe.events import Listener
    from toolsafe.observe.redact import Redactor
    from toolsafe.stores._base import Store

__all__ = ["LINGERING", "Handler", "PipelineEnv", "Policy", "Result", "resolve_options"]

#: ``ctx.state`` key a backend sets when an attempt has returned (timed out) while the
#: tool body still runs on (a sync tool stuck in a thread that cannot be killed). The
#: value is a function taking a callback, which it runs (in some thread) once the body
#: really returns. A policy holding a resource *for the body* (a concurrency slot)
#: frees it then, not when the attempt returned, so the limit holds inside the tool.
LINGERING = "toolsafe.lingering"


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


Handler = Callable[["CallContext"], Awaitable[Result]]


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
