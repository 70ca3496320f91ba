"""``toolsafe serve``: a real server process, driven by the official SDK's client over stdio and HTTP.

Runs on the installed SDK line (1.x in the main venv, 2.x in ``.venv-mcp2``: ``make test-mcp2``).
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from _mcp_support import (
    MODES,
    ROOT,
    over_http,
    over_stdio,
    serve_http_process,
    server_env,
    text_of,
    wire,
)
from mcp import StdioServerParameters

from toolsafe.cli import main
from toolsafe.errors import parse_tool_error
from toolsafe.integrations.mcp import SDK_MAJOR

pytestmark = pytest.mark.mcp


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


async def _exercise(session: Any) -> None:
    """What every transport must do: list, call, validate, time out, crash, 200 at once."""
    tools = [wire(t) for t in (await session.list_tools()).tools]
    assert sorted(t["name"] for t in tools) == ["add", "crash", "hang"]
    add_schema = next(t["inputSchema"] for t in tools if t["name"] == "add")
    assert add_schema["additionalProperties"] is False
    assert add_schema["required"] == ["a"]

    ok = wire(await session.call_tool("add", {"a": 2, "b": 3}))
    assert (ok["isError"], ok["content"][0]["text"]) == (False, "5")

    invalid = wire(await session.call_tool("add", {"a": "2"}))
    assert invalid["isError"] is True
    assert invalid["structuredContent"]["type"] == "InvalidArguments"
    assert invalid["structuredContent"]["details"][0]["field"] == "a"
    parsed = parse_tool_error(invalid["content"][0]["text"])
    assert parsed is not None and parsed.to_dict() == invalid["structuredContent"]

    timed_out = wire(await session.call_tool("hang", {"seconds": 2}))
    assert timed_out["isError"] is True
    assert (
        timed_out["structuredContent"]["type"],
        timed_out["structuredContent"]["retryable"],
    ) == (
        "TimeoutError",
        True,
    )

    crashed = wire(await session.call_tool("crash", {"reason": "parser blew up"}))
    assert crashed["isError"] is True
    assert crashed["structuredContent"]["type"] == "RuntimeError"
    assert crashed["structuredContent"]["message"] == "parser blew up"

    results = await asyncio.gather(*(session.call_tool("add", {"a": i}) for i in range(200)))
    assert [text_of(r) for r in results] == [str(i) for i in range(200)]
    assert not any(wire(r)["isError"] for r in results)


def _serve_params(*args: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "toolsafe.cli", "serve", *args], env=server_env()
    )


@pytest.mark.parametrize("mode", MODES)
async def test_stdio(tools_file: Path, mode: str) -> None:
    async with over_stdio(_serve_params(str(tools_file)), mode) as session:
        await _exercise(session)


@pytest.mark.parametrize("mode", MODES)
async def test_streamable_http_on_loopback(tools_file: Path, tmp_path: Path, mode: str) -> None:
    with serve_http_process(tools_file, tmp_path / "server.log") as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
        async with over_http(url, mode) as session:
            await _exercise(session)


async def test_http_rejects_a_foreign_host_header(tools_file: Path, tmp_path: Path) -> None:
    """DNS-rebinding protection: a page on another origin cannot reach the local server."""
    import httpx

    with serve_http_process(tools_file, tmp_path / "server.log") as url:
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
        env=server_env(),
        check=True,
    ).stdout
    assert "--http" in out and "--port" in out and "--host" in out


# --------------------------------------------------------------------------- docs and example


def test_docs_page_runs() -> None:
    """The docs' example for the installed SDK runs (```python: 2.x, ```python mcp1: 1.x);
    ```py blocks compile."""
    text = (ROOT / "docs" / "mcp.md").read_text()
    for block in re.findall(r"```py\n(.*?)```", text, re.S):
        compile(block, "docs/mcp.md", "exec")
    tag = "python" if SDK_MAJOR >= 2 else "python mcp1"
    blocks = re.findall(rf"```{tag}\n(.*?)```", text, re.S)
    assert blocks
    out = subprocess.run(
        [sys.executable, "-c", "\n".join(blocks)],
        capture_output=True,
        text=True,
        timeout=120,
        env=server_env(),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["5", "True InvalidArguments"]
    assert "examples/mcp_server.py" in text


async def test_example_server_over_stdio() -> None:
    params = StdioServerParameters(
        command=sys.executable, args=[str(ROOT / "examples" / "mcp_server.py")], env=server_env()
    )
    async with over_stdio(params) as session:
        tools = (await session.list_tools()).tools
        assert [wire(t)["name"] for t in tools] == ["save_note", "read_note", "summarize"]
        saved = await session.call_tool("save_note", {"title": "plan", "body": "ship it on friday"})
        assert text_of(saved) == "saved 'plan' (17 chars)"
        summary = await session.call_tool("summarize", {"title": "plan", "max_words": 2})
        assert text_of(summary) == "ship it"
        missing = wire(await session.call_tool("read_note", {"title": "nope"}))
        assert missing["isError"] is True
        assert missing["structuredContent"]["type"] == "NotFound"
        assert missing["structuredContent"]["hint"] == "Existing titles: ['plan']"
