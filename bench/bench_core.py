"""Foundation: the bare runtime's per-call cost and batch throughput (issue 2 targets).

Baselines, measured in the same run: a direct call, ``pydantic.validate_call``,
``asyncio.to_thread`` and a bare ``asyncio.gather`` of the same coroutines.
Memory-sensitive cases run in fresh subprocesses so each peak RSS is its own.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench._report import Report, peak_rss_mb, run_json

N_SEQ = 20_000


def _tools() -> tuple[Any, Any, Any]:
    import toolsafe

    @toolsafe.tool
    async def aecho(x: int) -> int:
        """Return x."""
        return x

    @toolsafe.tool
    def echo(x: int) -> int:
        """Return x."""
        return x

    return toolsafe, aecho, echo


def _async_per_call() -> dict[str, float]:
    import pydantic

    toolsafe, aecho, echo = _tools()
    runtime = toolsafe.Runtime([aecho, echo])

    async def raw(x: int) -> int:
        return x

    validated = pydantic.validate_call(raw)

    def plain(x: int) -> int:
        return x

    async def loop_of(make: Any, n: int) -> float:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for i in range(n):
                await make(i)
            best = min(best, (time.perf_counter() - start) / n)
        return best * 1e6

    async def main() -> dict[str, float]:
        return {
            "direct": await loop_of(lambda i: raw(i), N_SEQ),
            "validate_call": await loop_of(lambda i: validated(x=i), N_SEQ),
            "acall_async": await loop_of(lambda i: runtime.acall("aecho", {"x": i}), N_SEQ),
            "to_thread": await loop_of(lambda i: asyncio.to_thread(plain, i), 3000),
            "acall_sync": await loop_of(lambda i: runtime.acall("echo", {"x": i}), 3000),
        }

    out = asyncio.run(main())
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for i in range(3000):
            runtime.call("echo", {"x": i})
        best = min(best, (time.perf_counter() - start) / 3000)
    out["call_sync"] = best * 1e6
    runtime.close()
    return out


# ---------------------------------------------------------------- subprocess cases

CASES = {
    "gather_instant": """
async def f(x):
    return x
async def main():
    await asyncio.gather(*(f(i) for i in range(10_000)))
""",
    "runtime_instant": """
import toolsafe
@toolsafe.tool
async def f(x: int) -> int:
    "Return x."
    return x
rt = toolsafe.Runtime([f])
async def main():
    outs = await rt.acall_many([("f", {"x": i}) for i in range(10_000)])
    assert all(o.ok for o in outs)
""",
    "gather_sleep50": """
async def f(x):
    await asyncio.sleep(0.05)
    return x
async def main():
    await asyncio.gather(*(f(i) for i in range(10_000)))
""",
    "runtime_sleep50": """
import toolsafe
@toolsafe.tool
async def f(x: int) -> int:
    "Sleep 50 ms."
    await asyncio.sleep(0.05)
    return x
rt = toolsafe.Runtime([f])
async def main():
    outs = await rt.acall_many([("f", {"x": i}) for i in range(10_000)])
    assert all(o.ok for o in outs)
""",
    "runtime_sleep50_frozen": """
import gc, toolsafe
@toolsafe.tool
async def f(x: int) -> int:
    "Sleep 50 ms."
    await asyncio.sleep(0.05)
    return x
rt = toolsafe.Runtime([f])
gc.freeze()  # start-up objects out of the collector's way
async def main():
    outs = await rt.acall_many([("f", {"x": i}) for i in range(10_000)])
    assert all(o.ok for o in outs)
""",
    "to_thread_block50": """
import time
def f(x):
    time.sleep(0.05)
    return x
async def main():
    await asyncio.gather(*(asyncio.to_thread(f, i) for i in range(1_000)))
""",
    "runtime_block50": """
import time, toolsafe
@toolsafe.tool
def f(x: int) -> int:
    "Block 50 ms."
    time.sleep(0.05)
    return x
rt = toolsafe.Runtime([f])
async def main():
    outs = await rt.acall_many([("f", {"x": i}) for i in range(1_000)])
    assert all(o.ok for o in outs), [o.text for o in outs if not o.ok][:3]
