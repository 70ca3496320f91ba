"""The Redis store's auto-pipelining (``toolsafe.stores.redis._pipe``): one loop's
concurrent scripts go as one write; a caller that stops waiting never leaks a slot;
every call still ends (``StoreUnavailable`` or the local fallback) when the server
hangs or dies under many concurrent callers.

Servers that a test stops or kills are private (``private_redis``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from typing import Any

import pytest

pytest.importorskip("redis")

import _redis
import toolsafe
from _redis import RedisServer, keys_of
from toolsafe import Breaker, Runtime
from toolsafe.stores._joined import Admit
from toolsafe.stores.redis import RedisStore, StoreUnavailable

redis_url = _redis.redis_url
redis_prefix = _redis.redis_prefix
private_redis = _redis.private_redis

BREAKER = Breaker(failures=5)


def _plan(limit: int = 1) -> Admit:
    return Admit(
        breaker=("api", BREAKER),
        rate=("api", 1000.0, 1000, 0.0),
        slots=(("api", limit),),
        lease_s=30.0,
    )


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes of every write to a Redis connection of the asyncio client."""
    import redis.asyncio.connection as rconn

    seen: list[int] = []
    original = rconn.AbstractConnection.send_packed_command

    async def counted(self: Any, command: Any, check_health: bool = True) -> None:
        seen.append(len(command))
        await original(self, command, check_health)

    monkeypatch.setattr(rconn.AbstractConnection, "send_packed_command", counted)
    return seen


async def test_concurrent_admissions_share_one_write_and_each_gets_its_answer(
    redis_url: str, redis_prefix: str, writes: list[int]
) -> None:
    store = RedisStore(redis_url, prefix=redis_prefix)
    try:
        await store.admit(_plan(limit=10))  # connected, scripts loaded
        writes.clear()
        answers = await asyncio.gather(*(store.admit(_plan(limit=10)) for _ in range(30)))
        assert len(writes) == 1  # 30 scripts, one pipeline
        granted = [a for a in answers if a.leases]
        assert len(granted) == 9  # the limit holds: the first admission's lease + 9
        assert all(a.breaker is not None and a.breaker.allowed for a in answers)
        assert len({a.leases[0] for a in granted}) == 9
        assert await store.holders("api") == 10
    finally:
        await store.aclose()


async def test_a_restarted_server_loses_its_scripts_and_the_pipe_sends_them_again(
    private_redis: RedisServer,
) -> None:
    store = RedisStore(private_redis.url, prefix="noscript:", retry_interval=0.1)
    try:
        assert (await store.admit(_plan())).leases
        import redis

        redis.Redis.from_url(private_redis.url).script_flush()
        answers = await asyncio.gather(*(store.admit(_plan(limit=3)) for _ in range(4)))
        assert sum(len(a.leases) for a in answers) == 2  # 3 slots, one already held
    finally:
        await store.aclose()


@pytest.fixture
def stoppable(private_redis: RedisServer) -> Any:
    assert private_redis.proc is not None
    pid = private_redis.proc.pid
    stopped: list[bool] = []

    def stop() -> None:
        os.kill(pid, signal.SIGSTOP)
        stopped.append(True)

    def cont() -> None:
        if stopped:
            os.kill(pid, signal.SIGCONT)
            stopped.clear()

    yield stop, cont
    cont()


async def test_a_cancelled_admission_whose_script_ran_gives_its_slot_back(
    private_redis: RedisServer, stoppable: Any
) -> None:
    stop, cont = stoppable
    store = RedisStore(private_redis.url, prefix="cancel-sent:", op_timeout=5.0)
    try:
        first = await store.admit(_plan(limit=2))
        stop()
        task = asyncio.ensure_future(store.admit(_plan(limit=2)))
        await asyncio.sleep(0.1)  # written; the server has not read it yet
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        cont()
        # The script runs now and takes the second slot; its reply goes to the orphan,
        # which gives the slot back.
        for _ in range(100):
            await asyncio.sleep(0.02)
            if await store.holders("api") == len(first.leases):
                break
        assert await store.holders("api") == len(first.leases) == 1
        tokens = keys_of(private_redis.url, "cancel-sent:")
        assert "cancel-sent:rate:{api}" in tokens  # the cancelled script did run
    finally:
        cont()
        await store.aclose()


