"""What a backend is: something that runs one attempt of a tool body."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool

from toolsafe.errors import NotStarted, ToolFailure

__all__ = [
    "RUNTIME_CLOSED",
    "WORKER_CRASHED",
    "AttemptTimeout",
    "Backend",
    "EscapedBaseException",
    "NotStartedTimeout",
    "RuntimeClosed",
    "check_time_left",
]

#: The ToolError type of a call refused because its runtime (or backend) is closed.
RUNTIME_CLOSED = "RuntimeClosed"
#: The ToolError type of a call whose worker (process, Ray worker or node) died under it.
WORKER_CRASHED = "WorkerCrashed"


class AttemptTimeout(TimeoutError):
    """An attempt ran past its timeout (or the call's deadline). Retryable by classification.

    Reported as ``"type": "TimeoutError"``, the rejection family's name.
    """

    error_type = "TimeoutError"


class NotStartedTimeout(AttemptTimeout, NotStarted):
    """The attempt's time ran out before the tool body started (it waited for a worker,
    or had no time left): a rejection (``toolsafe.errors.is_rejection``), so retrying
    cannot repeat a side effect and a breaker does not count it."""


def check_time_left(timeout: float | None, tool_name: str) -> None:
    """Every backend's first step: an attempt with no time left never starts (a
    not-started rejection, so the breaker does not count it and a retry is safe)."""
    if timeout is not None and timeout <= 0:
        raise NotStartedTimeout(f"tool '{tool_name}' had no time left before its deadline")


class RuntimeClosed(ToolFailure, NotStarted):
    """The runtime (its backend) was closed before the tool body started.

    A rejection (``toolsafe.errors.is_rejection``): nothing ran, so retrying elsewhere
    is safe, whatever the tool. Calls queued for a worker when ``close()`` came, and
    calls made after it, end with it at once instead of waiting (or hanging).
    """

    def __init__(self, tool_name: str, why: str = "its runtime is closed") -> None:
        super().__init__(
            f"tool '{tool_name}' was not started: {why}",
            retryable=True,
            type=RUNTIME_CLOSED,
            hint="Nothing ran. The runtime was shut down; call again on an open runtime.",
        )


class EscapedBaseException(Exception):
    """Carries a SystemExit/KeyboardInterrupt/... that a tool raised in a worker.

    Handed to an asyncio future as is, such an exception would stop the event loop;
    wrapped, it travels like any error and the runtime reports the original.
    """

    def __init__(self, original: BaseException) -> None:
        self.original = original
        super().__init__(str(original))


@runtime_checkable
class Backend(Protocol):
    """Runs one attempt. Returns the tool's value or raises what the tool raised.

    ``timeout`` is the seconds this attempt may take (None: no limit). On expiry the
    backend raises ``AttemptTimeout`` and must return control at once, whatever the
    tool body is doing. ``key`` names the tool or upstream, for fair sharing.
    """

    name: str

    def run(
        self,
        tool: Tool,
        arguments: dict[str, Any],
        ctx: CallContext,
        *,
        timeout: float | None,
        key: str,
    ) -> Awaitable[Any]:
        """An ``async def`` does; so does a plain function returning an awaitable."""
        ...

    def check(self, tool: Tool) -> list[str]:
        """Problems that stop ``tool`` from running on this backend (checked at registration)."""
        ...

    def close(self) -> None: ...
