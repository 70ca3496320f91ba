"""The joint: on a store that joins its steps, a guarded call asks it twice (admit,
settle) and the policies behave as with their own steps; on Redis, and on an
in-memory store told to join (its ``admit`` runs the steps in turn).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import _redis
import toolsafe
from toolsafe import Breaker, Rate, Runtime
from toolsafe.observe import events as ev
from toolsafe.policies.circuit_breaker import BreakerStateChanged
from toolsafe.stores._base import Store
from toolsafe.stores.memory import MemoryStore

redis_url = _redis.redis_url
redis_prefix = _redis.redis_prefix

GUARDED: dict[str, Any] = {
    "breaker": Breaker(failures=2, cooldown=30),
    "rate": Rate(per_second=1000, burst=1000),
    "concurrency": 4,
    "upstream": "api",
}


class JoiningMemoryStore(MemoryStore):
    joins = True


@pytest.fixture(params=["memory-joined", "redis"])
async def store(
    request: pytest.FixtureRequest, redis_url: str, redis_prefix: str
) -> AsyncIterator[Store]:
    if request.param == "memory-joined":
        yield JoiningMemoryStore()
        return
    pytest.importorskip("redis")
    from toolsafe.stores.redis import RedisStore

    s = RedisStore(redis_url, prefix=redis_prefix)
    yield s
    await s.aclose()


def _ops(store: Store) -> int:
    return int(store.stats().get("ops", 0))


async def test_a_guarded_call_is_two_store_steps_keyed_or_not(store: Store) -> None:
    async def echo(x: int) -> int:
        return x

    rt = Runtime([toolsafe.tool(echo, **GUARDED)], store=store)
    assert (await rt.acall("echo", {"x": 0})).ok  # scripts loaded, connections open
    before = _ops(store)
    for i in range(10):
        assert (await rt.acall("echo", {"x": i})).value == i
        assert (await rt.acall("echo", {"x": i}, key=f"k{i}")).value == i
    if "ops" in store.stats():
        assert _ops(store) - before == 2 * 20
    replay = await rt.acall("echo", {"x": 3}, key="k3")
    assert replay.value == 3 and replay.replayed
    stats = rt.stats()
    assert not stats["store"].get("slots")  # every slot given back


async def test_slot_waits_and_token_waits_still_work(store: Store) -> None:
    inside = 0
    peak = 0

    async def slow(i: int) -> int:
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)
        await asyncio.sleep(0.02)
        inside -= 1
        return i

    tool = toolsafe.tool(
        slow, concurrency=2, rate=Rate(per_second=200, burst=2), breaker=3, deadline=5
    )
    rt = Runtime([tool], store=store)
    outcomes = await asyncio.gather(*(rt.acall("slow", {"i": i}) for i in range(8)))
    assert [o.value for o in outcomes] == list(range(8)), [o.text for o in outcomes]
    assert peak == 2


async def test_the_breaker_opens_refuses_and_says_so(store: Store) -> None:
    heard: list[ev.Event] = []

    async def down() -> str:
        raise ConnectionError("upstream down")

    rt = Runtime([toolsafe.tool(down, **GUARDED)], store=store, listeners=[heard.append])
    first = [await rt.acall("down", {}) for _ in range(2)]
    assert all(o.error is not None and o.error.type == "ConnectionError" for o in first)
    refused = await rt.acall("down", {})
    assert refused.error is not None and refused.error.type == "CircuitOpen"
    changes = [e for e in heard if isinstance(e, BreakerStateChanged)]
    assert [(c.previous, c.state) for c in changes] == [("closed", "open")]
    assert not rt.stats()["store"].get("slots")


async def test_a_duplicate_waits_for_the_call_in_flight_then_replays(store: Store) -> None:
    runs = 0

    async def charge(order: int) -> dict[str, int]:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return {"order": order, "run": runs}

    rt = Runtime([toolsafe.tool(charge, **GUARDED)], store=store)
    a, b = await asyncio.gather(
        rt.acall("charge", {"order": 1}, key="o1"), rt.acall("charge", {"order": 1}, key="o1")
    )
    assert runs == 1 and a.value == b.value == {"order": 1, "run": 1}
    assert a.replayed != b.replayed


def test_the_sync_api_takes_the_joined_path_too(store: Store) -> None:
    def echo(x: int) -> int:
        return x

    with Runtime([toolsafe.tool(echo, **GUARDED)], store=store) as rt:
        assert [rt.call("echo", {"x": i}).value for i in range(5)] == list(range(5))
        assert rt.call("echo", {"x": 9}, key="s9").value == 9


async def test_join_steps_off_asks_one_step_per_policy(redis_url: str, redis_prefix: str) -> None:
    pytest.importorskip("redis")
    from toolsafe.stores.redis import RedisStore

    async def echo(x: int) -> int:
        return x

    store = RedisStore(redis_url, prefix=redis_prefix, join_steps=False)
    try:
        rt = Runtime([toolsafe.tool(echo, **GUARDED)], store=store)
        assert (await rt.acall("echo", {"x": 0})).ok
        before = _ops(store)
        assert (await rt.acall("echo", {"x": 1})).ok
        # breaker verdict, token, slot, release, breaker count: one round trip each
        assert _ops(store) - before == 5
    finally:
        await store.aclose()
