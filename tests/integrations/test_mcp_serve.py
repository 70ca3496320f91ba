"""``toolsafe serve``: a real server process, driven by the official SDK's client over stdio and HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from toolsafe.cli import main
from toolsafe.errors import parse_tool_error

pytestmark = pytest.mark.mcp

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = timedelta(seconds=60)

TOOLS_MODULE = '''
import asyncio
import time

import toolsafe


@toolsafe.tool
def add(a: int, b: int = 0) -> int:
    """Add two integers."""
    print("a tool that prints must not corrupt the stdio protocol")
    return a + b


@toolsafe.tool(timeout=0.2)
def hang(seconds: float) -> str:
    """Blocks past its timeout."""
    time.sleep(seconds)
    return "woke up"


@toolsafe.tool
def crash(reason: str) -> str:
    """Crashes."""
    raise RuntimeError(reason)
'''


@pytest.fixture
def tools_file(tmp_path: Path) -> Path:
    path = tmp_path / "served_tools.py"
    path.write_text(TOOLS_MODULE)
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


async def _exercise(session: ClientSession) -> None:
    """What every transport must do: list, call, validate, time out, crash, 200 at once."""
    await session.initialize()
    tools = (await session.list_tools()).tools
    assert sorted(t.name for t in tools) == ["add", "crash", "hang"]
    add_schema = next(t.inputSchema for t in tools if t.name == "add")
    assert add_schema["additionalProperties"] is False
    assert add_schema["required"] == ["a"]

    ok = await session.call_tool("add", {"a": 2, "b": 3})
    assert (ok.isError, ok.content[0].text) == (False, "5")

    invalid = await session.call_tool("add", {"a": "2"})
    assert invalid.isError is True
    assert invalid.structuredContent is not None
    assert invalid.structuredContent["type"] == "InvalidArguments"
    assert invalid.structuredContent["details"][0]["field"] == "a"
    parsed = parse_tool_error(invalid.content[0].text)
    assert parsed is not None and parsed.to_dict() == invalid.structuredContent

    timed_out = await session.call_tool("hang", {"seconds": 2})
    assert timed_out.isError is True
    assert timed_out.structuredContent is not None
    assert (timed_out.structuredContent["type"], timed_out.structuredContent["retryable"]) == (
        "TimeoutError",
        True,
    )

    crashed = await session.call_tool("crash", {"reason": "parser blew up"})
    assert crashed.isError is True
    assert crashed.structuredContent is not None
    assert crashed.structuredContent["type"] == "RuntimeError"
    assert crashed.structuredContent["message"] == "parser blew up"

    results = await asyncio.gather(*(session.call_tool("add", {"a": i}) for i in range(200)))
    assert [r.content[0].text for r in results] == [str(i) for i in range(200)]
    assert not any(r.isError for r in results)


async def test_stdio(tools_file: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "toolsafe.cli", "serve", str(tools_file)],
        env=_env(),
    )
    with open(os.devnull, "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session,
        ):
            await _exercise(session)


@contextlib.contextmanager
def _http_server(tools_file: Path, log: Path, *extra: str) -> Iterator[str]:
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "toolsafe.cli",
                "serve",
                str(tools_file),
                "--http",
                "--port",
                "0",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=_env(),
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
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.asynccontextmanager
async def _http_session(url: str) -> AsyncIterator[ClientSession]:
    async with (
        streamable_http_client(url) as (read, write, _),
        ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session,
    ):
        yield session


async def test_streamable_http_on_loopback(tools_file: Path, tmp_path: Path) -> None:
    with _http_server(tools_file, tmp_path / "server.log") as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
        async with _http_session(url) as session:
            await _exercise(session)


async def test_http_rejects_a_foreign_host_header(tools_file: Path, tmp_path: Path) -> None:
    """DNS-rebinding protection: a page on another origin cannot reach the local server."""
    import httpx

    with _http_server(tools_file, tmp_path / "server.log") as url:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                url,
                headers={
                    "Host": "evil.example:80",
                    "Accept": "application/json, text/event-stream",
                },
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            )
    assert response.status_code == 421


def test_serve_reports_a_missing_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "no/such/tools.py"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_serve_reports_a_busy_port(tools_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", str(tools_file), "--http", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_serve_help_names_the_transports() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "toolsafe.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    ).stdout
    assert "--http" in out and "--port" in out and "--host" in out


# --------------------------------------------------------------------------- docs and example


def test_docs_page_runs() -> None:
    """Every ```python block of docs/mcp.md runs (in order); ```py blocks compile."""
    text = (ROOT / "docs" / "mcp.md").read_text()
    for block in re.findall(r"```py\n(.*?)```", text, re.S):
        compile(block, "docs/mcp.md", "exec")
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env()
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["5", "True InvalidArguments"]
    assert "examples/mcp_server.py" in text


async def test_example_server_over_stdio() -> None:
    params = StdioServerParameters(
        command=sys.executable, args=[str(ROOT / "examples" / "mcp_server.py")], env=_env()
    )
    with open(os.devnull, "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session,
        ):
            await session.initialize()
            tools = (await session.list_tools()).tools
            assert [t.name for t in tools] == ["save_note", "read_note", "summarize"]
            saved = await session.call_tool(
                "save_note", {"title": "plan", "body": "ship it on friday"}
            )
            assert saved.content[0].text == "saved 'plan' (17 chars)"
            summary = await session.call_tool("summarize", {"title": "plan", "max_words": 2})
            assert summary.content[0].text == "ship it"
            missing = await session.call_tool("read_note", {"title": "nope"})
            assert missing.isError is True
            assert missing.structuredContent is not None
            assert missing.structuredContent["type"] == "NotFound"
            assert missing.structuredContent["hint"] == "Existing titles: ['plan']"
