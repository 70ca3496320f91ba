"""Usage limit: at most N calls of a tool over a runtime's life (CrewAI's ``max_usage_count``).

``max_calls=N`` on a tool. One use is counted per call, however many attempts
its retries take; a call whose arguments are invalid, or that the result cache
answers, costs nothing (the tool was not used). Call N+1 and every later one end
at once with a non-retryable ``UsageLimitExceeded`` rejection: the body does not
run, and the hint tells the model to answer with what it has.

The count lives in the policy, which the runtime builds once per registered tool:
it is per runtime and per process (a limit on what one agent may spend, not a
fleet-wide quota; ``rate=`` on a shared store is that).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from toolsafe._pipeline import Handler, PipelineEnv, Result
from toolsafe.errors import ConfigurationError, ToolError
from toolsafe.observe import events as ev

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool

__all__ = [
    "USAGE_LIMIT_EXCEEDED",
    "UsageLimit",
    "UsageLimitPolicy",
    "UsageLimitReached",
    "as_usage",
]

USAGE_LIMIT_EXCEEDED = "UsageLimitExceeded"


@dataclass(frozen=True, slots=True)
class UsageLimit:
    """At most ``max_calls`` calls of the tool."""

    max_calls: int

    def __post_init__(self) -> None:
        value = self.max_calls
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigurationError([f"max_calls={value!r}: expected an int >= 0"])


def as_usage(value: Any) -> UsageLimit | None:
    """Read the ``max_calls=`` option: an int >= 0 (0: the tool may not be used), or None."""
    if value is None:
        return None
    if isinstance(value, UsageLimit):
        return value
    return UsageLimit(value)


@dataclass(frozen=True, slots=True)
class UsageLimitReached(ev.Event):
    """The call was refused: the tool had been used ``limit`` times already."""

    limit: int = 0


class UsageLimitPolicy:
    name = "usage"
    level: Literal["call"] = "call"

    def __init__(self, options: UsageLimit) -> None:
        self.options = options
        self._used = 0
        self._lock = threading.Lock()  # calls come from many threads and loops

    @property
    def used(self) -> int:
        """Calls counted so far."""
        return self._used

    def wrap(self, inner: Handler, *, tool: Tool, env: PipelineEnv) -> Handler:
        limit = self.options.max_calls
        name = tool.name
        clock = env.clock
        listeners = env.listeners

        async def limited(ctx: CallContext) -> Result:
            with self._lock:
                allowed = self._used < limit
                if allowed:
                    self._used += 1
            if allowed:
                return await inner(ctx)
            if listeners:
                ev.emit(listeners, UsageLimitReached(ctx.call_id, name, clock.now(), limit))
            error = ToolError(
                type=USAGE_LIMIT_EXCEEDED,
                message=(
                    f"Tool '{name}' has reached its usage limit of {limit} times "
                    "and cannot be used anymore."
                ),
                retryable=False,
                tool=name,
                call_id=ctx.call_id,
                hint=f"Do not call '{name}' again; answer with what you have.",
                rejected=True,
            )
            return Result(error=error)

        return limited
