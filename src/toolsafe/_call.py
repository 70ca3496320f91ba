"""The unit of work (ToolCall), its per-call context, and its Outcome."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from toolsafe.errors import ToolCallError, ToolError

if TYPE_CHECKING:
    from toolsafe._tool import Tool

__all__ = ["CallContext", "Outcome", "ToolCall", "new_call_id"]

_ids = itertools.count(1)
_PREFIX = f"call_{os.getpid():x}_"


def new_call_id() -> str:
    """A cheap id, unique within the process (pid-prefixed, so unique across workers)."""
    return f"{_PREFIX}{next(_ids)}"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """What the model asked for: a tool by name, with raw arguments (dict or JSON text).

    ``key``: an idempotency key. Calls of one tool with the same key run its body at
    most once; the others get the recorded outcome (docs/exactly-once.md).
    """

    id: str | None
    name: str
    arguments: Any = None
    key: str | None = None

    def with_id(self) -> ToolCall:
        return self if self.id else ToolCall(new_call_id(), self.name, self.arguments, self.key)


@dataclass(slots=True)
class CallContext:
    """Per-call state handed to every policy step. Mutable by design, owned by one call."""

    call: ToolCall
    tool: Tool
    arguments: dict[str, Any]
    started: float
    deadline: float | None
    attempt: int = 0
    #: Free room for policies (keyed by the policy's name).
    state: dict[str, Any] = field(default_factory=dict)
    #: Seconds the current attempt may run (set by the timeout step; None: no limit).
    attempt_timeout: float | None = None
    #: The call's idempotency key, once the idempotency step resolved it (the body may
    #: forward it to an upstream that deduplicates, as a Stripe-style header).
    idempotency_key: str | None = None

    @property
    def call_id(self) -> str:
        return self.call.id or ""

    def portable(self) -> CallContext:
        """A copy that can cross to a worker process: no Tool (it holds locks), its own
        ``state``. ``started`` and ``deadline`` stay on the caller's monotonic clock."""
        return CallContext(
            self.call,
            None,  # type: ignore[arg-type]
            dict(self.arguments),
            self.started,
            self.deadline,
            self.attempt,
            {},
            self.attempt_timeout,
            self.idempotency_key,
        )

    def remaining(self, now: float) -> float | None:
        """Seconds left before the call's deadline at ``now`` (None: no deadline; negative
        once it passed). Every step that bounds a wait by the deadline asks this."""
        if self.deadline is None:
            return None
        return self.deadline - now


class _OutcomeFields(NamedTuple):
    call_id: str
    tool: str
    ok: bool
    value: Any = None
    error: ToolError | None = None
    text: str = ""
    attempts: int = 0
    elapsed_ms: float = 0.0
    #: The untrimmed result when an output budget trimmed ``text`` (else None).
    full_text: str | None = None
    trimmed: bool = False
    #: The outcome was recorded by an earlier call with the same idempotency key and
    #: replayed: the body did not run for this call.
    replayed: bool = False


class Outcome(_OutcomeFields):
    """The end of a call: a result or a ToolError, and the text the model should see.

    Immutable. A NamedTuple rather than a frozen dataclass: one is built per call,
    and this builds in half the time.
    """

    __slots__ = ()

    def unwrap(self) -> Any:
        """The value, or raise ``ToolCallError`` carrying the ToolError."""
        if self.ok:
            return self.value
        assert self.error is not None
        raise ToolCallError(self.error)

    @classmethod
    def failure(
        cls,
        call_id: str,
        tool: str,
        error: ToolError,
        *,
        attempts: int = 0,
        elapsed_ms: float = 0.0,
    ) -> Outcome:
        # (by position: a NamedTuple's keyword arguments cost a dict per call)
        return cls(call_id, tool, False, None, error, error.to_text(), attempts, elapsed_ms)
