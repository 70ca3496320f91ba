"""A hung Redis (SIGSTOP: connections stay open, nothing answers) is an unavailable
store, in both modes: ``StoreUnavailable`` (retryable, the tool did not run) with
``fail_closed``, the local fallback with ``local``; never a busy limit, and no longer
than the call's share of time.

Every test stops a PRIVATE server of its own (``private_redis``: a free port),
never the shared one. The bounds on elapsed time are loose (the point is "the
attempt's share, not op_timeout + connect_timeout = 2.5 s").
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

pytest.importorskip("redis")

import _redis
import toolsafe
from _redis import RedisServer
from toolsafe import Breaker, Runtime
from toolsafe.stores.redis import RedisStore, StoreUnavailable

private_redis = _redis.private_redis

TIMEOUT = 0.3
#: Well under the 2.5 s a step took when it had to connect first (op 0.5 + connect 2.0).
BOUND_MS = 1500


@contextmanager
def stopped(server: RedisServer) -> Iterator[None]:
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)


def _tools() -> list[Any]:
    @toolsafe.tool(concurrency=1, timeout=TIMEOUT)
    def slotted(i: int) -> int:
        """Needs a shared slot."""
        return i

    @toolsafe.tool(rate="100/s", timeout=TIMEOUT)
    def rated(i: int) -> int:
        """Needs a shared token."""
        return i

    @toolsafe.tool(breaker=Breaker(failures=3), timeout=TIMEOUT)
    def guarded(i: int) -> int:
        """Needs the shared breaker's verdict."""
        return i

    @toolsafe.tool(concurrency=1, timeout=TIMEOUT)
    async def aslotted(i: int) -> int:
        """The same gates on async bodies: the joined store steps of the async chain."""
        return i

    @toolsafe.tool(rate="100/s", timeout=TIMEOUT)
    async def arated(i: int) -> int:
        """Needs a shared token."""
        return i

    @toolsafe.tool(breaker=Breaker(failures=3), timeout=TIMEOUT)
    async def aguarded(i: int) -> int:
        """Needs the shared breaker's verdict."""
        return i

    return [slotted, rated, guarded, aslotted, arated, aguarded]


GATES = ["slotted", "rated", "guarded", "aslotted", "arated", "aguarded"]


@pytest.mark.parametrize("tool", GATES)
@pytest.mark.parametrize("connected", [True, False], ids=["connected", "first-connection"])
def test_fail_closed_a_hung_redis_is_store_unavailable_within_the_attempts_share(
    private_redis: RedisServer, tool: str, connected: bool
) -> None:
    store = RedisStore(private_redis.url, prefix="hung:")
    with Runtime(_tools(), store=store) as runtime:
        if connected:
            assert runtime.call(tool, {"i": 1}).ok
        with stopped(private_redis):
            outcomes = [runtime.call(tool, {"i": 2}) for _ in range(3)]
    store.close()
    for outcome in outcomes:
        assert outcome.error is not None, outcome
        assert outcome.error.type == "StoreUnavailable" and outcome.error.retryable
        assert outcome.elapsed_ms < BOUND_MS, outcome.elapsed_ms
    assert not store.available  # slow replies in a row: Redis is down, later steps fail fast


@pytest.mark.parametrize("tool", GATES)
@pytest.mark.parametrize("connected", [True, False], ids=["connected", "first-connection"])
def test_local_mode_falls_back_when_redis_hangs(
    private_redis: RedisServer, tool: str, connected: bool
) -> None:
    store = RedisStore(private_redis.url, prefix="hung-local:", on_unavailable="local")
    with Runtime(_tools(), store=store) as runtime:
        if connected:
            assert runtime.call(tool, {"i": 1}).ok
        with stopped(private_redis):
            outcomes = [runtime.call(tool, {"i": i}) for i in range(3)]
    store.close()
    assert [o.value for o in outcomes] == [0, 1, 2]  # the tool ran, on local limits
    assert all(o.elapsed_ms < 2 * BOUND_MS for o in outcomes)
    assert store.stats()["local_fallbacks"] >= 3


async def test_a_slot_waiter_on_a_hung_redis_gets_store_unavailable_not_a_busy_limit(
    private_redis: RedisServer,
) -> None:
    store = RedisStore(private_redis.url, prefix="hung-wait:", op_timeout=5.0)
    try:
        held = await store.acquire("api", 1, lease_s=30, wait_s=0)
        assert held is not None
        with stopped(private_redis), pytest.raises(StoreUnavailable):
            await store.acquire("api", 1, lease_s=30, wait_s=0.3)  # not None ("busy")
        assert await store.acquire("api", 1, lease_s=30, wait_s=0) is None  # truly busy
    finally:
        await store.aclose()


def test_a_result_is_not_held_back_by_a_redis_that_hangs_while_the_tool_runs(
    private_redis: RedisServer,
) -> None:
    assert private_redis.proc is not None
    pid = private_redis.proc.pid

    @toolsafe.tool(concurrency=1, timeout=5)
    def hangs_redis(stop: bool) -> str:
        """Stops the server while holding its slot."""
        if stop:
            os.kill(pid, signal.SIGSTOP)
        return "done"

    store = RedisStore(private_redis.url, prefix="hung-release:", op_timeout=2.0)
    try:
        with Runtime([hangs_redis], store=store) as runtime:
            assert runtime.call("hangs_redis", {"stop": False}).ok
            outcome = runtime.call("hangs_redis", {"stop": True})
            os.kill(pid, signal.SIGCONT)
        assert outcome.value == "done"
        assert outcome.elapsed_ms < 1500  # not the 2 s the release could wait for Redis
    finally:
        os.kill(pid, signal.SIGCONT)
        store.close()
