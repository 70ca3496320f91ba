"""Per-call overhead of ``toolsafe proxy`` over a direct client -> server round trip (stdio).

The same upstream (``toolsafe serve`` of one ``add`` tool) is called by the SDK's
client directly, then through ``toolsafe proxy -- <the same command>``, in one run.
The proxy adds: a second process hop (JSON-RPC parse and re-encode), validation of
the arguments against the upstream's schema, the runtime's pipeline, and the hop
onto the upstream's event-loop thread.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench._report import ROOT, Report

TOOLS = '''
import toolsafe


@toolsafe.tool
def add(a: int, b: int = 0) -> int:
    """Add two integers."""
    return a + b
'''

CALLS = 300
CONCURRENT = 100


async def _measure(params: StdioServerParameters) -> dict[str, float]:
    with open(os.devnull, "w") as errlog:  # noqa: ASYNC230 (once, before any call)
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            for i in range(20):  # warm up
                await session.call_tool("add", {"a": i})
            samples = []
            for i in range(CALLS):
                start = time.perf_counter()
                await session.call_tool("add", {"a": i, "b": 1})
                samples.append((time.perf_counter() - start) * 1e3)
            start = time.perf_counter()
            await asyncio.gather(*(session.call_tool("add", {"a": i}) for i in range(CONCURRENT)))
            burst = (time.perf_counter() - start) * 1e3
    samples.sort()
    return {
        "p50": statistics.median(samples),
        "p95": samples[int(len(samples) * 0.95)],
        "burst": burst,
    }


def run() -> Report:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryDirectory() as tmp:
        tools = Path(tmp) / "tools.py"
        tools.write_text(TOOLS)
        serve = [sys.executable, "-m", "toolsafe.cli", "serve", str(tools)]
        direct = StdioServerParameters(command=serve[0], args=serve[1:], env=env)
        proxied = StdioServerParameters(
            command=sys.executable,
            args=["-m", "toolsafe.cli", "proxy", "--timeout", "10", "--", *serve],
            env=env,
        )
        rows: list[list[Any]] = []
        figures = {}
        for label, params in (("direct", direct), ("through toolsafe proxy", proxied)):
            figures[label] = got = asyncio.run(_measure(params))
            rows.append([label, f"{got['p50']:.2f}", f"{got['p95']:.2f}", f"{got['burst']:.0f}"])
    overhead = figures["through toolsafe proxy"]["p50"] - figures["direct"]["p50"]
    report = Report("12_mcp_proxy", "toolsafe proxy: per-call overhead over a direct round trip")
    report.text(
        f"SDK client -> `toolsafe serve` (one `add` tool) over stdio, {CALLS} sequential "
        f"calls then {CONCURRENT} at once, directly and through "
        "`toolsafe proxy --timeout 10 -- <the same command>`, same run."
    )
    report.table(["path", "p50 ms", "p95 ms", f"{CONCURRENT} concurrent, ms"], rows)
    report.text(f"Proxy overhead at p50: {overhead:.2f} ms per call.")
    return report
