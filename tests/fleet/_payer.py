"""One process delivering charges: ``python _payer.py '<json>'``; JSON on its last line.

``pay``: delivers ``orders`` (duplicates included) through a Runtime on a RedisStore,
``callers`` at a time, spread over ``spread_s`` seconds; reports every outcome.
``hang``: charges one ``slow-`` order (the upstream books it, then hangs) and waits to
be killed. Both print ``ready`` and wait for ``go`` first.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from _payments import charge_tools

import toolsafe
from toolsafe.policies import idempotency
from toolsafe.stores.redis import RedisStore


async def pay(cfg: dict[str, Any], runtime: toolsafe.Runtime) -> dict[str, Any]:
    orders: list[str] = cfg["orders"]
    sem = asyncio.Semaphore(cfg["callers"])
    spread = cfg.get("spread_s", 0.0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    out: list[dict[str, Any]] = []

    async def one(i: int, order: str) -> None:
        await asyncio.sleep(max(0.0, began + spread * i / len(orders) - loop.time()))
        async with sem:
            outcome = await runtime.acall(cfg["tool"], {"order_id": order, "note": f"try {i}"})
        out.append(
            {
                "order": order,
                "ok": outcome.ok,
                "replayed": outcome.replayed,
                "text": outcome.text if outcome.ok else None,
                "error": None if outcome.error is None else outcome.error.type,
            }
        )

    await asyncio.gather(*(one(i, o) for i, o in enumerate(orders)))
    return {"outcomes": out}


def main() -> None:
    cfg = json.loads(sys.argv[1])
    idempotency.SHARED_LEASE_S = cfg.get("lease_s", idempotency.SHARED_LEASE_S)
    store = RedisStore(cfg["redis_url"], prefix=cfg["prefix"], op_timeout=cfg.get("op_timeout", 1.0))
    runtime = toolsafe.Runtime(charge_tools(cfg["base"], cfg.get("timeout", 2.0)), store=store)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit(3)
    if cfg["mode"] == "hang":
        runtime.call(cfg["tool"], {"order_id": cfg["orders"][0]})
        return
    result = asyncio.run(pay(cfg, runtime))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
