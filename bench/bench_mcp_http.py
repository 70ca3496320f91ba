"""``toolsafe serve --http`` under a slowloris flood: do real clients still get answers?

The server runs as a subprocess with a 256 file-descriptor limit. For ``SECONDS``
seconds, ``ATTACKERS`` connections (more than the limit) each send a request head
one header line per second and never finish it; a closed one is reopened at
once. Meanwhile a real client sends an MCP ``initialize`` request on a fresh
connection every half second, with a 3-second timeout. Reported: the share of
real requests answered and their latency, the server's open descriptors at the
end, and how much it wrote to its log.

``TOOLSAFE_BENCH_SRC=/path/to/src`` measures another checkout's server (the
"before" figures were taken that way, on the tree before the HTTP guard).
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._report import ROOT, Report

SECONDS = 20.0
ATTACKERS = 300
FD_LIMIT = 256
PROBE_EVERY_S = 0.5
PROBE_TIMEOUT_S = 3.0

TOOLS = '''
import toolsafe

@toolsafe.tool
def add(a: int, b: int = 0) -> int:
    """Add two integers."""
    return a + b
'''

INITIALIZE = (
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
    b'"capabilities":{},"clientInfo":{"name":"probe","version":"0"}}}'
)


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


async def _attacker(host: str, port: int, stop: float, opened: list[int]) -> None:
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        opened[0] += 1
        try:
            writer.write(f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\n".encode())
            i = 0
            while time.monotonic() < stop:
                await writer.drain()
                await asyncio.sleep(1.0)
                if reader.at_eof():
                    break
                writer.write(f"X-Slow-{i}: x\r\n".encode())
                i += 1
        except OSError:
            pass
        finally:
            writer.close()


async def _probe(host: str, port: int) -> float | None:
    start = time.perf_counter()
    request = (
        f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nContent-Length: {len(INITIALIZE)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + INITIALIZE

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(request)
            await writer.drain()
            return await reader.readline()
        finally:
            writer.close()

    try:
        status = await asyncio.wait_for(exchange(), PROBE_TIMEOUT_S)
    except (OSError, asyncio.TimeoutError):
        return None
    if not status.startswith(b"HTTP/1.1 200"):
        return None
    return (time.perf_counter() - start) * 1000


async def _flood(host: str, port: int, pid: int) -> tuple[list[float | None], int, int]:
    stop = time.monotonic() + SECONDS
    opened = [0]
    attackers = [asyncio.create_task(_attacker(host, port, stop, opened)) for _ in range(ATTACKERS)]
    probes: list[float | None] = []
    peak_fds = 0
    while time.monotonic() < stop:
        probes.append(await _probe(host, port))
        peak_fds = max(peak_fds, len(os.listdir(f"/proc/{pid}/fd")))
        await asyncio.sleep(PROBE_EVERY_S)
    await asyncio.gather(*attackers, return_exceptions=True)
    return probes, opened[0], peak_fds


def measure(src: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        tools, log = Path(tmp) / "tools.py", Path(tmp) / "server.log"
        tools.write_text(TOOLS)
        env = dict(os.environ, PYTHONPATH=str(src))
        with open(log, "w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "toolsafe.cli", "serve", str(tools), "--http", "--port", "0"],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
                preexec_fn=_limit_fds,
            )
        try:
            url = None
            deadline = time.monotonic() + 60
            while url is None and time.monotonic() < deadline and proc.poll() is None:
                found = re.search(r"at http://([\d.]+):(\d+)/mcp", log.read_text())
                url = (found.group(1), int(found.group(2))) if found else None
                time.sleep(0.05)
            assert url is not None, log.read_text()
            log_before = log.stat().st_size
            probes, opened, fds = asyncio.run(_flood(*url, proc.pid))
            log_bytes = log.stat().st_size - log_before
            alive = proc.poll() is None
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    answered = [p for p in probes if p is not None]
    return {
        "answered": f"{len(answered)}/{len(probes)}",
        "p50_ms": f"{statistics.median(answered):.1f}" if answered else "-",
        "max_ms": f"{max(answered):.1f}" if answered else "-",
        "attack_connections": opened,
        "server_peak_fds": fds,
        "log_bytes": log_bytes,
        "alive": alive,
    }


def run() -> Report:
    src = Path(os.environ.get("TOOLSAFE_BENCH_SRC", ROOT / "src"))
    report = Report("09_mcp_slowloris", "MCP HTTP server under a slowloris flood")
    report.text(
        f"`toolsafe serve --http` (default limits) with a {FD_LIMIT}-descriptor limit; "
        f"{ATTACKERS} connections sending a request head one header line per second for "
        f"{SECONDS:g} s (reopened when closed); a real `initialize` request on a fresh "
        f"connection every {PROBE_EVERY_S:g} s, {PROBE_TIMEOUT_S:g} s timeout."
    )
    report.text(
        "Before the guard (the same run on the tree of 2026-12-02 without it): 0/6 real "
        "requests answered (each timed out at 3 s), 39,773,025 bytes of server log "
        "(asyncio logs a traceback per failed accept once descriptors run out)."
    )
    row = measure(src)
    report.table(
        [
            "real requests answered",
            "p50 ms",
            "max ms",
            "attack connections opened",
            "server peak fds",
            "server log bytes",
            "server alive",
        ],
        [list(row.values())],
    )
    return report


if __name__ == "__main__":
    print(measure(Path(os.environ.get("TOOLSAFE_BENCH_SRC", ROOT / "src"))))
