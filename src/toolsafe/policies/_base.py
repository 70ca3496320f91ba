"""The pipeline's vocabulary: a Result flows through Handlers that Policies wrap.

Inside the pipeline nothing raises (but cancellation): each step returns a
``Result`` holding a value or a ToolError. A policy is composed once per tool, at
registration, so a policy that is off costs nothing per call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._runtime import Runtime
    from toolsafe._tool import Tool
    from toolsafe.errors import ToolError

__all__ = ["LINGERING", "Handler", "Policy", "Result"]

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


class Policy(Protocol):
    """A pipeline step. ``level`` says whether it wraps the whole call or each attempt."""

    @property
    def name(self) -> str: ...

    @property
    def level(self) -> Literal["call", "attempt"]: ...

    def wrap(self, inner: Handler, *, tool: Tool, runtime: Runtime) -> Handler: ...
