"""RedisStore against a real Redis server: atomic slots, buckets, breakers, cache, outages.

Each test gets its own key prefix (``redis_prefix``), so tests never collide, and
the private-server tests get a server of their own that they may kill.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("redis")

import _redis
import toolsafe
from _redis import RedisServer, free_port, keys_of
from toolsafe import ConfigurationError, Runtime
from toolsafe import tool as toolsafe_tool
from toolsafe.stores.redis import RedisStore, StoreEvent, StoreUnavailable

redis_url = _redis.redis_url
redis_prefix = _redis.redis_prefix
private_redis = _redis.private_redis


@dataclass(frozen=True)
class Spec:
    failures: int | None = 3
    failure_rate: float | None = None
    window: float = 10.0
    min_calls: int = 4
    cooldown: float = 0.3
    probes: int = 1


@pytest.fixture
async def store(redis_url: str, redis_prefix: str):
    s = RedisStore(redis_url, prefix=redis_prefix)
    yield s
    await s.aclose()


# ------------------------------------------------------------------ slots


async def test_slots_are_limited_and_released(store: RedisStore) -> None:
    leases = [await store.acquire("api", 2, lease_s=30, wait_s=0) for _ in range(3)]
    assert leases[0] is not None and leases[1] is not None and leases[0] != leases[1]
    assert leases[2] is None
    assert await store.holders("api") == 2
    await store.release("api", leases[0])
    assert await store.holders("api") == 1
    again = await store.acquire("api", 2, lease_s=30, wait_s=0)
    assert again is not None
    await store.release("api", "no-such-lease")  # a no-op
    assert await store.holders("api") == 2


async def test_a_lease_nobody_releases_expires(store: RedisStore) -> None:
    held = await store.acquire("api", 1, lease_s=0.3, wait_s=0)
    assert held is not None
    assert await store.acquire("api", 1, lease_s=30, wait_s=0) is None
    began = time.monotonic()
    late = await store.acquire("api", 1, lease_s=30, wait_s=5)
    assert late is not None
    assert time.monotonic() - began < 4  # it came when the lease lapsed, not at the wait's end
    assert not await store.renew("api", held, 30)  # the expired lease cannot come back


async def test_renew_keeps_a_lease_alive(store: RedisStore) -> None:
    held = await store.acquire("api", 1, lease_s=0.4, wait_s=0)
    assert held is not None
    for _ in range(4):
        await asyncio.sleep(0.2)
        assert await store.renew("api", held, 0.4)
    assert await store.acquire("api", 1, lease_s=30, wait_s=0) is None
    await store.release("api", held)
    assert await store.acquire("api", 1, lease_s=30, wait_s=0) is not None


async def test_waiters_are_served_first_come_first_served(
    store: RedisStore, redis_url: str, redis_prefix: str
) -> None:
    held = await store.acquire("api", 1, lease_s=30, wait_s=0)
    assert held is not None
    order: list[int] = []
    leases: dict[int, str] = {}

    async def wait(i: int) -> None:
        lease = await store.acquire("api", 1, lease_s=30, wait_s=10)
        assert lease is not None
        order.append(i)
        leases[i] = lease

    import redis

    client = redis.Redis.from_url(redis_url)
    tasks = []
    for i in range(3):
        tasks.append(asyncio.ensure_future(wait(i)))
        while client.zcard(store.key("slotq", "api")) < i + 1:  # queued before the next one
            await asyncio.sleep(0.005)
    client.close()
    # A newcomer that does not wait cannot jump the queue, even when a slot is free.
    await store.release("api", held)
    for i in range(3):
        while len(order) < i + 1:
            await asyncio.sleep(0.005)
        assert await store.acquire("api", 1, lease_s=30, wait_s=0) is None
        await store.release("api", leases[i])
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]


async def test_a_waiter_that_times_out_leaves_the_queue(store: RedisStore, redis_url: str) -> None:
    held = await store.acquire("api", 1, lease_s=30, wait_s=0)
    assert held is not None
    began = time.monotonic()
    assert await store.acquire("api", 1, lease_s=30, wait_s=0.2) is None
    assert time.monotonic() - began >= 0.2
    await asyncio.sleep(0.05)  # the queue exit is sent in the background
    import redis

    client = redis.Redis.from_url(redis_url)
    assert client.zcard(store.key("slotq", "api")) == 0
    client.close()
    await store.release("api", held)
    assert await store.acquire("api", 1, lease_s=30, wait_s=0) is not None


async def test_a_cancelled_waiter_does_not_keep_a_slot(store: RedisStore) -> None:
    held = await store.acquire("api", 1, lease_s=30, wait_s=0)
    assert held is not None
    waiter = asyncio.ensure_future(store.acquire("api", 1, lease_s=30, wait_s=10))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await store.release("api", held)
    await asyncio.sleep(0.05)
    assert await store.acquire("api", 1, lease_s=30, wait_s=0.5) is not None


def test_many_threads_and_loops_never_exceed_the_limit(store: RedisStore) -> None:
    """Each thread drives its own event loop (as the sync API does): one client per loop."""
    peak = 0
    inside = 0
    lock = threading.Lock()
    failures: list[BaseException] = []

    async def one() -> None:
        nonlocal peak, inside
        lease = await store.acquire("api", 3, lease_s=30, wait_s=10)
        assert lease is not None
        with lock:
            inside += 1
            peak = max(peak, inside)
        await asyncio.sleep(0.01)
        with lock:
            inside -= 1
        await store.release("api", lease)

    async def five() -> None:
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(5))), 20)
        await store.aclose_loop()  # this thread's loop ends here

    def worker() -> None:
        try:
            asyncio.run(five())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert peak == 3
    assert store.stats()["event_loops"] <= 6


async def test_release_from_a_plain_thread(store: RedisStore) -> None:
    lease = await store.acquire("api", 1, lease_s=30, wait_s=0)
    assert lease is not None
    thread = threading.Thread(target=store.release_threadsafe, args=("api", lease))
    thread.start()
    thread.join()
    assert await store.acquire("api", 1, lease_s=30, wait_s=0) is not None


# ------------------------------------------------------------------ rate limits


async def test_token_bucket_burst_then_refusal_with_retry_after(store: RedisStore) -> None:
    grants = [await store.take("api", 10.0, 3, max_wait_s=0) for _ in range(4)]
    assert [g.ok for g in grants] == [True, True, True, False]
    assert all(g.wait_s == 0 for g in grants[:3])
    assert 0.0 < grants[3].wait_s <= 0.1 + 1e-6
    await asyncio.sleep(0.15)
    assert (await store.take("api", 10.0, 3, max_wait_s=0)).ok


async def test_token_reservations_queue_up(store: RedisStore) -> None:
    began = time.monotonic()
    for _ in range(2):
        assert (await store.take("api", 5.0, 2, max_wait_s=None)).wait_s == 0
    waits = [(await store.take("api", 5.0, 2, max_wait_s=None)).wait_s for _ in range(3)]
    # Time spent on round trips shortens the waits: allow for it (a loaded machine).
    lag = time.monotonic() - began
    # Each reserved token comes 1/rate after the one before it.
    assert waits[0] == pytest.approx(0.2, abs=0.03 + lag)
    assert waits[1] - waits[0] == pytest.approx(0.2, abs=0.03 + lag)
    assert waits[2] - waits[1] == pytest.approx(0.2, abs=0.03 + lag)
    refused = await store.take("api", 5.0, 2, max_wait_s=0.5)
    lag = time.monotonic() - began
    assert not refused.ok and refused.wait_s == pytest.approx(0.8, abs=0.03 + lag)
    # A refusal reserves nothing: the next caller sees the same wait (less the time between).
    again = await store.take("api", 5.0, 2, max_wait_s=0.5)
    assert not again.ok and 0 <= refused.wait_s - again.wait_s <= 0.03 + time.monotonic() - began


async def test_two_clients_share_one_bucket(redis_url: str, redis_prefix: str) -> None:
    a = RedisStore(redis_url, prefix=redis_prefix)
    b = RedisStore(redis_url, prefix=redis_prefix)
    try:
        results = []
        for i in range(6):
            s = a if i % 2 else b
            results.append((await s.take("api", 1.0, 4, max_wait_s=0)).ok)
        assert results == [True, True, True, True, False, False]
    finally:
        await a.aclose()
        await b.aclose()


# ------------------------------------------------------------------ breakers


async def test_breaker_opens_on_consecutive_failures_and_recovers(store: RedisStore) -> None:
    spec = Spec(failures=3)
    assert (await store.breaker_admit("api", spec)).allowed
    records = [await store.breaker_record("api", spec, "failure", probe=False) for _ in range(3)]
    assert [r.state for r in records] == ["closed", "closed", "open"]
    assert records[2].previous == "closed"
    denied = await store.breaker_admit("api", spec)
    assert not denied.allowed and denied.state == "open"
    assert 0 < denied.retry_after_s <= 0.3
    assert await store.breaker_state("api") == "open"
    await asyncio.sleep(0.35)
    probe = await store.breaker_admit("api", spec)
    assert (probe.allowed, probe.probe, probe.state, probe.changed) == (
        True,
        True,
        "half_open",
        True,
    )
    second = await store.breaker_admit("api", spec)
    assert not second.allowed and second.state == "half_open"
    closed = await store.breaker_record("api", spec, "success", probe=True)
    assert (closed.previous, closed.state) == ("half_open", "closed")
    assert await store.breaker_state("api") == "closed"


async def test_a_success_resets_the_consecutive_count(store: RedisStore) -> None:
    spec = Spec(failures=2)
    await store.breaker_record("api", spec, "failure", probe=False)
    await store.breaker_record("api", spec, "success", probe=False)
    assert (await store.breaker_record("api", spec, "failure", probe=False)).state == "closed"
    assert (await store.breaker_record("api", spec, "ignore", probe=False)).state == "closed"
    assert (await store.breaker_record("api", spec, "failure", probe=False)).state == "open"


async def test_a_failed_probe_reopens(store: RedisStore) -> None:
    spec = Spec(failures=1, cooldown=0.2)
    await store.breaker_record("api", spec, "failure", probe=False)
    await asyncio.sleep(0.25)
    assert (await store.breaker_admit("api", spec)).probe
    record = await store.breaker_record("api", spec, "failure", probe=True)
    assert (record.previous, record.state) == ("half_open", "open")
    assert not (await store.breaker_admit("api", spec)).allowed


async def test_breaker_failure_rate_over_the_window(store: RedisStore) -> None:
    spec = Spec(failures=None, failure_rate=0.5, min_calls=4)
    states = []
    for outcome in ("success", "failure", "success", "failure"):
        states.append((await store.breaker_record("api", spec, outcome, probe=False)).state)
    assert states == ["closed", "closed", "closed", "open"]


async def test_breaker_is_shared_between_clients(redis_url: str, redis_prefix: str) -> None:
    a = RedisStore(redis_url, prefix=redis_prefix)
    b = RedisStore(redis_url, prefix=redis_prefix)
    try:
        spec = Spec(failures=2, cooldown=30)
        await a.breaker_record("api", spec, "failure", probe=False)
        await b.breaker_record("api", spec, "failure", probe=False)
        for s in (a, b):
            admission = await s.breaker_admit("api", spec)
            assert not admission.allowed and admission.state == "open"
            assert 29 < admission.retry_after_s <= 30
    finally:
        await a.aclose()
        await b.aclose()


# ------------------------------------------------------------------ cache


async def test_cache_round_trip_copy_and_ttl(store: RedisStore) -> None:
    value = {"items": [1, 2, {"x": "é"}], "n": 1.5, "ok": True, "none": None}
    assert await store.cache_set("k", value, 0.3)
    found, got = await store.cache_get("k")
    assert found and got == value
    got["items"].append(99)
    assert (await store.cache_get("k"))[1] == value
    await asyncio.sleep(0.35)
    assert await store.cache_get("k") == (False, None)


async def test_cache_refuses_what_it_cannot_store_faithfully(
    redis_url: str, redis_prefix: str
) -> None:
    store = RedisStore(redis_url, prefix=redis_prefix, max_value_bytes=100)
    try:
        assert not await store.cache_set("big", "x" * 200, 10)
        assert not await store.cache_set("tuple", (1, 2), 10)  # JSON would give a list back
        assert not await store.cache_set("keys", {1: "a"}, 10)
        assert not await store.cache_set("obj", object(), 10)
        assert await store.cache_get("big") == (False, None)
        assert store.stats()["cache_refused"] == 4
    finally:
        await store.aclose()
    pickled = RedisStore(redis_url, prefix=redis_prefix, serializer="pickle")
    try:
        assert await pickled.cache_set("tuple", (1, 2), 10)
        assert await pickled.cache_get("tuple") == (True, (1, 2))
    finally:
        await pickled.aclose()


async def test_long_cache_keys_are_hashed(store: RedisStore, redis_url: str) -> None:
    key = "search:" + "q" * 5000
    assert await store.cache_set(key, "v", 10)
    assert await store.cache_get(key) == (True, "v")
    assert all(len(k) < 300 for k in keys_of(redis_url, store.prefix))


# ------------------------------------------------------------------ keys


async def test_every_key_is_namespaced_and_expires(store: RedisStore, redis_url: str) -> None:
    held = await store.acquire("api", 1, lease_s=30, wait_s=0)
    waiting = asyncio.ensure_future(store.acquire("api", 1, lease_s=30, wait_s=1))
    await store.take("api", 5.0, 2, max_wait_s=None)
    await store.breaker_record("api", Spec(failures=5), "failure", probe=False)
    await store.cache_set("k", "v", 60)
    await asyncio.sleep(0.05)
    keys = keys_of(redis_url, store.prefix)
    families = {k[len(store.prefix) :].split(":", 1)[0] for k in keys}
    assert families == {"slots", "slotq", "slotqx", "slotseq", "rate", "breaker", "cache"}
    assert all(ttl > 0 for ttl in keys.values()), keys
    assert held is not None
    await store.release("api", held)
    assert await waiting is not None


# ------------------------------------------------------------------ Redis unavailable


def _dead_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


async def test_fail_closed_gives_a_structured_retryable_error_fast() -> None:
    events: list[Any] = []
    store = RedisStore(_dead_url(), op_timeout=0.3, listeners=[events.append])
    try:
        began = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            await store.acquire("api", 1, lease_s=30, wait_s=5)
        assert time.monotonic() - began < 1.0
        error = info.value
        assert error.retryable and error.type == "StoreUnavailable"
        with pytest.raises(StoreUnavailable):
            await store.take("api", 1.0, 1, max_wait_s=0)
        with pytest.raises(StoreUnavailable):
            await store.breaker_admit("api", Spec())
        # Bookkeeping steps and the cache degrade quietly.
        assert await store.cache_get("k") == (False, None)
        assert not await store.cache_set("k", "v", 10)
        await store.release("api", "abc")
        record = await store.breaker_record("api", Spec(), "failure", probe=False)
        assert record.state == "closed"
        assert [e.kind for e in events] == ["unavailable"]
        assert isinstance(events[0], StoreEvent) and events[0].mode == "fail_closed"
        assert not store.available
    finally:
        await store.aclose()


async def test_local_mode_falls_back_to_in_process_limits() -> None:
    events: list[Any] = []
    store = RedisStore(_dead_url(), on_unavailable="local", listeners=[events.append])
    try:
        first = await store.acquire("api", 1, lease_s=30, wait_s=0)
        assert first is not None and first.startswith("local:")
        assert await store.acquire("api", 1, lease_s=30, wait_s=0) is None
        await store.release("api", first)
        assert await store.acquire("api", 1, lease_s=30, wait_s=0) is not None
        assert (await store.take("api", 1.0, 1, max_wait_s=0)).ok
        assert not (await store.take("api", 1.0, 1, max_wait_s=0)).ok
        spec = Spec(failures=1, cooldown=30)
        await store.breaker_record("api", spec, "failure", probe=False)
        assert not (await store.breaker_admit("api", spec)).allowed
        assert [e.kind for e in events] == ["unavailable"]
        assert store.stats()["local_fallbacks"] >= 4
    finally:
        await store.aclose()


async def test_redis_restart_recovers(private_redis: RedisServer) -> None:
    events: list[Any] = []
    store = RedisStore(
        private_redis.url, op_timeout=0.3, retry_interval=0.2, listeners=[events.append]
    )
    try:
        assert await store.acquire("api", 1, lease_s=30, wait_s=0) is not None
        private_redis.kill()
        with pytest.raises(StoreUnavailable):
            await store.take("api", 1.0, 1, max_wait_s=0)
        private_redis.start()
        await asyncio.sleep(0.25)
        # The restarted server forgot every lease (it keeps nothing on disk).
        assert await store.acquire("api", 1, lease_s=30, wait_s=0) is not None
        assert [e.kind for e in events] == ["unavailable", "recovered"]
        assert store.available
    finally:
        await store.aclose()


async def test_a_stalled_redis_costs_at_most_op_timeout(private_redis: RedisServer) -> None:
    store = RedisStore(private_redis.url, op_timeout=0.3, retry_interval=0.2)
    try:
        assert (await store.take("api", 1.0, 5, max_wait_s=0)).ok
        assert private_redis.proc is not None
        os.kill(private_redis.proc.pid, signal.SIGSTOP)
        try:
            for _ in range(2):  # one slow reply fails its own step; two in a row: down
                began = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    await store.take("api", 1.0, 5, max_wait_s=0)
                assert time.monotonic() - began < 1.5
            assert not store.available
            began = time.monotonic()
            with pytest.raises(StoreUnavailable):  # while down: no new wait at all
                await store.acquire("api", 1, lease_s=30, wait_s=5)
            assert time.monotonic() - began < 0.1
        finally:
            os.kill(private_redis.proc.pid, signal.SIGCONT)
        await asyncio.sleep(0.25)
        assert (await store.take("api", 1.0, 5, max_wait_s=0)).ok
    finally:
        await store.aclose()


def test_options_are_checked() -> None:
    with pytest.raises(ConfigurationError) as info:
        RedisStore(on_unavailable="open", op_timeout=0, serializer="yaml")  # type: ignore[arg-type]
    assert len(info.value.problems) == 3


def test_url_password_never_shows() -> None:
    store = RedisStore("redis://user:s3cret@127.0.0.1:1/0")
    try:
        assert "s3cret" not in repr(store)
        assert "s3cret" not in str(store.stats())
    finally:
        store.close()


def test_import_toolsafe_imports_neither_redis_nor_ray() -> None:
    import subprocess
    import sys

    code = (
        "import sys, toolsafe\n"
        "assert toolsafe.RedisStore.__name__ == 'RedisStore'\n"
        "from toolsafe.backends.ray import RayBackend\n"
        "print(sorted(m for m in ('redis', 'ray') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_split_package_keeps_every_import_path() -> None:
    import toolsafe.stores.redis as package
    from toolsafe.stores.redis import store as module

    assert toolsafe.RedisStore is package.RedisStore is module.RedisStore is RedisStore
    assert package.StoreUnavailable is StoreUnavailable and package.StoreEvent is StoreEvent
    assert sorted(package.__all__) == ["RedisStore", "StoreEvent", "StoreUnavailable"]


async def test_a_slot_waiter_never_outlasts_its_wait_on_a_stalled_redis(
    private_redis: RedisServer,
) -> None:
    store = RedisStore(private_redis.url, op_timeout=5.0)
    try:
        held = await store.acquire("api", 1, lease_s=30, wait_s=0)
        assert held is not None
        assert private_redis.proc is not None
        os.kill(private_redis.proc.pid, signal.SIGSTOP)
        try:
            began = time.monotonic()
            with pytest.raises(StoreUnavailable):  # no answer is not a busy limit
                await store.acquire("api", 1, lease_s=30, wait_s=0.3)
            assert time.monotonic() - began < 1.0  # its wait, not the 5 s op_timeout
            assert store.available  # one slow reply fails its own step only
        finally:
            os.kill(private_redis.proc.pid, signal.SIGCONT)
    finally:
        await store.aclose()


async def test_runtime_listeners_hear_the_stores_news() -> None:
    events: list[Any] = []

    @toolsafe_tool(concurrency=1, timeout=2)
    def limited(i: int) -> int:
        """A call that needs a slot."""
        return i

    store = RedisStore(_dead_url(), op_timeout=0.3)
    runtime = Runtime([limited], store=store, listeners=[events.append])
    try:
        outcome = await runtime.acall("limited", {"i": 1})
        assert outcome.error is not None and outcome.error.retryable
        store_events = [e for e in events if isinstance(e, StoreEvent)]
        assert [e.kind for e in store_events] == ["unavailable"]
    finally:
        runtime.close()
        await store.aclose()
