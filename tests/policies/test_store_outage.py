"""A store that fails (a shared store unreachable): gates refuse cleanly, bookkeeping is skipped."""

from __future__ import annotations

from typing import Any

import pytest

import toolsafe
from toolsafe import Breaker, FakeClock, MemoryStore, Rate, Retry, Runtime, Store
from toolsafe.stores._base import BreakerAdmission, BreakerRecord, BreakerVerdict, Grant


class FlakyStore(Store):
    """Delegates to a MemoryStore through the async interface only; ``down`` makes every
    operation raise, as a network store does when its server is gone."""

    def __init__(self, clock: FakeClock) -> None:
        self.inner = MemoryStore(clock=clock)
        self.down = False
        self.ops = 0

    def _check(self) -> None:
        self.ops += 1
        if self.down:
            raise ConnectionError("store unreachable")

    async def acquire(
        self, key: str, limit: int, *, lease_s: float, wait_s: float | None
    ) -> str | None:
        self._check()
        return await self.inner.acquire(key, limit, lease_s=lease_s, wait_s=wait_s)

    async def release(self, key: str, lease: str) -> None:
        self._check()
        await self.inner.release(key, lease)

    async def renew(self, key: str, lease: str, lease_s: float) -> bool:
        self._check()
        return await self.inner.renew(key, lease, lease_s)

    async def take(self, key: str, rate: float, burst: int, *, max_wait_s: float | None) -> Grant:
        self._check()
        return await self.inner.take(key, rate, burst, max_wait_s=max_wait_s)

    async def breaker_admit(self, key: str, spec: Breaker) -> BreakerAdmission:
        self._check()
        return await self.inner.breaker_admit(key, spec)

    async def breaker_record(
        self, key: str, spec: Breaker, outcome: BreakerVerdict, *, probe: bool
    ) -> BreakerRecord:
        self._check()
        return await self.inner.breaker_record(key, spec, outcome, probe=probe)

    async def breaker_state(self, key: str) -> Any:
        return await self.inner.breaker_state(key)

    async def cache_get(self, key: str) -> tuple[bool, Any]:
        self._check()
        return await self.inner.cache_get(key)

    async def cache_set(self, key: str, value: Any, ttl_s: float) -> bool:
        self._check()
        return await self.inner.cache_set(key, value, ttl_s)


@pytest.mark.parametrize(
    ("options", "attempts"),
    [
        ({"breaker": Breaker()}, 0),  # outside the retry step: refused once
        ({"rate": Rate(per_second=100)}, 0),
        ({"concurrency": 2}, 3),  # per attempt: retried, it never ran
    ],
    ids=["breaker", "rate", "concurrency"],
)
def test_a_failing_gate_is_a_retryable_rejection_and_the_tool_does_not_run(
    options: dict[str, Any], attempts: int
) -> None:
    clock = FakeClock()
    store = FlakyStore(clock)
    runs = 0

    def pay(amount: int) -> int:
        nonlocal runs
        runs += 1
        return amount

    # not declared idempotent: a rejection is still safe to retry
    tool = toolsafe.tool(pay, retry=Retry(3, jitter="none"), **options)
    with Runtime([tool], clock=clock, store=store) as rt:
        assert rt.call("pay", {"amount": 1}).value == 1 and store.ops > 0
        store.down = True
        outcome = rt.call("pay", {"amount": 2})
        assert outcome.error is not None and outcome.error.type == "ConnectionError"
        assert outcome.error.retryable and toolsafe.is_rejection(outcome.error)
        assert runs == 1 and outcome.attempts == attempts
        assert len(clock.sleeps) == max(0, attempts - 1)
        store.down = False
        assert rt.call("pay", {"amount": 3}).value == 3


def test_cache_outage_is_a_miss_and_results_still_flow() -> None:
    clock = FakeClock()
    store = FlakyStore(clock)
    runs = 0

    def lookup(q: str) -> str:
        nonlocal runs
        runs += 1
        return q.upper()

    with Runtime([toolsafe.tool(lookup, cache=60)], clock=clock, store=store) as rt:
        store.down = True
        assert rt.call("lookup", {"q": "a"}).value == "A"
        assert rt.call("lookup", {"q": "a"}).value == "A"
        assert runs == 2
        store.down = False
        rt.call("lookup", {"q": "a"})
        rt.call("lookup", {"q": "a"})
        assert runs == 3


def test_breaker_bookkeeping_failure_keeps_the_result() -> None:
    clock = FakeClock()
    store = FlakyStore(clock)

    def ok() -> str:
        store.down = True  # the store goes away while the tool runs
        return "fine"

    with Runtime([toolsafe.tool(ok, breaker=2)], clock=clock, store=store) as rt:
        assert rt.call("ok").value == "fine"


def test_a_store_that_only_has_async_steps_is_asked_through_them() -> None:
    """The immediate twins default to None ("ask the async step") and ``shared`` to True."""
    clock = FakeClock()
    store = FlakyStore(clock)
    breaker = Breaker()
    assert store.shared and not store.inner.shared
    assert store.try_acquire("k", 1, 10.0) is None
    assert store.take_now("k", 1.0, 1, None) is None
    assert store.admit_now("k", breaker) is None
    assert store.record_now("k", breaker, "failure", False) is None
    assert store.ops == 0  # none of them touched the state
    assert store.inner.take_now("k", 1.0, 1, None) is not None  # the memory store answers


def test_a_policy_on_an_async_only_store_still_limits() -> None:
    clock = FakeClock()
    store = FlakyStore(clock)
    tool = toolsafe.tool(lambda: "ok", name="t", rate=Rate(per_second=1, burst=1, max_wait=0))
    with Runtime([tool], clock=clock, store=store) as rt:
        assert rt.call("t").ok
        refused = rt.call("t")
        assert refused.error is not None and refused.error.type == "RateLimited"
        assert store.ops == 2
