"""MCP test support: the official SDK's client on either SDK line, and ``toolsafe serve`` processes.

The client, on whichever SDK line is installed (1.x or 2.x):

1.x: ``ClientSession`` over a transport, initialized by hand, and the in-memory
``create_connected_server_and_client_session``. 2.x: ``mcp.Client``, which takes
a ``Server``, a URL or any transport and negotiates the protocol itself
(``mode="auto"`` tries the 2026-07-28 protocol, ``"legacy"`` the handshake).

Tests assert on the wire form (``wire(result)["isError"]``): 1.x models spell
fields as on the wire, 2.x models in snake case with wire aliases.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from mcp import StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from toolsafe.integrations.mcp import SDK_MAJOR

TIMEOUT_S = 60.0
ROOT = Path(__file__).resolve().parents[2]

#: Protocol negotiations a 2.x client can make (1.x knows only the handshake).
MODES = ["auto", "legacy"] if SDK_MAJOR >= 2 else ["legacy"]


def wire(model: Any) -> dict[str, Any]:
    """A result or tool as the JSON object that crossed the wire."""
    out: dict[str, Any] = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    return out


def text_of(result: Any) -> str:
    return str(wire(result)["content"][0]["text"])


if SDK_MAJOR >= 2:
    from mcp import Client

    @contextlib.asynccontextmanager
    async def _client(target: Any, mode: str, handler: Any = None) -> AsyncIterator[Any]:
        async with Client(
            target,  # type: ignore[arg-type]
            read_timeout_seconds=TIMEOUT_S,
            mode=mode,
            message_handler=handler,
        ) as client:
            yield client

    @contextlib.asynccontextmanager
    async def in_memory(server: Any, mode: str = "legacy") -> AsyncIterator[Any]:
        async with _client(server, mode) as client:
            yield client

    @contextlib.asynccontextmanager
    async def over_stdio(
        params: StdioServerParameters, mode: str = "legacy", message_handler: Any = None
    ) -> AsyncIterator[Any]:
        with open(os.devnull, "w") as errlog:
            async with _client(
                stdio_client(params, errlog=errlog), mode, message_handler
            ) as client:
                yield client

    @contextlib.asynccontextmanager
    async def over_http(
        url: str, mode: str = "legacy", message_handler: Any = None
    ) -> AsyncIterator[Any]:
        async with _client(streamable_http_client(url), mode, message_handler) as client:
            yield client

else:
    from mcp import ClientSession
    from mcp.shared.memory import create_connected_server_and_client_session

    _TIMEOUT = timedelta(seconds=TIMEOUT_S)

    @contextlib.asynccontextmanager
    async def in_memory(server: Any, mode: str = "legacy") -> AsyncIterator[Any]:
        async with create_connected_server_and_client_session(
            server, read_timeout_seconds=_TIMEOUT
        ) as client:
            yield client

    @contextlib.asynccontextmanager
    async def over_stdio(
        params: StdioServerParameters, mode: str = "legacy", message_handler: Any = None
    ) -> AsyncIterator[Any]:
        with open(os.devnull, "w") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(
                    read, write, read_timeout_seconds=_TIMEOUT, message_handler=message_handler
                ) as session,
            ):
                await session.initialize()
                yield session

    @contextlib.asynccontextmanager
    async def over_http(
        url: str, mode: str = "legacy", message_handler: Any = None
    ) -> AsyncIterator[Any]:
        async with (
            streamable_http_client(url) as (read, write, _),
            ClientSession(
                read, write, read_timeout_seconds=_TIMEOUT, message_handler=message_handler
            ) as session,
        ):
            await session.initialize()
            yield session


# --------------------------------------------------------------------------- server processes


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


@contextlib.contextmanager
def serve_http_process(tools_file: Path, log: Path, *extra: str) -> Iterator[str]:
    """``toolsafe serve TOOLS --http --port 0 EXTRA...`` running; yields its URL (read from ``log``)."""
    argv = ["serve", str(tools_file), "--http", "--port", "0", *extra]
    with cli_http_process(argv, log) as (url, _):
        yield url


@contextlib.contextmanager
def cli_http_process(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``toolsafe ARGV...`` (a command serving HTTP) running; yields its URL (read from
    ``log``: "... at http://...") and the process."""
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "toolsafe.cli", *argv],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env or server_env(),
        )
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            found = re.search(r"at (http://\S+)", log.read_text())
            if found:
                url = found.group(1)
            elif proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        assert url is not None, f"server did not start: {log.read_text()}"
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def npx_server(package: str, *args: str) -> list[str] | None:
    """``npx -y PACKAGE ARGS...`` when npx can fetch the package (None: skip the test).

    Fetched once with a bounded wait (the npm registry may be slow or absent)."""
    import shutil

    if shutil.which("npx") is None:
        return None
    try:
        subprocess.run(
            ["npm", "exec", "-y", "--package", package, "--", "true"],
            capture_output=True,
            timeout=180,
            check=True,
        )
    except (OSError, subprocess.TimeoutExpired, subprocess.CalledProcessError):
        return None
    return ["npx", "-y", package, *args]
