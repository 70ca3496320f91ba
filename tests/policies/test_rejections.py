"""The rejection family, defined once (``toolsafe.errors.is_rejection``), used by retry and breaker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import toolsafe
from toolsafe import FakeClock, Runtime, ToolError, is_rejection, parse_tool_error
from toolsafe._pipeline import Result
from toolsafe.backends._base import AttemptTimeout
from toolsafe.backends.thread import NotStartedTimeout
from toolsafe.errors import REJECTION_TYPES, NotStarted
from toolsafe.policies import rejections
from toolsafe.policies.circuit_breaker import breaker_outcome

BUILT = {
    "CircuitOpen": rejections.circuit_open("t", "c1", "t", 2.0),
    "RateLimited": rejections.rate_limited("t", "c1", "api", 0.5),
    "ConcurrencyLimited": rejections.concurrency_limited("t", "c1", "*", 4, 1.0),
}


@pytest.mark.parametrize("kind", sorted(BUILT))
def test_every_gate_refusal_is_a_retryable_rejection_even_read_back_from_text(kind: str) -> None:
    error = BUILT[kind]
    assert error.type == kind and kind in REJECTION_TYPES
    assert error.retryable and error.rejected and is_rejection(error)
    parsed = parse_tool_error(error.to_text())  # the mark is not on the wire; the type is
    assert parsed is not None and not parsed.rejected and is_rejection(parsed)
    assert "rejected" not in error.to_dict()


def test_a_timeout_is_a_rejection_only_when_the_attempt_never_started() -> None:
    not_started = ToolError.from_exception(NotStartedTimeout("no worker came free"), tool="t")
    started = ToolError.from_exception(AttemptTimeout("ran 30s"), tool="t")
    assert not_started.type == started.type == "TimeoutError"
    assert not_started.retryable and started.retryable
    assert isinstance(not_started.exception, NotStarted) and is_rejection(not_started)
    assert not is_rejection(started)
    # the breaker counts a started timeout, never a rejection
    assert breaker_outcome(Result(error=started)) == "failure"
    assert breaker_outcome(Result(error=not_started)) == "ignore"
    for error in BUILT.values():
        assert breaker_outcome(Result(error=error)) == "ignore"


def test_a_store_failure_keeps_its_own_type_and_is_a_rejection() -> None:
    exc = ConnectionError("redis is gone")
    error = rejections.store_failure(exc, "t", "c1")
    assert error.type == "ConnectionError" and error.exception is exc
    assert error.retryable and is_rejection(error)
    assert not hasattr(exc, "tool_started")  # nothing is written onto the exception
    assert not is_rejection(ToolError.from_exception(ConnectionError("mid-call"), tool="t"))


def test_a_tool_not_declared_idempotent_is_retried_only_after_a_rejection() -> None:
    clock = FakeClock()
    runs: list[int] = []

    @toolsafe.tool(
        retry=toolsafe.Retry(3, initial=0.0, jitter="none"),
        idempotent=False,
        concurrency=1,
        deadline=0.05,
    )
    async def pay(amount: int) -> int:
        runs.append(amount)
        if amount == 1:
            raise TimeoutError("the upstream timed out after the charge went through")
        return amount

    async def main() -> tuple[Any, Any]:
        async with Runtime([pay], clock=clock) as rt:
            timed_out = await rt.acall("pay", {"amount": 1})
            # hold the only slot: the next call is refused, retried, refused again
            lease = rt.store.try_acquire("pay", 1, 60.0)
            assert lease is not None
            refused = await rt.acall("pay", {"amount": 2})
            await rt.store.release("pay", lease)
            return timed_out, refused

    timed_out, refused = asyncio.run(main())
    assert timed_out.error.type == "TimeoutError" and timed_out.attempts == 1  # not retried
    assert refused.error.type == "ConcurrencyLimited" and is_rejection(refused.error)
    assert refused.attempts == 3 and runs == [1]  # retried, and the body never ran
