"""What a backend is: something that runs one attempt of a tool body."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool

__all__ = ["AttemptTimeout", "Backend", "EscapedBaseException"]


class AttemptTimeout(TimeoutError):
    """An attempt ran past its timeout (or the call's deadline). Retryable by classification.

    Reported as ``"type": "TimeoutError"``, the rejection family's name.
    """

    error_type = "TimeoutError"


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
