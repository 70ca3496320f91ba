"""``from_mcp``: an MCP server's tools as toolsafe Tools, called through the SDK's client session.

Upstreams: ``toolsafe serve`` (a real server process) and ``mcp-server-time`` from PyPI
(in ``.venv-mcp-servers``, made by ``make test-mcp2``; skipped when absent). Runs on the
installed SDK line (1.x in ``.venv``, 2.x in ``.venv-mcp2``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from _mcp_support import ROOT, in_memory, server_env

import toolsafe
from toolsafe.integrations.mcp import create_server, from_mcp
from toolsafe.integrations.mcp_client import Upstream, afrom_mcp

pytestmark = pytest.mark.mcp

UPSTREAM_TOOLS = '''
import os
import sys
import time

import toolsafe

LOG = os.environ["CALLS_LOG"]


@toolsafe.tool
def add(a: int, b: int = 0) -> int:
    """Add two integers."""
    with open(LOG, "a") as f:
        f.write(f"add {a} {b}\\n")
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


@toolsafe.tool
def fail(reason: str) -> str:
    """Raises."""
    raise RuntimeError(reason)
'''

TIME_SERVER = ROOT / ".venv-mcp-servers" / "bin" / "mcp-server-time"


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    tools_file = tmp_path / "upstream_tools.py"
    tools_file.write_text(UPSTREAM_TOOLS)
    env = {**server_env(), "CALLS_LOG": str(tmp_path / "calls.log")}
    up = Upstream(
        [sys.executable, "-m", "toolsafe.cli", "serve", str(tools_file)],
        env=env,
        hang_after=1.0,
        backoff=(0.05, 0.5),
    )
    up.start()
    yield up
    up.close()


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_lists_upstream_tools_with_their_schemas(upstream: Upstream) -> None:
    tools = {t.name: t for t in upstream.tools()}
    assert sorted(tools) == ["add", "big", "die", "fail", "sleep"]
    assert tools["add"].description == "Add two integers."
    assert tools["add"].to_mcp()["inputSchema"]["required"] == ["a"]


def test_call_validation_and_upstream_errors(upstream: Upstream, tmp_path: Path) -> None:
    with toolsafe.Runtime(upstream.tools()) as runtime:
        assert runtime.call("add", {"a": 2, "b": 3}).value == "5"
        invalid = runtime.call("add", {"a": "2", "c": 1})
        failed = runtime.call("fail", {"reason": "disk on fire"})
    assert invalid.error is not None and invalid.error.type == "InvalidArguments"
    assert {d["field"] for d in invalid.error.details} == {"a", "c"}
    assert _calls(tmp_path) == ["add 2 3"]  # the invalid call never reached the upstream
    # toolsafe upstream: its structured error kept as it was
    assert failed.error is not None
    assert (failed.error.type, failed.error.message, failed.error.retryable) == (
        "RuntimeError",
        "disk on fire",
        False,
    )


def test_timeout_and_a_trimmed_large_output_stays_json(upstream: Upstream) -> None:
    with toolsafe.Runtime(upstream.tools(timeout=0.5, max_output_chars=2_000)) as runtime:
        slow = runtime.call("sleep", {"seconds": 3})
        large = runtime.call("big", {"n": 1_000})
        after = runtime.call("add", {"a": 1})
    assert slow.error is not None and (slow.error.type, slow.error.retryable) == (
        "TimeoutError",
        True,
    )
    assert large.trimmed and len(large.text) <= 2_000
    assert isinstance(json.loads(large.text), list)
    assert after.value == "1"  # the session lives on after an abandoned call


async def test_100_concurrent_calls(upstream: Upstream) -> None:
    import asyncio

    with toolsafe.Runtime(upstream.tools(timeout=30)) as runtime:
        outcomes = await asyncio.gather(*(runtime.acall("add", {"a": i}) for i in range(100)))
    assert [o.value for o in outcomes] == [str(i) for i in range(100)]


def test_crash_mid_call_is_answered_and_the_server_relaunched(upstream: Upstream) -> None:
    with toolsafe.Runtime(upstream.tools(timeout=20)) as runtime:
        crashed = runtime.call("die", {})
        assert crashed.error is not None
        assert crashed.error.type in {"UpstreamClosed", "UpstreamUnavailable"}
        assert crashed.error.retryable is True
        for _ in range(100):  # relaunched with backoff
            again = runtime.call("add", {"a": 7})
            if again.ok:
                break
            assert again.error is not None and again.error.type == "UpstreamUnavailable"
            import time

            time.sleep(0.05)
    assert again.value == "7"
    assert upstream.launches == 2


def test_a_hung_upstream_is_killed_and_relaunched(upstream: Upstream) -> None:
    import os
    import signal
    import time

    with toolsafe.Runtime(upstream.tools(timeout=0.5)) as runtime:
        assert runtime.call("add", {"a": 1}).ok
        pid = upstream.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # hung: no answer to anything
        hung = runtime.call("add", {"a": 2})
        assert hung.error is not None and hung.error.type == "TimeoutError"
        deadline = time.monotonic() + 30
        while upstream.launches < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert upstream.launches == 2 and upstream.pid != pid
        for _ in range(100):
            again = runtime.call("add", {"a": 3})
            if again.ok:
                break
            time.sleep(0.05)
    assert again.value == "3"


def test_tool_options_must_name_real_tools(upstream: Upstream) -> None:
    with pytest.raises(toolsafe.ConfigurationError, match="the upstream's tools are: add"):
        upstream.tools(tool_options={"ad": {"timeout": 1}})


def test_retry_repeats_only_annotated_tools(upstream: Upstream) -> None:
    tools = {t.name: t for t in upstream.tools(retry=3)}
    assert tools["add"].options.idempotent is False  # not annotated: retried only if unsent


def test_a_command_that_fails_to_start_says_why(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"No such file|not found|Errno"):
        from_mcp([str(tmp_path / "no-such-server")])


async def test_afrom_mcp_on_an_open_session() -> None:
    @toolsafe.tool
    def mul(a: int, b: int) -> int:
        """Multiply."""
        return a * b

    with toolsafe.Runtime([mul]) as served:
        async with in_memory(create_server(served)) as session:
            tools = await afrom_mcp(session, timeout=5)
            with toolsafe.Runtime(tools) as runtime:
                assert (await runtime.acall("mul", {"a": 6, "b": 7})).value == "42"
                bad = await runtime.acall("mul", {"a": 6})
    assert bad.error is not None and bad.error.type == "InvalidArguments"


@pytest.mark.mcp_servers
@pytest.mark.skipif(not TIME_SERVER.exists(), reason="make test-mcp2 installs mcp-server-time")
def test_mcp_server_time_from_pypi() -> None:
    tools = from_mcp([str(TIME_SERVER), "--local-timezone", "UTC"], timeout=20)
    upstream = tools[0].upstream  # type: ignore[attr-defined]
    try:
        by_name = {t.name: t for t in tools}
        assert {"get_current_time", "convert_time"} <= set(by_name)
        with toolsafe.Runtime(tools) as runtime:
            now = runtime.call("get_current_time", {"timezone": "Europe/Paris"})
            assert now.ok, now.text
            assert json.loads(now.text)["timezone"] == "Europe/Paris"
            invalid = runtime.call("get_current_time", {"timezone": 5})
            assert invalid.error is not None and invalid.error.type == "InvalidArguments"
            unknown_zone = runtime.call("get_current_time", {"timezone": "Mars/Olympus"})
            assert unknown_zone.error is not None
            assert unknown_zone.error.retryable is False
    finally:
        upstream.close()
