"""The MCP server in process, driven by the official SDK's client over its in-memory transport.

Runs on the installed SDK line (1.x in the main venv, 2.x in ``.venv-mcp2``: ``make test-mcp2``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("mcp")

from _mcp_support import MODES, in_memory, text_of, wire

import toolsafe
from toolsafe.errors import parse_tool_error
from toolsafe.integrations.mcp import call_tool_result, create_server

pytestmark = pytest.mark.mcp


@toolsafe.tool
def add(a: int, b: int = 0) -> int:
    """Add two integers."""
    return a + b


@toolsafe.tool(name="files.read")
def read_file(path: str, max_bytes: int | None = None) -> dict[str, Any]:
    """Read a file (pretend)."""
    return {"path": path, "size": max_bytes or 0}


@toolsafe.tool(timeout=0.2)
def hang(seconds: float) -> str:
    """Blocks longer than its timeout (sync code cannot be interrupted)."""
    time.sleep(seconds)
    return "woke up"


@toolsafe.tool(timeout=0.2)
async def ahang() -> str:
    """Awaits longer than its timeout."""
    await asyncio.sleep(30)
    return "never"


@toolsafe.tool
def crash(reason: str) -> str:
    """Crashes."""
    raise RuntimeError(reason)


TOOLS = [add, read_file, hang, ahang, crash]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """The protocol the client negotiates (2.x: the 2026-07-28 one and the handshake)."""
    return str(request.param)


@contextlib.asynccontextmanager
async def connect(tools: list[toolsafe.Tool] = TOOLS, mode: str = "legacy") -> AsyncIterator[Any]:
    """A client session on a fresh server (a context manager, not a fixture: anyio's
    cancel scopes must be entered and left in the same task)."""
    with toolsafe.Runtime(tools) as runtime:
        async with in_memory(create_server(runtime), mode) as client:
            yield client


async def test_lists_every_tool_with_its_closed_schema(mode: str) -> None:
    async with connect(mode=mode) as session:
        listed = [wire(t) for t in (await session.list_tools()).tools]
        assert [t["name"] for t in listed] == ["add", "files.read", "hang", "ahang", "crash"]
        by_name = {t["name"]: t for t in listed}
        assert by_name["add"]["inputSchema"] == add.to_mcp()["inputSchema"]
        assert by_name["add"]["inputSchema"]["additionalProperties"] is False
        assert by_name["add"]["inputSchema"]["type"] == "object"
        assert by_name["add"]["description"] == "Add two integers."
        assert by_name["files.read"]["inputSchema"]["required"] == ["path"]


async def test_call_returns_the_result_text(mode: str) -> None:
    async with connect(mode=mode) as session:
        result = wire(await session.call_tool("add", {"a": 40, "b": 2}))
        assert result["isError"] is False
        assert [c["text"] for c in result["content"]] == ["42"]
        data = await session.call_tool("files.read", {"path": "/tmp/x"})
        assert json.loads(text_of(data)) == {"path": "/tmp/x", "size": 0}


async def test_validation_error_is_structured(mode: str) -> None:
    async with connect(mode=mode) as session:
        result = wire(await session.call_tool("add", {"a": "40", "extra": True}))
        assert result["isError"] is True
        error = parse_tool_error(result["content"][0]["text"])
        assert error is not None
        structured = result["structuredContent"]
        assert structured == error.to_dict()
        assert structured["type"] == "InvalidArguments"
        assert structured["retryable"] is False
        assert {d["field"] for d in structured["details"]} == {"a", "extra"}


async def test_missing_arguments_are_a_validation_error(mode: str) -> None:
    async with connect(mode=mode) as session:
        result = wire(await session.call_tool("add"))
        assert result["isError"] is True
        assert result["structuredContent"]["details"][0]["field"] == "a"


@pytest.mark.parametrize("name,args", [("hang", {"seconds": 3}), ("ahang", {})])
async def test_timeouts_are_retryable_errors(mode: str, name: str, args: dict[str, Any]) -> None:
    async with connect(mode=mode) as session:
        result = wire(await session.call_tool(name, args))
        assert result["isError"] is True
        structured = result["structuredContent"]
        assert (structured["type"], structured["retryable"], structured["tool"]) == (
            "TimeoutError",
            True,
            name,
        )


async def test_a_crash_is_a_structured_error_and_the_session_lives_on(mode: str) -> None:
    async with connect(mode=mode) as session:
        result = wire(await session.call_tool("crash", {"reason": "segfault in parser"}))
        assert result["isError"] is True
        structured = result["structuredContent"]
        assert list(structured)[:4] == ["error", "type", "message", "retryable"]
        assert structured["type"] == "RuntimeError"
        assert structured["message"] == "segfault in parser"
        assert text_of(await session.call_tool("add", {"a": 1})) == "1"


async def test_unknown_tool_suggests_the_closest(mode: str) -> None:
    async with connect(mode=mode) as session:
        result = wire(await session.call_tool("ad", {"a": 1}))
        assert result["isError"] is True
        assert result["structuredContent"]["type"] == "UnknownTool"
        assert result["structuredContent"]["details"]["suggestion"] == "add"


async def test_200_concurrent_calls_on_one_session(mode: str) -> None:
    async with connect(mode=mode) as session:
        results = await asyncio.gather(
            *(session.call_tool("add", {"a": i, "b": 1}) for i in range(200))
        )
        assert [text_of(r) for r in results] == [str(i + 1) for i in range(200)]
        assert not any(wire(r)["isError"] for r in results)


async def test_calls_on_one_session_run_concurrently() -> None:
    barrier = threading.Barrier(4, timeout=5)

    @toolsafe.tool(timeout=10)
    def meet(i: int) -> int:
        """Returns once four calls are in flight together."""
        barrier.wait()
        return i

    async with connect([meet]) as client:
        results = await asyncio.gather(*(client.call_tool("meet", {"i": i}) for i in range(4)))
    assert [text_of(r) for r in results] == ["0", "1", "2", "3"]


def test_call_tool_result_maps_outcomes() -> None:
    with toolsafe.Runtime([add]) as runtime:
        ok = wire(call_tool_result(runtime.call("add", {"a": 1})))
        bad = wire(call_tool_result(runtime.call("add", {"a": None})))
    assert (ok["isError"], ok.get("structuredContent"), ok["content"][0]["text"]) == (
        False,
        None,
        "1",
    )
    assert bad["isError"] is True
    assert bad["content"][0]["text"].startswith(toolsafe.ERROR_PREFIX)
    assert bad["structuredContent"]["type"] == "InvalidArguments"


async def _slow(seconds: float) -> str:
    """Awaits a while."""
    await asyncio.sleep(seconds)
    return "done"


async def test_policy_keywords_apply_to_the_tools_served(mode: str) -> None:
    """The one way every adapter takes policies: ``create_server(tools, timeout=...)``."""
    server = create_server([_slow, add], timeout=0.2, max_output_chars=50)
    async with in_memory(server, mode) as session:
        slow = wire(await session.call_tool("_slow", {"seconds": 5}))
        assert (slow["isError"], slow["structuredContent"]["type"]) == (True, "TimeoutError")
        assert "0.2" in slow["structuredContent"]["message"]
        quick = await session.call_tool("_slow", {"seconds": 0})
        assert (wire(quick)["isError"], text_of(quick)) == (False, "done")


def test_policy_keywords_beside_a_runtime_are_refused_not_ignored() -> None:
    with toolsafe.Runtime([add]) as runtime, pytest.raises(toolsafe.ConfigurationError) as info:
        create_server(runtime, timeout=2)
    assert "'timeout' given with a Runtime" in str(info.value)


def test_unknown_policy_keyword_is_a_configuration_error() -> None:
    with pytest.raises(toolsafe.ConfigurationError, match="bogus"):
        create_server([add], bogus=1)
