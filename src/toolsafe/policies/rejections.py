"""The pipeline's rejections: the ToolErrors its gates return when they refuse a call.

What a rejection *is* (the tool body certainly did not run) is defined once, in
``toolsafe.errors`` (``is_rejection``, ``REJECTION_TYPES``, ``NotStarted``,
``ToolError.rejected``); this module builds the pipeline's own:
``CircuitOpen`` (the breaker is open), ``RateLimited`` (no token within the
deadline), ``ConcurrencyLimited`` (no slot within the deadline), and the error of
a store step that failed before the body ran. All retryable.
"""

from __future__ import annotations

import math

from toolsafe.errors import ToolError, is_rejection

__all__ = [
    "CIRCUIT_OPEN",
    "CONCURRENCY_LIMITED",
    "GLOBAL_KEY",
    "RATE_LIMITED",
    "circuit_open",
    "concurrency_limited",
    "is_rejection",
    "rate_limited",
    "store_failure",
]

CIRCUIT_OPEN = "CircuitOpen"
RATE_LIMITED = "RateLimited"
CONCURRENCY_LIMITED = "ConcurrencyLimited"


def _wait_ms(seconds: float) -> float:
    """A wait for ``retry_after_s``: whole milliseconds, rounded up, so a wait of a few
    microseconds is not reported as 0 (retry now) while the gate is still shut."""
    if seconds <= 0:
        return 0.0
    return math.ceil(round(seconds * 1000, 6)) / 1000


def _wait_text(seconds: float) -> str:
    return f"{seconds:.3g}s"


def circuit_open(
    tool: str, call_id: str | None, key: str, retry_after_s: float, state: str = "open"
) -> ToolError:
    """The breaker of ``key`` is open (or half-open with its probes busy)."""
    where = f"upstream '{key}'" if key != tool else f"tool '{tool}'"
    return ToolError(
        type=CIRCUIT_OPEN,
        message=(
            f"the circuit breaker of {where} is {state.replace('_', '-')} after repeated "
            f"failures; calls are refused for {_wait_text(retry_after_s)}"
        ),
        retryable=True,
        tool=tool,
        call_id=call_id,
        retry_after_s=_wait_ms(retry_after_s),
        details={"key": key, "state": state},
        hint="The upstream is failing; try again after retry_after_s or use another tool.",
        rejected=True,
    )


def rate_limited(tool: str, call_id: str | None, key: str, retry_after_s: float) -> ToolError:
    """No token of ``key``'s rate limit within the call's time."""
    where = f"upstream '{key}'" if key != tool else f"tool '{tool}'"
    return ToolError(
        type=RATE_LIMITED,
        message=(
            f"the rate limit of {where} has no capacity before this call's deadline; "
            f"next capacity in {_wait_text(retry_after_s)}"
        ),
        retryable=True,
        tool=tool,
        call_id=call_id,
        retry_after_s=_wait_ms(retry_after_s),
        details={"key": key},
        rejected=True,
    )


def concurrency_limited(
    tool: str, call_id: str | None, key: str, limit: int, waited_s: float
) -> ToolError:
    """Every slot of ``key`` stayed taken for as long as the call could wait."""
    where = (
        "all tools"
        if key == GLOBAL_KEY
        else (f"upstream '{key}'" if key != tool else f"tool '{tool}'")
    )
    return ToolError(
        type=CONCURRENCY_LIMITED,
        message=(
            f"all {limit} concurrent slots of {where} stayed busy for "
            f"{_wait_text(waited_s)}; the call was not started"
        ),
        retryable=True,
        tool=tool,
        call_id=call_id,
        details={"key": key, "limit": limit},
        rejected=True,
    )


#: The store key of the runtime-wide concurrency limit (``Runtime(max_in_flight=...)``).
GLOBAL_KEY = "*"


def store_failure(exc: Exception, tool: str, call_id: str | None) -> ToolError:
    """A store step failed (a shared store is unreachable) before the tool ran: its
    error (the exception's own type), marked as a rejection so that even a
    non-idempotent tool may be retried."""
    return ToolError.from_exception(exc, tool=tool, call_id=call_id).with_(rejected=True)
