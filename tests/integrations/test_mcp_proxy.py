"""``toolsafe proxy -- COMMAND``: a real proxy process in front of real upstream servers,
driven by the official SDK's client over stdio (1.x in ``.venv``, 2.x in ``.venv-mcp2``)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from _mcp_support import ROOT, npx_server, over_stdio, server_env, text_of, wire
from mcp import StdioServerParameters

pytestmark = pytest.mark.mcp

UPSTREAM = '''
import os
import time

import toolsafe


@toolsafe.tool
def add(a: int, b: int = 0) -> int:
    """Add two integers."""
    with open(os.environ["CALLS_LOG"], "a") as f:
        f.write(f"{a}\\n")
    return a + b


@toolsafe.tool(timeout=60)
def sleep(seconds: float) -> str:
    """Sleeps."""
    time.sleep(seconds)
    return "woke"


@toolsafe.tool
def big(n: int) -> list:
    """A large JSON result."""
    return [{"i": i, "text": "x" * 40} for i in range(n)]


@toolsafe.tool
def die() -> str:
    """Kills its own server mid-call."""
    os._exit(3)
'''

TIME_SERVER = ROOT / ".venv-mcp-servers" / "bin" / "mcp-server-time"


def _proxy(tmp_path: Path, *flags: str, upstream: list[str] | None = None) -> StdioServerParameters:
    if upstream is None:
        tools = tmp_path / "upstream_tools.py"
        tools.write_text(UPSTREAM)
        upstream = [sys.executable, "-m", "toolsafe.cli", "serve", str(tools)]
    env = {**server_env(), "CALLS_LOG": str(tmp_path / "calls.log")}
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "toolsafe.cli", "proxy", *flags, *(["--", *upstream] if upstream else [])],
        env=env,
    )


async def test_proxy_over_stdio(tmp_path: Path) -> None:
    record = tmp_path / "calls.jsonl"
    params = _proxy(
        tmp_path,
        "--timeout",
        "0.5",
        "--max-output-chars",
        "2000",
        "--record",
        str(record),
        "--hang-after",
        "1",
    )
    async with over_stdio(params) as session:
        listed = sorted(wire(t)["name"] for t in (await session.list_tools()).tools)
        assert listed == ["add", "big", "die", "sleep"]

        assert text_of(await session.call_tool("add", {"a": 2, "b": 3})) == "5"

        invalid = wire(await session.call_tool("add", {"a": "2"}))
        assert invalid["isError"] is True
        assert invalid["structuredContent"]["type"] == "InvalidArguments"
        assert (tmp_path / "calls.log").read_text().splitlines() == ["2"]  # never sent

        slow = wire(await session.call_tool("sleep", {"seconds": 3}))
        assert (slow["isError"], slow["structuredContent"]["type"]) == (True, "TimeoutError")

        large = await session.call_tool("big", {"n": 1000})
        assert len(text_of(large)) <= 2000
        assert isinstance(json.loads(text_of(large)), list)

        results = await asyncio.gather(*(session.call_tool("add", {"a": i}) for i in range(100)))
        assert [text_of(r) for r in results] == [str(i) for i in range(100)]

        died = wire(await session.call_tool("die", {}))
        assert died["isError"] is True
        assert died["structuredContent"]["type"] in {"UpstreamClosed", "UpstreamUnavailable"}
        assert died["structuredContent"]["retryable"] is True
        for _ in range(200):  # relaunched with backoff
            again = wire(await session.call_tool("add", {"a": 9}))
            if not again["isError"]:
                break
            await asyncio.sleep(0.05)
        assert again["content"][0]["text"] == "9"
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(lines) >= 105


@pytest.mark.mcp_servers
@pytest.mark.skipif(not TIME_SERVER.exists(), reason="make test-mcp2 installs mcp-server-time")
async def test_proxy_in_front_of_mcp_server_time(tmp_path: Path) -> None:
    params = _proxy(
        tmp_path, "--timeout", "20", upstream=[str(TIME_SERVER), "--local-timezone", "UTC"]
    )
    async with over_stdio(params) as session:
        tools = {wire(t)["name"]: wire(t) for t in (await session.list_tools()).tools}
        assert {"get_current_time", "convert_time"} <= set(tools)
        now = await session.call_tool("get_current_time", {"timezone": "Asia/Tokyo"})
        assert json.loads(text_of(now))["timezone"] == "Asia/Tokyo"
        invalid = wire(await session.call_tool("get_current_time", {"timezone": 5}))
        assert (invalid["isError"], invalid["structuredContent"]["type"]) == (
            True,
            "InvalidArguments",
        )


def test_proxy_reports_an_upstream_that_cannot_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolsafe.cli import main

    assert main(["proxy", "--", str(tmp_path / "no-such-server")]) == 2
    assert "cannot start the upstream MCP server" in capsys.readouterr().err


@pytest.mark.mcp_servers
async def test_proxy_in_front_of_npm_server_everything(tmp_path: Path) -> None:
    command = npx_server("@modelcontextprotocol/server-everything")
    if command is None:
        pytest.skip("npx or the npm registry is unavailable")
    params = _proxy(tmp_path, "--timeout", "1", "--retry", "2", upstream=command)
    async with over_stdio(params) as session:
        tools = {wire(t)["name"]: wire(t) for t in (await session.list_tools()).tools}
        assert {"echo", "get-sum", "trigger-long-running-operation"} <= set(tools)
        assert tools["echo"]["annotations"]["readOnlyHint"] is True
        assert "hello" in text_of(await session.call_tool("echo", {"message": "hello"}))
        assert "5" in text_of(await session.call_tool("get-sum", {"a": 2, "b": 3}))
        invalid = wire(await session.call_tool("get-sum", {"a": "2", "b": 3}))
        assert invalid["structuredContent"]["type"] == "InvalidArguments"
        assert invalid["structuredContent"]["details"][0]["field"] == "a"
        slow = wire(
            await session.call_tool("trigger-long-running-operation", {"duration": 5, "steps": 5})
        )
        assert (slow["isError"], slow["structuredContent"]["type"]) == (True, "TimeoutError")
        results = await asyncio.gather(
            *(session.call_tool("get-sum", {"a": i, "b": 1}) for i in range(50))
        )
        assert not any(wire(r)["isError"] for r in results)


async def test_proxy_config_sets_defaults_and_per_tool_options(tmp_path: Path) -> None:
    config = tmp_path / "proxy.toml"
    config.write_text("timeout = 30\n\n[tools.sleep]\ntimeout = 0.3\n")
    async with over_stdio(_proxy(tmp_path, "--config", str(config))) as session:
        slow = wire(await session.call_tool("sleep", {"seconds": 2}))
        assert (slow["isError"], slow["structuredContent"]["type"]) == (True, "TimeoutError")
        assert "0.3s" in slow["structuredContent"]["message"]
        assert text_of(await session.call_tool("add", {"a": 1})) == "1"


def test_proxy_config_errors_name_the_real_tools(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolsafe.cli import main

    tools = tmp_path / "upstream_tools.py"
    tools.write_text(UPSTREAM)
    config = tmp_path / "proxy.toml"
    config.write_text("[tools.ad]\ntimeout = 1\n")
    upstream = [sys.executable, "-m", "toolsafe.cli", "serve", str(tools)]
    assert main(["proxy", "--config", str(config), "--", *upstream]) == 2
    err = capsys.readouterr().err
    assert "no upstream tool named 'ad'" in err and "add, big, die, sleep" in err
    config.write_text("timeuot = 1\n")
    assert main(["proxy", "--config", str(config), "--", *upstream]) == 2
    assert "unknown key 'timeuot'" in capsys.readouterr().err


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_proxy_in_front_of_an_http_upstream_reconnects(tmp_path: Path) -> None:
    """``--url``: a streamable-HTTP upstream (``toolsafe serve --http``), killed mid-call
    and started again on its port: the call is answered, calls while it is down are
    rejected at once, and the proxy reconnects by itself."""
    from _mcp_support import cli_http_process

    tools = tmp_path / "upstream_tools.py"
    tools.write_text(UPSTREAM)
    port = str(_free_port())
    env = {**server_env(), "CALLS_LOG": str(tmp_path / "calls.log")}
    serve = ["serve", str(tools), "--http", "--port", port]
    with cli_http_process(serve, tmp_path / "up1.log", env) as (url, first):
        params = _proxy(tmp_path, "--url", url, "--timeout", "20", "--breaker", "0", upstream=[])
        async with over_stdio(params) as session:
            listed = sorted(wire(t)["name"] for t in (await session.list_tools()).tools)
            assert listed == ["add", "big", "die", "sleep"]
            assert text_of(await session.call_tool("add", {"a": 2, "b": 3})) == "5"
            invalid = wire(await session.call_tool("add", {"a": "x"}))
            assert invalid["structuredContent"]["type"] == "InvalidArguments"
            slow = asyncio.ensure_future(session.call_tool("sleep", {"seconds": 10}))
            await asyncio.sleep(1.0)
            first.kill()
            first.wait()
            cut = wire(await asyncio.wait_for(slow, 15))
            assert cut["isError"] is True
            assert cut["structuredContent"]["type"] in {"UpstreamClosed", "UpstreamUnavailable"}
            assert cut["structuredContent"]["retryable"] is True
            down = wire(await session.call_tool("add", {"a": 1}))
            assert down["structuredContent"]["type"] in {"UpstreamClosed", "UpstreamUnavailable"}
            assert down["structuredContent"]["retryable"] is True
            with cli_http_process(serve, tmp_path / "up2.log", env):
                for _ in range(300):  # reconnected with backoff (at most 5 s apart)
                    again = wire(await session.call_tool("add", {"a": 9}))
                    if not again["isError"]:
                        break
                    assert again["structuredContent"]["retryable"] is True
                    await asyncio.sleep(0.05)
                assert again["content"][0]["text"] == "9"


async def test_proxy_breaker_fails_fast_once_the_upstream_keeps_failing(tmp_path: Path) -> None:
    """Two timeouts in a row (``breaker = 2`` in the config) open the upstream's circuit:
    every tool of it is then refused at once, retryable, with when to try again."""
    config = tmp_path / "proxy.toml"
    config.write_text("breaker = 2\nbreaker_cooldown = 30\n\n[tools.sleep]\ntimeout = 0.3\n")
    async with over_stdio(_proxy(tmp_path, "--config", str(config))) as session:
        assert text_of(await session.call_tool("add", {"a": 1})) == "1"
        for _ in range(2):
            slow = wire(await session.call_tool("sleep", {"seconds": 5}))
            assert slow["structuredContent"]["type"] == "TimeoutError"
        refused = wire(await session.call_tool("add", {"a": 2}))
        error = refused["structuredContent"]
        assert (error["type"], error["retryable"]) == ("CircuitOpen", True)
        assert 0 < error["retry_after_s"] <= 30
        invalid = wire(await session.call_tool("add", {"a": "x"}))  # validated before it
        assert invalid["structuredContent"]["type"] == "InvalidArguments"
    assert (tmp_path / "calls.log").read_text().splitlines() == ["1"]


def test_proxy_breaker_options_are_per_upstream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolsafe.cli import main

    config = tmp_path / "proxy.toml"
    config.write_text("[tools.add]\nbreaker = 3\n")
    assert main(["proxy", "--config", str(config), "--", "true"]) == 2
    assert "'breaker' is per upstream: set it at the top" in capsys.readouterr().err
    assert main(["proxy", "--breaker", "-1", "--", "true"]) == 2
    assert "--breaker: expected a whole number" in capsys.readouterr().err
    assert main(["proxy", "--url", "http://127.0.0.1:9/mcp", "--", "true"]) == 2
    assert "-- COMMAND [ARGS...] or as --url URL (one)" in capsys.readouterr().err
