"""Resilience pipeline: what the policies cost, at scale, and how fast hung tools are cut off.

Cases (issue 3 targets):

- per async call, the full pipeline on (timeout + retry + breaker + concurrency
  limit + rate limit, nothing failing) over the bare runtime: ≤ +5 µs;
- 10,000 concurrent async calls of a 50 ms tool through the full pipeline:
  ≤ 0.6 s wall, ≤ 250 MB peak RSS (in a fresh process);
- the process backend's per-call cost beside the thread backend's;
- from a hung tool's deadline to its call returning (≤ 50 ms), and to its worker
  process being replaced.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from bench._report import Report, peak_rss_mb, run_json

N_SEQ = 20_000

#: Policy options that are all on but never get in the way (nothing fails, nothing waits).
FULL = """dict(
    timeout=30,
    retry=toolsafe.Retry(attempts=3),
    breaker=toolsafe.Breaker(failures=5),
    concurrency=20_000,
    rate=toolsafe.Rate(per_second=10_000_000, burst=1_000_000),
)"""


def _per_call() -> dict[str, float]:
    """µs per sequential ``acall``, each variant measured in alternation, best of 7."""
    import toolsafe

    async def echo(x: int) -> int:
        return x

    full: dict[str, Any] = eval(FULL, {"toolsafe": toolsafe})
    variants = {
        "bare": {},
        "full": full,
        "retry": {"retry": full["retry"]},
        "breaker": {"breaker": full["breaker"]},
        "concurrency": {"concurrency": full["concurrency"]},
        "rate": {"rate": full["rate"]},
    }
    tools = [toolsafe.tool(echo, name=name, **opts) for name, opts in variants.items()]
    runtime = toolsafe.Runtime(tools)

    async def timed(name: str, n: int) -> float:
        # CPU time of this process: on a shared machine, wall time mostly measures the
        # neighbours; the calls here never wait, so CPU time is their whole cost.
        start = time.process_time()
        for i in range(n):
            await runtime.acall(name, {"x": i})
        return (time.process_time() - start) / n * 1e6

    async def main() -> dict[str, float]:
        best = dict.fromkeys(variants, float("inf"))
        for name in variants:
            await timed(name, 2000)  # warm-up
        for _ in range(7):
            for name in variants:
                best[name] = min(best[name], await timed(name, N_SEQ // 4))
        return best

    out = asyncio.run(main())
    runtime.close()
    return out


# ---------------------------------------------------------------- 10,000 concurrent calls

_BATCH = """
import asyncio, json, time, resource
import toolsafe
OPTIONS = {options}
@toolsafe.tool(**OPTIONS)
async def f(x: int) -> int:
    "Sleep 50 ms."
    await asyncio.sleep(0.05)
    return x
rt = toolsafe.Runtime([f])
async def main():
    outs = await rt.acall_many([("f", {{"x": i}}) for i in range(10_000)])
    assert all(o.ok for o in outs), [o.text for o in outs if not o.ok][:3]
asyncio.run(main())  # warm-up
start, cpu = time.perf_counter(), time.process_time()
asyncio.run(main())
wall, cpu = time.perf_counter() - start, time.process_time() - cpu
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"wall": wall, "cpu": cpu, "rss": rss}}))
"""


def _batch(options: str) -> dict[str, float]:
    walls, cpus, rss = [], [], 0.0
    for _ in range(3):
        data = run_json(["-c", _BATCH.format(options=options)])
        walls.append(data["wall"])
        cpus.append(data["cpu"])
        rss = max(rss, data["rss"])
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "rss": rss}


# ---------------------------------------------------------------- backends and hung tools

_TOOLS = """
import asyncio, os, time
import toolsafe

@toolsafe.tool
def echo(x: int) -> int:
    return x

@toolsafe.tool
async def aecho(x: int) -> int:
    return x

@toolsafe.tool
def hang() -> str:
    while True:
        time.sleep(1)

@toolsafe.tool
async def ahang() -> str:
    await asyncio.Event().wait()
    return "never"
"""

_BACKENDS = """
import asyncio, json, statistics, sys, time
sys.path.insert(0, {tools_dir!r})
import toolsafe, bench_pipeline_tools as t
from toolsafe.backends.process import ProcessBackend

def per_call(rt, name, n):
    async def go():
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for i in range(n):
                out = await rt.acall(name, {{"x": i}})
                assert out.ok, out.text
            best = min(best, (time.perf_counter() - start) / n)
        return best * 1e6
    return asyncio.run(go())

def hung(rt, name, timeout, rounds, backend=None):
    late, replaced = [], []
    for _ in range(rounds):
        before = backend.stats()["processes"]["started_total"] if backend else 0
        start = time.perf_counter()
        out = rt.call(name)
        returned = time.perf_counter()
        assert out.error is not None and out.error.type == "TimeoutError", out.text
        late.append((returned - start - timeout) * 1000)
        if backend is not None:
            while backend.stats()["processes"]["started_total"] == before:
                time.sleep(0.001)
            replaced.append((time.perf_counter() - start - timeout) * 1000)
    return late, replaced

