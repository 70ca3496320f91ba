"""Instrumentation events: small frozen objects handed to listeners.

A listener is any callable taking one ``Event``. A listener that raises is logged
and skipped; it never breaks a call. Events are only built when listeners exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolsafe._log import logger

if TYPE_CHECKING:
    from toolsafe._call import Outcome
    from toolsafe.errors import ToolError

__all__ = [
    "AttemptFinished",
    "AttemptStarted",
    "CallFailed",
    "CallFinished",
    "CallStarted",
    "CallValidated",
    "Event",
    "Listener",
    "PoolEvent",
    "emit",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Base event. ``at`` is the runtime clock's monotonic time."""

    call_id: str
    tool: str
    at: float


@dataclass(frozen=True, slots=True)
class CallStarted(Event):
    arguments: Any = None


@dataclass(frozen=True, slots=True)
class CallValidated(Event):
    arguments: dict[str, Any] = field(default_factory=dict)
    #: What repair mode changed in malformed JSON (empty when nothing was repaired).
    repairs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttemptStarted(Event):
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class AttemptFinished(Event):
    attempt: int = 1
    ok: bool = True
    error: ToolError | None = None
    elapsed_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class CallFinished(Event):
    """The call ended with a result."""

    outcome: Outcome | None = None
    #: The arguments as the caller gave them (raw: dict or JSON text), for recorders.
    arguments: Any = None


@dataclass(frozen=True, slots=True)
class CallFailed(Event):
    """The call ended with a ToolError (``outcome.error``)."""

    outcome: Outcome | None = None
    #: The arguments as the caller gave them (raw: dict or JSON text), for recorders.
    arguments: Any = None


@dataclass(frozen=True, slots=True)
class PoolEvent(Event):
    """Sync worker pool news: a thread abandoned, replaced, or the replacement cap reached."""

    kind: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Event], Any]


def emit(listeners: Sequence[Listener] | Iterable[Listener], event: Event) -> None:
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            logger.exception("toolsafe listener %r raised on %s", listener, type(event).__name__)
