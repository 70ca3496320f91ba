"""Joined steps (``Store.admit`` / ``settle``): one step asks what several would, and
stops where a call cannot go on, on Redis (one script) and in memory (the steps in turn).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

pytest.importorskip("redis")

import _redis
from toolsafe import Breaker
from toolsafe.stores._base import GRANTED, Store
from toolsafe.stores._joined import Admit, Settle
from toolsafe.stores.memory import MemoryStore
from toolsafe.stores.redis import RedisStore

redis_url = _redis.redis_url
redis_prefix = _redis.redis_prefix

BREAKER = Breaker(failures=2, cooldown=30)


@pytest.fixture(params=["memory", "redis"])
async def store(
    request: pytest.FixtureRequest, redis_url: str, redis_prefix: str
) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    s = RedisStore(redis_url, prefix=redis_prefix)
    yield s
    await s.aclose()


def _plan(**over: object) -> Admit:
    base: dict[str, object] = {
        "breaker": ("api", BREAKER),
        "rate": ("api", 1.0, 2, 0.0),
        "slots": (("api", 1), ("*", 5)),
        "lease_s": 30.0,
    }
    base.update(over)
    return Admit(**base)  # type: ignore[arg-type]


async def test_admit_answers_every_step_at_once(store: Store) -> None:
    got = await store.admit(_plan(once=("k1", "owner-a", 10.0, 60.0)))
    assert got.once is not None and got.once.status == "run"
    assert got.breaker is not None and got.breaker.allowed and not got.breaker.probe
    assert got.grant == GRANTED
    assert len(got.leases) == 2 and all(got.leases)


async def test_admit_stops_at_a_slot_that_is_not_free_and_takes_nothing_after(
    store: Store,
) -> None:
    first = await store.admit(_plan())
    second = await store.admit(_plan())
    assert len(first.leases) == 2
    assert second.grant == GRANTED and second.leases == ()  # "api" is full: "*" not taken
    await store.settle(Settle(tuple(zip(("api", "*"), first.leases, strict=True))))
    third = await store.admit(_plan(rate=None))
    assert len(third.leases) == 2  # the released slots are free again


async def test_admit_stops_at_a_token_to_wait_for_or_refused(store: Store) -> None:
    plan = _plan(rate=("api", 1.0, 1, None), slots=(("api", 10),))
    assert (await store.admit(plan)).grant == GRANTED
    waiting = await store.admit(plan)  # any wait allowed: the token is reserved
    assert waiting.grant is not None and waiting.grant.ok and waiting.grant.wait_s > 0
    assert waiting.leases == ()  # no slot held while it waits for its token
    refused = await store.admit(_plan(rate=("api", 1.0, 1, 0.0), slots=(("api", 10),)))
    assert refused.grant is not None and not refused.grant.ok and refused.leases == ()


async def test_an_open_breaker_stops_the_admission_and_settle_counts_outcomes(
    store: Store,
) -> None:
    for _ in range(2):
        got = await store.admit(_plan(rate=None, slots=()))
        assert got.breaker is not None and got.breaker.allowed
        record = await store.settle(Settle(record=("api", BREAKER, "failure", False)))
        assert record is not None
    assert record.previous == "closed" and record.state == "open"
    refused = await store.admit(_plan())
    assert refused.breaker is not None and not refused.breaker.allowed
    assert refused.breaker.state == "open" and refused.breaker.retry_after_s > 0
    assert refused.grant is None and refused.leases == ()  # no token, no slot taken


async def test_a_held_key_stops_the_admission_and_settle_records_the_end(store: Store) -> None:
    claim = ("order-7", "owner-a", 10.0, 60.0)
    first = await store.admit(_plan(once=claim))
    assert first.once is not None and first.once.status == "run"
    dup = await store.admit(_plan(once=("order-7", "owner-b", 10.0, 60.0)))
    assert dup.once is not None and dup.once.status == "in_flight"
    assert dup.breaker is None and dup.grant is None and dup.leases == ()
    releases = tuple(zip(("api", "*"), first.leases, strict=True))
    await store.settle(
        Settle(
            releases,
            ("api", BREAKER, "success", False),
            ("order-7", "owner-a", "done", {"id": 7}, 60.0),
        )
    )
    again = await store.admit(_plan(once=("order-7", "owner-c", 10.0, 60.0)))
    assert again.once is not None and again.once.status == "done"
    assert again.once.payload == {"id": 7}
    fresh = await store.admit(_plan(rate=None))
    assert len(fresh.leases) == 2  # the settle gave the slots back


async def test_redis_admission_and_settle_are_one_script_each(
    redis_url: str, redis_prefix: str
) -> None:
    store = RedisStore(redis_url, prefix=redis_prefix)
    try:
        before = store.stats()["ops"]
        got = await store.admit(_plan(once=("k", "o", 10.0, 60.0)))
        await store.settle(
            Settle(
                tuple(zip(("api", "*"), got.leases, strict=True)),
                ("api", BREAKER, "success", False),
                ("k", "o", "done", 1, 60.0),
            )
        )
        assert store.stats()["ops"] - before == 2
    finally:
        await store.aclose()