def main():
    out = {{}}
    if __name__ == "__main__":
        thread = toolsafe.Runtime([t.echo, t.aecho, t.hang.with_options(timeout=0.2),
                                   t.ahang.with_options(timeout=0.2)])
        out["thread_sync"] = per_call(thread, "echo", 2000)
        out["thread_async"] = per_call(thread, "aecho", 20000)
        out["thread_hang"] = hung(thread, "hang", 0.2, 5)[0]
        out["thread_ahang"] = hung(thread, "ahang", 0.2, 5)[0]
        backend = ProcessBackend(2, min_workers=2)
        proc = toolsafe.Runtime([t.echo, t.aecho, t.hang.with_options(timeout=0.2),
                                 t.ahang.with_options(timeout=0.2)], backend=backend)
        per_call(proc, "echo", 200)  # warm every worker
        out["process_sync"] = per_call(proc, "echo", 2000)
        out["process_async"] = per_call(proc, "aecho", 2000)
        late, replaced = hung(proc, "hang", 0.2, 10, backend)
        out["process_hang"], out["process_replaced"] = late, replaced
        late, replaced = hung(proc, "ahang", 0.2, 10, backend)
        out["process_ahang"], out["process_areplaced"] = late, replaced
        proc.close()
        thread.close()
        print(json.dumps(out))

main()
"""


def _backends() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bench_pipeline_tools.py").write_text(textwrap.dedent(_TOOLS))
        script = Path(tmp, "main.py")
        script.write_text(_BACKENDS.format(tools_dir=tmp))
        result: dict[str, Any] = run_json([str(script)])
    return result


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples):.1f} / {max(samples):.1f}"


def run() -> Report:
    report = Report("03_pipeline", "Resilience pipeline (issue 3)")
    per = _per_call()
    report.text(
        "Per call: sequential `await runtime.acall(...)` of an async tool that returns at "
        "once, on one event loop; CPU time of the process (the calls never wait, and wall "
        "time on a shared machine mostly measures its neighbours); every variant measured "
        f"in alternation, best of 7 rounds of {N_SEQ // 4:,} calls. The full pipeline is timeout + retry + breaker + "
        "concurrency limit + rate limit, all on the in-memory store, nothing failing."
    )
    bare = per["bare"]
    rows = [["bare runtime (timeout only)", f"{bare:.2f}", "baseline", ""]]
    for name in ("retry", "breaker", "concurrency", "rate"):
        rows.append([f"+ {name} alone", f"{per[name]:.2f}", f"+{per[name] - bare:.2f} µs", ""])
    rows.append(["full pipeline", f"{per['full']:.2f}", f"+{per['full'] - bare:.2f} µs", "≤ +5 µs"])
    report.table(["pipeline", "µs per call", "over bare", "target"], rows)

    bare_batch = _batch("{}")
    full_batch = _batch(FULL.replace("\n", " "))
    report.text(
        "10,000 concurrent async calls of a tool sleeping 50 ms (`acall_many`), wall time "
        "(median of 3 fresh processes, after a warm-up batch in the same process) and peak "
        "RSS of the process."
    )
    report.table(
        ["batch", "wall s", "CPU s", "peak RSS MB", "target"],
        [
            [
                "bare runtime",
                f"{bare_batch['wall']:.3f}",
                f"{bare_batch['cpu']:.3f}",
                f"{bare_batch['rss']:.0f}",
                "",
            ],
            [
                "full pipeline",
                f"{full_batch['wall']:.3f}",
                f"{full_batch['cpu']:.3f}",
                f"{full_batch['rss']:.0f}",
                "≤ 0.6 s, ≤ 250 MB",
            ],
        ],
    )
    report.text(
        "The batch is CPU-bound (the 50 ms sleeps overlap), so on a busy machine its wall "
        "time follows the CPU share the process gets. About half of that CPU time is the "
        "cyclic garbage collector walking the 10,000 live calls' objects (measured with "
        "`gc.disable()`: roughly 0.4 s bare, 0.45-0.6 s full, on the same machine)."
    )

    be = _backends()
    report.text(
        "Backends: µs per sequential `acall` (best of 5), the process backend with 2 warm "
        "workers. Every attempt crosses to a worker and back (pickled arguments, result "
        "and the pipe), async tools included."
    )
    report.table(
        ["tool", "thread backend µs", "process backend µs"],
        [
            ["sync, returns at once", f"{be['thread_sync']:.1f}", f"{be['process_sync']:.1f}"],
            ["async, returns at once", f"{be['thread_async']:.1f}", f"{be['process_async']:.1f}"],
        ],
    )
    report.text(
        "A tool that hangs for ever, timeout 0.2 s: milliseconds from the deadline to the "
        "call returning its TimeoutError, and (process backend) to a replacement worker "
        "process being ready (median / max of the rounds)."
    )
    report.table(
        ["backend, tool", "deadline → call returns ms", "deadline → worker replaced ms", "target"],
        [
            ["thread, sync (thread abandoned)", _ms(be["thread_hang"]), "n/a", "≤ 50 ms"],
            ["thread, async (cancelled)", _ms(be["thread_ahang"]), "n/a", "≤ 50 ms"],
            [
                "process, sync (killed)",
                _ms(be["process_hang"]),
                _ms(be["process_replaced"]),
                "≤ 50 ms",
            ],
            [
                "process, async (killed)",
                _ms(be["process_ahang"]),
                _ms(be["process_areplaced"]),
                "≤ 50 ms",
            ],
        ],
    )
    report.text(f"Peak RSS of this process: {peak_rss_mb():.0f} MB.")
    return report