async def test_an_admission_cancelled_before_it_was_sent_never_runs(
    redis_url: str, redis_prefix: str, writes: list[int]
) -> None:
    store = RedisStore(redis_url, prefix=redis_prefix)
    try:
        plan = Admit(rate=("fresh", 1000.0, 1000, 0.0), slots=(("fresh", 1),), lease_s=30.0)
        await store.take("warm", 1.0, 1, max_wait_s=0)  # connected
        writes.clear()
        task = asyncio.ensure_future(store.admit(plan))
        await asyncio.sleep(0)  # the admission is queued for the next batch
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)
        assert writes == []  # dropped from the batch: it never reached Redis
        assert set(keys_of(redis_url, redis_prefix)) == {redis_prefix + "rate:{warm}"}
        assert await store.holders("fresh") == 0
    finally:
        await store.aclose()


async def test_an_admission_that_times_out_on_a_hung_server_leaks_no_slot(
    private_redis: RedisServer, stoppable: Any
) -> None:
    stop, cont = stoppable
    store = RedisStore(private_redis.url, prefix="hung-admit:", op_timeout=0.3)
    try:
        assert (await store.admit(_plan())).leases
        stop()
        with pytest.raises(StoreUnavailable):
            await store.admit(_plan(limit=2))
        cont()
        for _ in range(100):
            await asyncio.sleep(0.02)
            if await _holders_when_up(store) == 1:
                break
        assert await store.holders("api") == 1  # the timed-out admission's slot came back
    finally:
        cont()
        await store.aclose()


async def _holders_when_up(store: RedisStore) -> int:
    try:
        return await store.holders("api")
    except Exception:
        return -1


def _tool() -> Any:
    @toolsafe.tool(
        breaker=Breaker(failures=1000),
        rate=toolsafe.Rate(per_second=100_000, burst=100_000),
        concurrency=1000,
        timeout=0.5,
        deadline=1.0,
    )
    async def guarded(i: int) -> int:
        """Behind every shared limit."""
        return i

    return guarded


async def _callers(runtime: Runtime, seconds: float, during: Any) -> tuple[Counter[str], float]:
    """64 concurrent callers for ``seconds``; ``during`` runs in the middle. Returns
    each outcome kind and the slowest call (ms)."""
    kinds: Counter[str] = Counter()
    slowest = 0.0
    stop_at = time.monotonic() + seconds

    async def caller() -> None:
        nonlocal slowest
        i = 0
        while time.monotonic() < stop_at:
            began = time.monotonic()
            outcome = await runtime.acall("guarded", {"i": i})
            slowest = max(slowest, (time.monotonic() - began) * 1000)
            kinds["ok" if outcome.ok else (outcome.error.type if outcome.error else "?")] += 1
            # A call on local limits (Redis resting) need not suspend at all: without this,
            # one caller's loop would hold the event loop and starve the others' timers.
            await asyncio.sleep(0.01 if not outcome.ok else 0)
            i += 1

    async def middle() -> None:
        await asyncio.sleep(seconds / 3)
        await asyncio.to_thread(during)

    await asyncio.gather(middle(), *(caller() for _ in range(64)))
    return kinds, slowest


@pytest.mark.parametrize("mode", ["fail_closed", "local"])
@pytest.mark.parametrize("outage", ["hung", "killed"])
async def test_64_callers_through_an_outage_all_end_within_their_deadline(
    private_redis: RedisServer, stoppable: Any, mode: str, outage: str
) -> None:
    """SIGSTOP for 0.8 s, or SIGKILL and a restart 0.3 s later (scripts and state lost),
    in the middle of 64 callers' run: every call ends within its deadline, ok or
    (``fail_closed``) ``StoreUnavailable``; afterwards calls go through again."""
    stop, cont = stoppable
    store = RedisStore(
        private_redis.url,
        prefix=f"pipe-{outage}:",
        op_timeout=0.3,
        retry_interval=0.2,
        on_unavailable=mode,  # type: ignore[arg-type]
    )

    def hang() -> None:
        stop()
        time.sleep(0.8)
        cont()

    def restart() -> None:
        private_redis.kill()
        time.sleep(0.3)
        private_redis.start()

    with Runtime([_tool()], store=store) as runtime:
        kinds, slowest = await _callers(runtime, 2.4, hang if outage == "hung" else restart)
        await asyncio.sleep(0.3)  # past retry_interval: Redis is tried again
        after = await runtime.acall("guarded", {"i": 0})
        await store.aclose_loop()
    assert after.ok, after
    assert kinds["ok"] > 0
    expected = {"ok", "StoreUnavailable"} if mode == "fail_closed" else {"ok"}
    assert set(kinds) <= expected, kinds
    if mode == "fail_closed" and outage == "hung":
        assert kinds["StoreUnavailable"] > 0
    assert slowest < 1500, slowest  # the deadline (1 s), and a little
