"""MemoryStore: slots with leases and cross-loop waiters, token buckets, breakers, cache."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from toolsafe import Breaker, FakeClock, MemoryStore
from toolsafe.stores._base import GRANTED, Grant

# --------------------------------------------------------------------------- slots


async def test_slots_are_limited_and_released() -> None:
    store = MemoryStore()
    a = await store.acquire("k", 2, lease_s=60, wait_s=0)
    b = await store.acquire("k", 2, lease_s=60, wait_s=0)
    assert a is not None and b is not None and a != b
    assert await store.acquire("k", 2, lease_s=60, wait_s=0) is None
    assert store.holders("k") == 2
    await store.release("k", a)
    c = await store.acquire("k", 2, lease_s=60, wait_s=0)
    assert c is not None
    assert store.holders("k") == 2
    # keys are independent
    assert await store.acquire("other", 1, lease_s=60, wait_s=0) is not None


async def test_releasing_an_unknown_or_twice_released_lease_is_a_no_op() -> None:
    store = MemoryStore()
    lease = await store.acquire("k", 1, lease_s=60, wait_s=0)
    assert lease is not None
    await store.release("k", lease)
    await store.release("k", lease)
    await store.release("nope", "123")
    assert store.holders("k") == 0
    assert await store.acquire("k", 1, lease_s=60, wait_s=0) is not None
    assert await store.acquire("k", 1, lease_s=60, wait_s=0) is None


async def test_a_waiter_gets_the_released_slot_first_come_first_served() -> None:
    store = MemoryStore()
    held = await store.acquire("k", 1, lease_s=60, wait_s=0)
    assert held is not None
    order: list[int] = []

    async def waiter(i: int) -> None:
        lease = await store.acquire("k", 1, lease_s=60, wait_s=5)
        assert lease is not None
        order.append(i)
        await asyncio.sleep(0)
        await store.release("k", lease)

    tasks = []
    for i in range(5):
        tasks.append(asyncio.ensure_future(waiter(i)))
        await asyncio.sleep(0)  # enqueue in order
    await store.release("k", held)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert store.holders("k") == 0


async def test_a_waiter_gives_up_after_its_wait() -> None:
    store = MemoryStore()
    assert await store.acquire("k", 1, lease_s=60, wait_s=0) is not None
    began = time.monotonic()
    assert await store.acquire("k", 1, lease_s=60, wait_s=0.05) is None
    assert 0.04 <= time.monotonic() - began < 2.0
    assert store.stats()["slots"]["k"]["waiting"] == 0


async def test_a_cancelled_waiter_leaves_the_queue_and_does_not_leak_a_slot() -> None:
    store = MemoryStore()
    held = await store.acquire("k", 1, lease_s=60, wait_s=0)
    assert held is not None
    task = asyncio.ensure_future(store.acquire("k", 1, lease_s=60, wait_s=None))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.release("k", held)
    assert store.holders("k") == 0
    assert await store.acquire("k", 1, lease_s=60, wait_s=0) is not None


async def test_a_waiter_on_another_threads_loop_is_woken_by_a_release_here() -> None:
    store = MemoryStore()
    held = await store.acquire("k", 1, lease_s=60, wait_s=0)
    assert held is not None
    got: list[Any] = []
    parked = threading.Event()

    def other_thread() -> None:
        async def main() -> None:
            parked.set()
            got.append(await store.acquire("k", 1, lease_s=60, wait_s=10))

        asyncio.run(main())

    thread = threading.Thread(target=other_thread)
    thread.start()
    parked.wait(5)
    while not store.stats()["slots"].get("k", {}).get("waiting"):
        await asyncio.sleep(0.001)
    began = time.monotonic()
    await store.release("k", held)
    await asyncio.to_thread(thread.join, 10)
    assert got and got[0] is not None
    assert time.monotonic() - began < 5  # woken by the release, not by its 10 s wait


def test_slots_hold_under_many_threads_with_their_own_loops() -> None:
    store = MemoryStore()
    inside = 0
    peak = 0
    lock = threading.Lock()

    def worker() -> None:
        async def main() -> None:
            nonlocal inside, peak
            for _ in range(20):
                lease = await store.acquire("k", 3, lease_s=60, wait_s=10)
                assert lease is not None
                with lock:
                    inside += 1
                    peak = max(peak, inside)
                await asyncio.sleep(0.0005)
                with lock:
                    inside -= 1
                await store.release("k", lease)

        asyncio.run(main())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert peak == 3
    assert store.holders("k") == 0


async def test_an_expired_lease_frees_its_slot_for_a_waiter() -> None:
    store = MemoryStore()
    leaked = await store.acquire("k", 1, lease_s=0.05, wait_s=0)
    assert leaked is not None
    began = time.monotonic()
    lease = await store.acquire("k", 1, lease_s=60, wait_s=5)
    assert lease is not None
    assert time.monotonic() - began < 4  # woken by the expiry recheck, not the 5 s wait
    assert store.stats()["expired_leases"] == 1
    assert not await store.renew("k", leaked, 60)  # too late


async def test_renew_keeps_a_lease_alive() -> None:
    store = MemoryStore()
    lease = await store.acquire("k", 1, lease_s=0.05, wait_s=0)
    assert lease is not None
    assert await store.renew("k", lease, 60)
    await asyncio.sleep(0.08)
    assert store.holders("k") == 1
    assert await store.acquire("k", 1, lease_s=60, wait_s=0) is None


def test_release_threadsafe_from_a_plain_thread() -> None:
    store = MemoryStore()
    lease = store.try_acquire("k", 1, 60)
    assert lease is not None
    thread = threading.Thread(target=store.release_threadsafe, args=("k", lease))
    thread.start()
    thread.join()
    assert store.holders("k") == 0


# --------------------------------------------------------------------------- token bucket


async def test_token_bucket_bursts_then_paces() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    assert [await store.take("r", 10, 3, max_wait_s=None) for _ in range(3)] == [GRANTED] * 3
    # empty: the next tokens are reserved 0.1 s apart
    waits = [(await store.take("r", 10, 3, max_wait_s=None)).wait_s for _ in range(3)]
    assert waits == pytest.approx([0.1, 0.2, 0.3])
    clock.advance(0.3)  # the three reservations are due; the bucket is empty
    assert (await store.take("r", 10, 3, max_wait_s=None)).wait_s == pytest.approx(0.1)


async def test_token_bucket_refuses_beyond_max_wait_without_taking() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    assert (await store.take("r", 2, 1, max_wait_s=0)).ok
    refused = await store.take("r", 2, 1, max_wait_s=0.1)
    assert refused == Grant(False, pytest.approx(0.5))
    # nothing was taken: the same answer again
    assert (await store.take("r", 2, 1, max_wait_s=0.1)).wait_s == pytest.approx(0.5)
    clock.advance(0.5)
    assert await store.take("r", 2, 1, max_wait_s=0) == GRANTED


async def test_token_bucket_never_saves_more_than_burst() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    await store.take("r", 100, 5, max_wait_s=None)
    clock.advance(3600)
    granted_now = 0
    for _ in range(20):
        if (await store.take("r", 100, 5, max_wait_s=0)).ok:
            granted_now += 1
    assert granted_now == 5


# --------------------------------------------------------------------------- breaker


async def test_breaker_state_machine_consecutive_failures() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    spec = Breaker(failures=3, cooldown=10)
    for _ in range(2):
        assert (await store.breaker_admit("b", spec)).allowed
        assert (await store.breaker_record("b", spec, "failure", probe=False)).state == "closed"
    await store.breaker_record("b", spec, "success", probe=False)  # resets the run
    for _ in range(2):
        await store.breaker_record("b", spec, "failure", probe=False)
    assert await store.breaker_state("b") == "closed"
    record = await store.breaker_record("b", spec, "failure", probe=False)
    assert (record.previous, record.state) == ("closed", "open")
    refused = await store.breaker_admit("b", spec)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(10)
    clock.advance(4)
    assert (await store.breaker_admit("b", spec)).retry_after_s == pytest.approx(6)
    clock.advance(6)
    probe = await store.breaker_admit("b", spec)
    assert probe.allowed and probe.probe and probe.changed and probe.state == "half_open"
    busy = await store.breaker_admit("b", spec)  # one probe at a time
    assert not busy.allowed and busy.state == "half_open"
    record = await store.breaker_record("b", spec, "success", probe=True)
    assert (record.previous, record.state) == ("half_open", "closed")
    assert (await store.breaker_admit("b", spec)).allowed


async def test_breaker_probe_failure_reopens_and_lost_probe_is_replaced() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    spec = Breaker(failures=1, cooldown=5)
    await store.breaker_record("b", spec, "failure", probe=False)
    clock.advance(5)
    assert (await store.breaker_admit("b", spec)).probe
    record = await store.breaker_record("b", spec, "failure", probe=True)
    assert record.state == "open"
    clock.advance(5)
    assert (await store.breaker_admit("b", spec)).probe
    # the probe never reports (its caller vanished): after a cooldown another goes
    assert not (await store.breaker_admit("b", spec)).allowed
    clock.advance(5)
    assert (await store.breaker_admit("b", spec)).probe


async def test_breaker_ignore_frees_a_probe_without_closing() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    spec = Breaker(failures=1, cooldown=1)
    await store.breaker_record("b", spec, "failure", probe=False)
    clock.advance(1)
    assert (await store.breaker_admit("b", spec)).probe
    await store.breaker_record("b", spec, "ignore", probe=True)
    assert await store.breaker_state("b") == "half_open"
    assert (await store.breaker_admit("b", spec)).probe


async def test_breaker_failure_rate_over_a_window() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    spec = Breaker(failures=None, failure_rate=0.5, window=10, min_calls=4)
    for outcome in ["failure", "success", "failure"]:
        await store.breaker_record("b", spec, outcome, probe=False)  # type: ignore[arg-type]
        clock.advance(1)
    assert await store.breaker_state("b") == "closed"  # only 3 calls
    record = await store.breaker_record("b", spec, "success", probe=False)
    assert record.state == "open"  # 2 of 4 failed


async def test_breaker_failure_rate_forgets_old_calls() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    spec = Breaker(failures=None, failure_rate=0.5, window=10, min_calls=4)
    for _ in range(3):
        await store.breaker_record("b", spec, "failure", probe=False)
    clock.advance(20)  # those failures left the window
    for _ in range(3):
        await store.breaker_record("b", spec, "success", probe=False)
    record = await store.breaker_record("b", spec, "failure", probe=False)
    assert record.state == "closed"  # 1 of 4 in the window


# --------------------------------------------------------------------------- cache


async def test_cache_ttl_and_copies() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    value = {"items": [1, 2]}
    assert await store.cache_set("c", value, 10)
    value["items"].append(3)  # the caller's object is not the stored one
    found, got = await store.cache_get("c")
    assert found and got == {"items": [1, 2]}
    got["items"].clear()  # nor is what a hit returns
    assert (await store.cache_get("c"))[1] == {"items": [1, 2]}
    clock.advance(10)
    assert await store.cache_get("c") == (False, None)
    stats = store.stats()
    assert (stats["cache_hits"], stats["cache_misses"]) == (2, 1)


async def test_cache_evicts_least_recently_used() -> None:
    store = MemoryStore(max_cache_entries=2)
    await store.cache_set("a", 1, 60)
    await store.cache_set("b", 2, 60)
    await store.cache_get("a")
    await store.cache_set("c", 3, 60)
    assert (await store.cache_get("a"))[0]
    assert not (await store.cache_get("b"))[0]
    assert (await store.cache_get("c"))[0]


async def test_cache_refuses_what_cannot_be_copied() -> None:
    store = MemoryStore()
    assert not await store.cache_set("lock", {"lock": threading.Lock()}, 60)
    assert await store.cache_get("lock") == (False, None)


def test_admit_all_now_takes_everything_or_nothing() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    bucket = ("api", 1.0, 2)  # two tokens, one a second
    slots = (("api", 1), ("*", 5))
    leases = store.admit_all_now("api", bucket, slots, 30.0)
    assert leases is not None and [k for k, _ in leases] == ["api", "*"]
    assert store.holders("api") == 1 and store.holders("*") == 1
    # the tool's one slot is taken: nothing is taken, not the token, not the global slot
    assert store.admit_all_now("api", bucket, slots, 30.0) is None
    assert store.holders("*") == 1
    store.release_all_now(leases)
    assert store.holders("api") == 0 and store.holders("*") == 0
    # the token refused above is still there; the next one is not (bucket of two)
    assert store.admit_all_now("api", bucket, (), 30.0) == []
    assert store.admit_all_now("api", bucket, (), 30.0) is None
    clock.advance(1.0)
    assert store.admit_all_now("api", bucket, (), 30.0) == []
    # a breaker that is not closed: nothing, so the caller asks admit_now step by step
    breaker = Breaker(failures=1, cooldown=60)
    store.record_now("api", breaker, "failure", False)
    clock.advance(1.0)
    assert store.admit_all_now("api", bucket, slots, 30.0) is None
    assert store.take_now("api", 1.0, 2, 0.0).ok  # the token is still there
