"""A fleet of real processes sharing one Redis: the limits hold fleet-wide.

Each test starts worker processes (``_worker.py``) that talk to a local HTTP
upstream (``_upstream.py``) through a Runtime on a RedisStore.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("redis")

import _procs
from _procs import go, report
from _upstream import Upstream, max_in_window

import _redis
import toolsafe
from toolsafe.stores.redis import RedisStore

redis_url = _redis.redis_url
redis_prefix = _redis.redis_prefix

WORKER = Path(__file__).with_name("_worker.py")


def start(cfg: dict[str, Any]) -> subprocess.Popen[str]:
    return _procs.start(WORKER, cfg)


def excess_over_bucket(times: list[float], rate: float, burst: int) -> float:
    """The most calls any span [t_i, t_j] saw beyond ``rate * (t_j - t_i) + burst``."""
    ordered = sorted(times)
    worst = float("-inf")
    for i in range(len(ordered)):
        for j in range(i, len(ordered)):
            worst = max(worst, (j - i + 1) - rate * (ordered[j] - ordered[i]) - burst)
    return worst


def test_four_processes_share_one_rate_limit_and_concurrency_cap(
    redis_url: str, redis_prefix: str, terminal_summary: list[str]
) -> None:
    rate, burst, cap, duration = 20.0, 5, 3, 3.0
    with Upstream(latency=0.05) as upstream:
        cfg = {
            "mode": "load",
            "redis_url": redis_url,
            "prefix": redis_prefix,
            "upstream": upstream.url,
            "rate": rate,
            "burst": burst,
            "concurrency": cap,
            "deadline": 2.0,
            "duration": duration,
            "callers": 4,
        }
        fleet = [start(cfg) for _ in range(4)]
        began = time.monotonic()
        go(*fleet)
        reports = [report(p) for p in fleet]
        elapsed = time.monotonic() - began
        arrivals = list(upstream.arrivals)
        peak = upstream.peak

    ok = sum(r["outcomes"].get("ok", 0) for r in reports)
    kinds = {kind for r in reports for kind in r["outcomes"]}
    # Every call ended in a result or one of the pipeline's structured rejections.
    assert kinds <= {"ok", "RateLimited", "ConcurrencyLimited"}, json.dumps(reports, indent=1)
    # Every request the upstream saw belongs to a call that reported a result.
    assert ok == len(arrivals), json.dumps(
        {"ok": ok, "arrivals": len(arrivals), "reports": reports}, indent=1
    )
    # The concurrency cap held across the fleet, and was reached.
    assert peak == cap
    # The bucket held across the fleet: at most rate * t + burst calls in any span t,
    # allowing 250 ms for a granted call to reach the upstream (5 calls at 20/s: on a
    # loaded 2-core machine 100 ms was not enough); a bucket per process admits 4x the rate.
    assert excess_over_bucket(arrivals, rate, burst) <= rate * 0.25, arrivals
    assert max_in_window(arrivals, 1.0) <= rate * 1.1 + burst
    # ... and it was the binding limit: the fleet got close to its share, not starved.
    span = max(arrivals) - min(arrivals)
    assert len(arrivals) >= 0.7 * rate * span
    # Without a shared limit each process would have taken ~rate * duration calls.
    assert len(arrivals) <= rate * elapsed + burst
    # Nobody waited much past the deadline.
    assert max(r["slowest_s"] for r in reports) < 2.0 + 0.05 + 1.0
    rejected = sum(n for r in reports for kind, n in r["outcomes"].items() if kind != "ok")
    terminal_summary.append(
        f"fleet: 4 processes, {len(arrivals)} calls reached the upstream in {span:.2f} s "
        f"({len(arrivals) / span:.1f}/s for a shared {rate:g}/s + burst {burst}), "
        f"peak in flight {peak} (cap {cap}), {rejected} structured rejections, "
        f"worst excess over the bucket {excess_over_bucket(arrivals, rate, burst):.2f} calls"
    )


def test_slots_of_a_killed_process_come_back_when_its_leases_expire(
    redis_url: str, redis_prefix: str
) -> None:
    cap, lease_s = 3, 1.5
    holder = start(
        {
            "mode": "hold",
            "redis_url": redis_url,
            "prefix": redis_prefix,
            "concurrency": cap,
            "lease_s": lease_s,
        }
    )
    store = RedisStore(redis_url, prefix=redis_prefix)
    try:
        go(holder)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        # The live holder renews: its slots stay taken well past one lease.
        time.sleep(lease_s * 1.4)
        assert asyncio.run(store.acquire("api", cap, lease_s=30, wait_s=0)) is None
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        killed = time.monotonic()

        async def take_all() -> list[str | None]:
            return [await store.acquire("api", cap, lease_s=30, wait_s=10) for _ in range(cap)]

        leases = asyncio.run(take_all())
        waited = time.monotonic() - killed
        assert all(leases), leases
        assert waited <= lease_s + 1.0
        assert asyncio.run(store.acquire("api", cap, lease_s=30, wait_s=0)) is None
    finally:
        if holder.poll() is None:
            holder.kill()
        if holder.stdout is not None:
            holder.stdout.close()
        if holder.stdin is not None:
            holder.stdin.close()
        store.close()


def test_a_breaker_opened_in_one_process_fast_fails_the_others(
    redis_url: str, redis_prefix: str
) -> None:
    with Upstream() as upstream:
        tripper = start(
            {
                "mode": "trip",
                "redis_url": redis_url,
                "prefix": redis_prefix,
                "upstream": upstream.url,
                "failures": 3,
            }
        )
        go(tripper)
        seen = report(tripper)["errors"]
        assert seen == ["HTTPError", "HTTPError", "HTTPError", "CircuitOpen"]
        assert upstream.failures == 3

        # This process never saw a failure, yet its calls fail fast without a request.
        from _worker import fetch_tool

        tool = fetch_tool(upstream.url, breaker=toolsafe.Breaker(failures=3, cooldown=60))
        store = RedisStore(redis_url, prefix=redis_prefix)
        with toolsafe.Runtime([tool], store=store) as runtime:
            began = time.monotonic()
            outcomes = [runtime.call("fetch", {"path": "/fail"}) for _ in range(5)]
            elapsed = time.monotonic() - began
        assert all(o.error is not None and o.error.type == "CircuitOpen" for o in outcomes)
        assert all(o.error.retryable and o.error.retry_after_s for o in outcomes)  # type: ignore[union-attr]
        assert 55 < outcomes[0].error.retry_after_s <= 60  # type: ignore[union-attr]
        assert upstream.failures == 3
        assert elapsed < 1.0