""",
}

_RUNNER = """
import asyncio, json, time, resource
{body}
asyncio.run(main())  # warm-up (imports, thread start)
start = time.perf_counter()
asyncio.run(main())
wall = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"wall": wall, "rss": rss}}))
"""


def _subprocess_case(name: str) -> dict[str, float]:
    walls, rss = [], 0.0
    for _ in range(3):
        data = run_json(["-c", _RUNNER.format(body=CASES[name])])
        walls.append(data["wall"])
        rss = max(rss, data["rss"])
    walls.sort()
    return {"wall": walls[1], "rss": rss}


def run() -> Report:
    report = Report("01_core", "Foundation: bare runtime (issue 2)")
    per = _async_per_call()
    report.text(
        "Per call, sequential awaits on one event loop (best of 5 runs). `acall` includes "
        "argument validation (strict pydantic), the timeout step, serialization of the result "
        "and building the Outcome."
    )
    report.table(
        ["path", "µs per call", "vs baseline", "target"],
        [
            ["direct `await f(x)`", f"{per['direct']:.2f}", "baseline", ""],
            ["`pydantic.validate_call` async", f"{per['validate_call']:.2f}", "", ""],
            [
                "`runtime.acall` async tool",
                f"{per['acall_async']:.2f}",
                f"+{per['acall_async'] - per['direct']:.2f} µs over direct",
                "≤ 10 µs",
            ],
            ["`await asyncio.to_thread(f)`", f"{per['to_thread']:.2f}", "baseline", ""],
            [
                "`runtime.call` sync tool (from sync code)",
                f"{per['call_sync']:.2f}",
                f"{per['call_sync'] / per['to_thread']:.2f} × to_thread",
                "≤ 1.2 × to_thread",
            ],
            [
                "`runtime.acall` sync tool",
                f"{per['acall_sync']:.2f}",
                f"{per['acall_sync'] / per['to_thread']:.2f} × to_thread",
                "",
            ],
        ],
    )
    cases = {name: _subprocess_case(name) for name in CASES}
    report.text(
        "Batches, wall time (median of 3 fresh processes, after one warm-up batch in the "
        "same process) and peak RSS of the process."
    )

    def row(label: str, name: str, base: str, target: str) -> list[str]:
        c, b = cases[name], cases[base]
        return [
            label,
            f"{c['wall']:.3f}",
            f"{b['wall']:.3f}",
            f"{c['wall'] / b['wall']:.1f}×",
            f"{c['rss']:.0f}",
            target,
        ]

    report.table(
        ["batch", "wall s", "baseline wall s", "ratio", "peak RSS MB", "target"],
        [
            row(
                "10,000 async calls, instant (vs bare gather)",
                "runtime_instant",
                "gather_instant",
                "≤ 0.35 s",
            ),
            row(
                "10,000 async calls sleeping 50 ms (vs bare gather)",
                "runtime_sleep50",
                "gather_sleep50",
                "≤ 0.5 s, ≤ 200 MB",
            ),
            row(
                "same, `gc.freeze()` after start-up",
                "runtime_sleep50_frozen",
                "gather_sleep50",
                "",
            ),
            row(
                "1,000 sync calls blocking 50 ms, defaults (vs to_thread gather)",
                "runtime_block50",
                "to_thread_block50",
                "≤ 1.0 s",
            ),
        ],
    )
    report.text(
        "Most of the gap to a bare gather with 10,000 calls in flight is Python's cyclic "
        "garbage collector walking every live call's objects (asyncio's Task, futures and "
        "timer handles, and ours); `gc.freeze()` once after start-up keeps the imported "
        "modules out of each collection. "
        "Sync tools run on toolsafe's I/O-sized worker pool (256 threads by default, "
        "`Runtime(sync_workers=...)`); `asyncio.to_thread` uses the loop's default executor "
        f"(min(32, cpus + 4) threads), which is why it queues. Peak RSS of this process: "
        f"{peak_rss_mb():.0f} MB."
    )
    return report
