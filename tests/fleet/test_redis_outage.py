"""Redis killed and restarted under load: every call still ends, per the chosen mode.

Sync callers on several threads (one event loop each, as the sync API runs) call
through a Runtime on a private Redis that the test kills and restarts mid-run.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

pytest.importorskip("redis")

import _redis
import toolsafe
from _redis import RedisServer
from toolsafe.stores.redis import RedisStore, StoreEvent

private_redis = _redis.private_redis

DEADLINE = 1.0


@toolsafe.tool(
    concurrency=2,
    rate=toolsafe.Rate(per_second=500, burst=50),
    breaker=toolsafe.Breaker(failures=5, cooldown=5),
    deadline=DEADLINE,
)
def lookup(n: int) -> int:
    """A quick tool behind every shared limit."""
    time.sleep(0.002)
    return n * 2


def run_through_outage(
    server: RedisServer, mode: str
) -> tuple[list[tuple[float, str, float]], list[Any]]:
    """Call for ~2.4 s from 3 threads; kill Redis at 0.6 s and restart it at 1.3 s."""
    events: list[Any] = []
    store = RedisStore(
        server.url,
        prefix="outage:",
        on_unavailable=mode,  # type: ignore[arg-type]
        op_timeout=0.3,
        retry_interval=0.2,
        listeners=[events.append],
    )
    results: list[tuple[float, str, float]] = []  # (started, outcome kind, seconds taken)
    lock = threading.Lock()
    begin = time.monotonic()
    stop = begin + 2.4

    with toolsafe.Runtime([lookup], store=store) as runtime:

        def caller() -> None:
            n = 0
            while time.monotonic() < stop:
                started = time.monotonic()
                outcome = runtime.call("lookup", {"n": n})
                took = time.monotonic() - started
                kind = "ok" if outcome.ok else outcome.error.type  # type: ignore[union-attr]
                if outcome.ok:
                    assert outcome.value == 2 * n
                with lock:
                    results.append((started - begin, kind, took))
                n += 1
                time.sleep(0.005)

        threads = [threading.Thread(target=caller) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.6)
        server.kill()
        time.sleep(0.7)
        server.start()
        for t in threads:
            t.join()
    return results, events


def test_fail_closed_through_a_restart(private_redis: RedisServer) -> None:
    results, events = run_through_outage(private_redis, "fail_closed")
    kinds = Counter(kind for _, kind, _ in results)
    assert set(kinds) <= {"ok", "StoreUnavailable"}, kinds
    assert kinds["StoreUnavailable"] > 0
    # Results before the kill and again after the restart.
    assert any(kind == "ok" and at < 0.5 for at, kind, _ in results)
    assert any(kind == "ok" and at > 1.8 for at, kind, _ in results)
    # Nobody hung: every call ended within its deadline (plus scheduling slack).
    assert max(took for _, _, took in results) < DEADLINE + 0.5
    assert [e.kind for e in events if isinstance(e, StoreEvent)][:2] == ["unavailable", "recovered"]


def test_local_mode_keeps_answering_through_a_restart(private_redis: RedisServer) -> None:
    results, events = run_through_outage(private_redis, "local")
    kinds = Counter(kind for _, kind, _ in results)
    # Local limits (2 slots, 500/s per process) are never the binding ones here.
    assert set(kinds) == {"ok"}, kinds
    during = [r for r in results if 0.7 < r[0] < 1.2]
    assert during, "no calls ran while Redis was down"
    assert max(took for _, _, took in results) < DEADLINE + 0.5
    assert [e.kind for e in events if isinstance(e, StoreEvent)][:2] == ["unavailable", "recovered"]
    assert all(e.mode == "local" for e in events if isinstance(e, StoreEvent))
