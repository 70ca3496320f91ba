"""The MCP server in process, driven by the official SDK's client over its in-memory transport."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

pytest.importorskip("mcp")

from mcp.shared.memory import create_connected_server_and_client_session

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
TIMEOUT = timedelta(seconds=30)


@contextlib.asynccontextmanager
async def connect(tools: list[toolsafe.Tool] = TOOLS) -> AsyncIterator[Any]:
    """A client session on a fresh server (a context manager, not a fixture: anyio's
    cancel scopes must be entered and left in the same task)."""
    with toolsafe.Runtime(tools) as runtime:
        async with create_connected_server_and_client_session(
            create_server(runtime), read_timeout_seconds=TIMEOUT
        ) as client:
            yield client


async def test_lists_every_tool_with_its_closed_schema() -> None:
    async with connect() as session:
        listed = (await session.list_tools()).tools
        assert [t.name for t in listed] == ["add", "files.read", "hang", "ahang", "crash"]
        by_name = {t.name: t for t in listed}
        assert by_name["add"].inputSchema == add.to_mcp()["inputSchema"]
        assert by_name["add"].inputSchema["additionalProperties"] is False
        assert by_name["add"].description == "Add two integers."
        assert by_name["files.read"].inputSchema["required"] == ["path"]


async def test_call_returns_the_result_text() -> None:
    async with connect() as session:
        result = await session.call_tool("add", {"a": 40, "b": 2})
        assert result.isError is False
        assert [c.text for c in result.content] == ["42"]
        data = await session.call_tool("files.read", {"path": "/tmp/x"})
        assert json.loads(data.content[0].text) == {"path": "/tmp/x", "size": 0}


async def test_validation_error_is_structured() -> None:
    async with connect() as session:
        result = await session.call_tool("add", {"a": "40", "extra": True})
        assert result.isError is True
        error = parse_tool_error(result.content[0].text)
        assert error is not None
        assert result.structuredContent == error.to_dict()
        assert result.structuredContent["type"] == "InvalidArguments"
        assert result.structuredContent["retryable"] is False
        fields = {d["field"] for d in result.structuredContent["details"]}
        assert fields == {"a", "extra"}


async def test_missing_arguments_are_a_validation_error() -> None:
    async with connect() as session:
        result = await session.call_tool("add")
        assert result.isError is True
        assert result.structuredContent["details"][0]["field"] == "a"


@pytest.mark.parametrize("name,args", [("hang", {"seconds": 3}), ("ahang", {})])
async def test_timeouts_are_retryable_errors(name: str, args: dict[str, Any]) -> None:
    async with connect() as session:
        result = await session.call_tool(name, args)
        assert result.isError is True
        assert result.structuredContent["type"] == "TimeoutError"
        assert result.structuredContent["retryable"] is True
        assert result.structuredContent["tool"] == name


async def test_a_crash_is_a_structured_error_and_the_session_lives_on() -> None:
    async with connect() as session:
        result = await session.call_tool("crash", {"reason": "segfault in parser"})
        assert result.isError is True
        assert list(result.structuredContent)[:4] == ["error", "type", "message", "retryable"]
        assert result.structuredContent["type"] == "RuntimeError"
        assert result.structuredContent["message"] == "segfault in parser"
        assert (await session.call_tool("add", {"a": 1})).content[0].text == "1"


async def test_unknown_tool_suggests_the_closest() -> None:
    async with connect() as session:
        result = await session.call_tool("ad", {"a": 1})
        assert result.isError is True
        assert result.structuredContent["type"] == "UnknownTool"
        assert result.structuredContent["details"]["suggestion"] == "add"


async def test_200_concurrent_calls_on_one_session() -> None:
    async with connect() as session:
        results = await asyncio.gather(
            *(session.call_tool("add", {"a": i, "b": 1}) for i in range(200))
        )
        assert [r.content[0].text for r in results] == [str(i + 1) for i in range(200)]
        assert not any(r.isError for r in results)


async def test_calls_on_one_session_run_concurrently() -> None:
    barrier = threading.Barrier(4, timeout=5)

    @toolsafe.tool(timeout=10)
    def meet(i: int) -> int:
        """Returns once four calls are in flight together."""
        barrier.wait()
        return i

    async with connect([meet]) as client:
        results = await asyncio.gather(*(client.call_tool("meet", {"i": i}) for i in range(4)))
    assert [r.content[0].text for r in results] == ["0", "1", "2", "3"]


def test_call_tool_result_maps_outcomes() -> None:
    with toolsafe.Runtime([add]) as runtime:
        ok = call_tool_result(runtime.call("add", {"a": 1}))
        bad = call_tool_result(runtime.call("add", {"a": None}))
    assert (ok.isError, ok.structuredContent, ok.content[0].text) == (False, None, "1")
    assert bad.isError is True
    assert bad.content[0].text.startswith(toolsafe.ERROR_PREFIX)
    assert bad.structuredContent is not None and bad.structuredContent["type"] == "InvalidArguments"
