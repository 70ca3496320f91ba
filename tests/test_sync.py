"""The sync bridge: event loops (and what hangs off them) stay bounded under thread churn."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from urllib.parse import urlparse

import psutil

import _redis
import toolsafe
from toolsafe import Runtime
from toolsafe._sync import FREE_LOOPS, SyncBridge
from toolsafe.stores.redis import RedisStore

redis_url = _redis.redis_url
redis_prefix = _redis.redis_prefix


@toolsafe.tool
def echo(x: int) -> int:
    """Return x."""
    return x


@toolsafe.tool
async def aecho(x: int) -> int:
    """Return x, awaiting once."""
    await asyncio.sleep(0)
    return x


def _churn(work: Callable[[int], None], *, sequential: int, rounds: int, width: int) -> None:
    """Threads that each make calls and end: one at a time, then ``width`` at a time."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    for i in range(sequential):
        thread = threading.Thread(target=run, args=(i,))
        thread.start()
        thread.join()
    for _ in range(rounds):
        threads = [threading.Thread(target=run, args=(i,)) for i in range(width)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors[:3]


def test_short_lived_threads_do_not_leak_event_loops_or_file_descriptors() -> None:
    process = psutil.Process()
    with Runtime([echo, aecho]) as rt:
        assert rt.call("echo", {"x": 0}).value == 0  # this thread's loop, pool warm
        before = process.num_fds()

        def work(i: int) -> None:
            assert rt.call("echo", {"x": i}).value == i  # eager path
            assert rt.call("aecho", {"x": i}).value == i  # runs the loop

        _churn(work, sequential=500, rounds=5, width=30)
        # 500 + 150 threads made a loop each before; now they reuse a bounded few
        assert rt._bridge.loops() <= FREE_LOOPS + 1
        assert process.num_fds() - before <= 3 * FREE_LOOPS + 4  # 3 fds per open loop
    assert rt._bridge.loops() == 0


def test_a_redis_store_keeps_a_bounded_number_of_connections(
    redis_url: str, redis_prefix: str
) -> None:
    port = urlparse(redis_url).port or 6379
    process = psutil.Process()

    def to_redis() -> int:
        return sum(
            1
            for c in process.net_connections(kind="tcp")
            if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
        )

    store = RedisStore(redis_url, prefix=redis_prefix)
    limited = toolsafe.tool(echo.fn, name="limited", concurrency=4)  # slots live in Redis
    try:
        with Runtime([limited], store=store) as rt:

            def work(i: int) -> None:
                outcome = rt.call("limited", {"x": i})
                assert outcome.value == i, outcome.text

            _churn(work, sequential=200, rounds=3, width=12)
            assert store.stats()["event_loops"] <= FREE_LOOPS + 1
            assert to_redis() <= 2 * (FREE_LOOPS + 2)  # a client per loop, plus the sync one
    finally:
        store.close()


def test_a_closed_bridge_closes_loops_and_a_later_call_gets_a_fresh_one() -> None:
    bridge = SyncBridge()

    async def three() -> int:
        await asyncio.sleep(0)
        return 3

    assert bridge.run(three) == 3
    assert bridge.loops() == 1
    bridge.close()
    assert bridge.loops() == 0
    assert bridge.run(three) == 3  # not an "Event loop is closed" error


def test_a_sync_call_from_inside_a_running_loop_uses_the_background_loop() -> None:
    with Runtime([echo, aecho]) as rt:

        async def inside() -> list[int]:
            return [rt.call("echo", {"x": 1}).value, rt.call("aecho", {"x": 2}).value]

        assert asyncio.run(inside()) == [1, 2]
