"""One process of a fleet: ``python _worker.py '<json>'``; reports JSON on its last line.

Modes:

- ``load``: for ``duration`` seconds, ``callers`` concurrent callers call the
  upstream through a Runtime on a RedisStore (shared rate limit and concurrency
  cap on upstream ``api``); prints the count of each outcome type.
- ``hold``: takes every slot of ``api`` straight from the store with a short
  lease, renews the leases (as a long call does), prints ``held`` and sleeps
  until killed.
- ``trip``: calls a failing endpoint through a breaker until the breaker opens.

Every mode waits for a ``go`` line on stdin after printing ``ready``, so a fleet
starts together whatever each interpreter's start-up time.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import toolsafe
from toolsafe.stores.redis import RedisStore


def fetch_tool(base: str, name: str = "fetch", **options: Any) -> toolsafe.Tool:
    @toolsafe.tool(name=name, upstream="api" if options else None, **options)
    def fetch(path: str) -> str:
        """GET a path of the upstream."""
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return str(response.read().decode())

    return fetch


def wait_for_go() -> None:
    print("ready", flush=True)
    line = sys.stdin.readline()
    if line.strip() != "go":
        sys.exit(3)


async def load(cfg: dict[str, Any]) -> dict[str, Any]:
    store = RedisStore(cfg["redis_url"], prefix=cfg["prefix"])
    tool = fetch_tool(
        cfg["upstream"],
        concurrency=cfg["concurrency"],
        rate=toolsafe.Rate(per_second=cfg["rate"], burst=cfg["burst"]),
        timeout=5,
        deadline=cfg["deadline"],
    )
    outcomes: Counter[str] = Counter()
    errors: dict[str, str] = {}
    slowest = 0.0
    warm = fetch_tool(cfg["upstream"], name="warm")
    with toolsafe.Runtime([tool, warm], store=store) as runtime:
        # Warm up (HTTP client, worker threads, a Redis connection) outside the limits.
        assert (await runtime.acall("warm", {"path": "/warm"})).ok
        await store.breaker_state("warm")
        wait_for_go()
        stop = time.monotonic() + cfg["duration"]

        async def caller() -> None:
            nonlocal slowest
            while time.monotonic() < stop:
                began = time.monotonic()
                outcome = await runtime.acall("fetch", {"path": "/ok"})
                slowest = max(slowest, time.monotonic() - began)
                if outcome.error is None:
                    outcomes["ok"] += 1
                    continue
                outcomes[outcome.error.type] += 1
                errors.setdefault(outcome.error.type, outcome.text)
                await asyncio.sleep(0.01)  # an agent would back off too

        await asyncio.gather(*(caller() for _ in range(cfg["callers"])))
    return {"outcomes": dict(outcomes), "errors": errors, "slowest_s": slowest}


async def hold(cfg: dict[str, Any]) -> None:
    store = RedisStore(cfg["redis_url"], prefix=cfg["prefix"])
    leases = []
    for _ in range(cfg["concurrency"]):
        lease = await store.acquire("api", cfg["concurrency"], lease_s=cfg["lease_s"], wait_s=5)
        assert lease is not None
        leases.append(lease)
    wait_for_go()
    print("held", flush=True)
    while True:
        await asyncio.sleep(cfg["lease_s"] / 3)
        for lease in leases:
            await store.renew("api", lease, cfg["lease_s"])


async def trip(cfg: dict[str, Any]) -> dict[str, Any]:
    store = RedisStore(cfg["redis_url"], prefix=cfg["prefix"])
    tool = fetch_tool(
        cfg["upstream"], breaker=toolsafe.Breaker(failures=cfg["failures"], cooldown=60)
    )
    seen = []
    with toolsafe.Runtime([tool], store=store) as runtime:
        wait_for_go()
        for _ in range(cfg["failures"] + 5):
            outcome = await runtime.acall("fetch", {"path": "/fail"})
            assert outcome.error is not None
            seen.append(outcome.error.type)
            if outcome.error.type == "CircuitOpen":
                break
    return {"errors": seen}


def main() -> None:
    cfg = json.loads(sys.argv[1])
    mode = cfg["mode"]
    if mode == "load":
        report: Any = asyncio.run(load(cfg))
    elif mode == "hold":
        asyncio.run(hold(cfg))
        return
    elif mode == "trip":
        report = asyncio.run(trip(cfg))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
