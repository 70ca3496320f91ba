"""On a shared store, slot leases are short and renewed while an attempt runs."""

from __future__ import annotations

import asyncio
import time

import pytest

pytest.importorskip("redis")

import _redis
import toolsafe
from toolsafe.policies import concurrency
from toolsafe.stores.redis import RedisStore

redis_url = _redis.redis_url
redis_prefix = _redis.redis_prefix


async def test_a_long_attempt_keeps_its_slot_by_renewing_a_short_lease(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(concurrency, "SHARED_LEASE_S", 0.3)
    store = RedisStore(redis_url, prefix=redis_prefix)

    @toolsafe.tool(concurrency=1, timeout=5)
    async def slow(i: int) -> int:
        """Hold the only slot for 1.2 s, four lease lengths."""
        await asyncio.sleep(1.2)
        return i

    @toolsafe.tool(concurrency=1, timeout=5, deadline=0.9, upstream="slow")
    async def peek(i: int) -> int:
        """Wants the same slot."""
        return i

    runtime = toolsafe.Runtime([slow, peek], store=store)
    holder = asyncio.ensure_future(runtime.acall("slow", {"i": 1}))
    await asyncio.sleep(0.1)
    began = time.monotonic()
    refused = await runtime.acall("peek", {"i": 2})
    # The 0.3 s lease was renewed: the slot stayed taken past 3 lease lengths.
    assert refused.error is not None and refused.error.type == "ConcurrencyLimited"
    assert time.monotonic() - began >= 0.8
    assert (await holder).value == 1
    assert (await runtime.acall("peek", {"i": 3})).value == 3  # and then it came back
    runtime.close()
