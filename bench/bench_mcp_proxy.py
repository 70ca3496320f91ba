"""Per-call overhead of ``toolsafe proxy`` over a direct client -> server round trip (stdio),
and the round trip of ``toolsafe serve`` on MCP SDK 1.x vs 2.x.

The same upstream (``toolsafe serve`` of one ``add`` tool) is called by the SDK's
client directly, then through ``toolsafe proxy -- <the same command>``, in one run.
The proxy adds: a second process hop (JSON-RPC parse and re-encode), validation of
the arguments against the upstream's schema, the runtime's pipeline, and the hop
onto the upstream's event-loop thread.

The SDK rows: the direct round trip with client and server both on the SDK of this
venv (1.x: CrewAI pins it), then both on 2.x, measured by re-running the direct half
in ``.venv-mcp2`` within the same run (skipped when that venv is absent).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
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
MCP2 = ROOT / ".venv-mcp2" / "bin" / "python"
ROUNDS = 3


async def _measure(params: StdioServerParameters) -> dict[str, float]:
    with open(os.devnull, "w") as errlog:  # noqa: ASYNC230 (once, before any call)
        async with (
            stdio_client(params, errlog=errlog) as streams,
            ClientSession(streams[0], streams[1]) as session,
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


def _sdk() -> str:
    from importlib.metadata import version

    return version("mcp")


def measure_direct() -> dict[str, Any]:
    """The direct half alone, on this interpreter's SDK (what ``.venv-mcp2`` runs)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryDirectory() as tmp:
        tools = Path(tmp) / "tools.py"
        tools.write_text(TOOLS)
        serve = [sys.executable, "-m", "toolsafe.cli", "serve", str(tools)]
        params = StdioServerParameters(command=serve[0], args=serve[1:], env=env)
        return {"sdk": _sdk(), **asyncio.run(_measure(params))}


def _direct_on(python: Path | str) -> dict[str, Any]:
    done = subprocess.run(
        [
            str(python),
            "-c",
            "from bench.bench_mcp_proxy import measure_direct; import json; "
            "print(json.dumps(measure_direct()))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"},
        timeout=600,
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    got: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return got


def _sdk_rounds() -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The direct round trip on 1.x (this venv) and 2.x, alternated ``ROUNDS`` times;
    each SDK's best round (the least disturbed by other work on the machine)."""
    ones, twos = [], []
    for _ in range(ROUNDS):
        ones.append(_direct_on(sys.executable))
        if MCP2.exists():
            twos.append(_direct_on(MCP2))
    best = min(ones, key=lambda r: r["p50"])
    return best, (min(twos, key=lambda r: r["p50"]) if twos else None)


def run() -> Report:
    load = os.getloadavg()[0]
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
    one, mcp2 = _sdk_rounds()
    overhead = figures["through toolsafe proxy"]["p50"] - figures["direct"]["p50"]
    report = Report("12_mcp_proxy", "toolsafe proxy: per-call overhead over a direct round trip")
    report.text(
        f"SDK client -> `toolsafe serve` (one `add` tool) over stdio, {CALLS} sequential "
        f"calls then {CONCURRENT} at once, directly and through "
        "`toolsafe proxy --timeout 10 -- <the same command>`, same run."
    )
    report.table(["path", "p50 ms", "p95 ms", f"{CONCURRENT} concurrent, ms"], rows)
    report.text(
        f"Proxy overhead at p50: {overhead:.2f} ms per call. Load average when the run "
        f"began: {load:.1f} on {os.cpu_count()} cores (other work shares the machine: "
        "compare rows of one run, not figures across runs)."
    )
    report.text(
        "`toolsafe serve` round trip per MCP SDK line (client and server on the same SDK; "
        f"the direct half re-run in this venv and in `.venv-mcp2`, alternated {ROUNDS} times "
        "in this run, the best round of each):"
    )
    sdk_rows: list[list[Any]] = [
        [
            f"mcp {one['sdk']}",
            f"{one['p50']:.2f}",
            f"{one['p95']:.2f}",
            f"{one['burst']:.0f}",
            "1.00",
        ]
    ]
    if mcp2 is not None:
        ratio = mcp2["p50"] / one["p50"]
        sdk_rows.append(
            [
                f"mcp {mcp2['sdk']}",
                f"{mcp2['p50']:.2f}",
                f"{mcp2['p95']:.2f}",
                f"{mcp2['burst']:.0f}",
                f"{ratio:.2f}",
            ]
        )
    report.table(
        ["SDK", "p50 ms", "p95 ms", f"{CONCURRENT} concurrent, ms", "p50 vs 1.x"], sdk_rows
    )
    if mcp2 is None:
        report.text("_2.x not measured: needs `.venv-mcp2` (`make test-mcp2` creates it)._")
    return report
