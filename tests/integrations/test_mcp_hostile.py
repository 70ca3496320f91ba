"""``toolsafe serve`` on hostile input: it always answers, in valid UTF-8, and lives on.

- Raw JSON-RPC lines on stdio (what no SDK client sends): lone surrogate escapes
  in arguments, tool names and ids, bytes that are not UTF-8, wrong shapes.
- Tools that return, raise or are named with lone surrogates, over stdio and HTTP.
- Hypothesis: arbitrary JSON arguments through the SDK's real client, on tools of
  every parameter type, many calls on one session of one server process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from _mcp_support import (
    MODES,
    over_http,
    over_stdio,
    serve_http_process,
    server_env,
    text_of,
    wire,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import StdioServerParameters

from toolsafe.errors import parse_tool_error

pytestmark = pytest.mark.mcp

TOOLS = '''
import os
from typing import Any, Literal

import toolsafe


@toolsafe.tool
def echo(value: Any = None) -> Any:
    """Return the value."""
    return value


@toolsafe.tool
def typed(
    s: str,
    i: int,
    f: float,
    b: bool,
    items: list[int],
    m: dict[str, str] | None = None,
    choice: Literal["a", "b"] = "a",
) -> str:
    """Every parameter type."""
    return f"{s!r} {i} {f} {b} {items} {m} {choice}"


@toolsafe.tool
def nested(payload: dict[str, Any]) -> dict[str, Any]:
    """Return the payload."""
    return payload


@toolsafe.tool
def fsname() -> str:
    """A file name that is not UTF-8, as os.fsdecode gives it."""
    return os.fsdecode(b"report-\\xff.txt")


@toolsafe.tool
async def afsname() -> str:
    """The same from an async tool (the express lane: no chain step by step)."""
    return os.fsdecode(b"async-\\xff.txt")


@toolsafe.tool(timeout=0.5)
async def endless() -> Any:
    """An async tool handing back an endless iterator."""
    import itertools

    return itertools.count()


@toolsafe.tool
def boom(text: str) -> str:
    """Raise with the text."""
    raise RuntimeError(text + os.fsdecode(b"\\xfe"))


@toolsafe.tool(name="odd-" + os.fsdecode(b"\\xfd"), description="lists " + os.fsdecode(b"\\xfc"))
def odd() -> str:
    return "ok"
'''

ODD_NAME = "odd-\\udcfd"  # how the server lists the tool named "odd-\udcfd"


@pytest.fixture(scope="module")
def tools_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "hostile_tools.py"
    path.write_text(TOOLS)
    return path


def _serve(tools_file: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "toolsafe.cli", "serve", str(tools_file)],
        env=server_env(),
    )


# --------------------------------------------------------------------------- raw JSON-RPC


def _request(id_: Any, method: str, params: Any = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    # ensure_ascii: lone surrogates go out as \\udXXX escapes, as a hostile client sends them
    with _int_digits_unlimited():
        return json.dumps(message).encode() + b"\n"


@contextlib.contextmanager
def _int_digits_unlimited() -> Iterator[None]:
    saved = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(saved)


HOSTILE: list[tuple[Any, bytes]] = [
    (2, _request(2, "tools/call", {"name": "fsname", "arguments": {}})),
    (3, _request(3, "tools/call", {"name": "echo", "arguments": {"value": "a\ud800b"}})),
    (4, _request(4, "tools/call", {"name": "\udc80", "arguments": {}})),
    (5, _request(5, "tools/call", {"name": "boom", "arguments": {"text": "x\udfff"}})),
    (6, _request(6, "tools/call", {"name": "echo", "arguments": "\ud800"})),
    (7, _request(7, "tools/call", {"name": "echo", "arguments": {"\ud800": 1}})),
    (8, _request(8, "\ud800")),
    (9, _request(9, "tools/list")),
    (
        10,
        b'{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"echo",'
        b'"arguments":{"value":"caf\xe9"}}}\n',
    ),  # Latin-1, not UTF-8
    (11, _request(11, "tools/call", {"name": "echo", "arguments": {"value": "\ud83d\ude00"}})),
    (12, _request(12, "tools/call", {"name": "echo", "arguments": {"value": [[[[1]]]] * 3}})),
    (13, _request(13, "tools/call", {"name": "typed", "arguments": {"items": [1, 10**4400]}})),
    (14, _request(14, "tools/list", {"cursor": 10**4400})),
]


async def _read_reply(stdout: asyncio.StreamReader, id_: Any) -> dict[str, Any]:
    """The reply to ``id_`` (notifications skipped); every line must be UTF-8 JSON."""
    while True:
        line = await asyncio.wait_for(stdout.readline(), 60)
        assert line, "the server closed stdout"
        message: dict[str, Any] = json.loads(line.decode("utf-8"))  # strict: valid UTF-8
        if message.get("id") == id_:
            return message


async def test_every_hostile_line_on_stdio_is_answered(tools_file: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "toolsafe.cli",
        "serve",
        str(tools_file),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=server_env(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        init = {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        }
        proc.stdin.write(_request(1, "initialize", init))
        proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        await _read_reply(proc.stdout, 1)
        replies = {}
        for id_, line in HOSTILE:
            proc.stdin.write(line)
            await proc.stdin.drain()
            replies[id_] = await _read_reply(proc.stdout, id_)

        def text(id_: int) -> str:
            return str(replies[id_]["result"]["content"][0]["text"])

        assert text(2) == "report-\\udcff.txt"  # escaped, and said so by the backslash
        assert text(3) == "a\\ud800b"
        assert replies[4]["result"]["structuredContent"]["type"] == "UnknownTool"
        assert replies[5]["result"]["structuredContent"]["message"] == "x\\udfff\\udcfe"
        assert "error" in replies[6]  # arguments that are not an object: the SDK says so
        assert replies[7]["result"]["isError"] is True
        assert "error" in replies[8]
        listed = {t["name"]: t for t in replies[9]["result"]["tools"]}
        assert listed[ODD_NAME]["description"] == "lists \\udcfc"
        assert all(t["inputSchema"]["type"] == "object" for t in listed.values())
        assert text(10) == "caf\ufffd"  # undecodable bytes replaced, the line still served
        assert text(11) == "\U0001f600"  # a well-paired escape is just a character
        assert json.loads(text(12)) == [[[[1]]]] * 3
        too_long = replies[13]["result"]["structuredContent"]
        assert (too_long["type"], too_long["details"][0]["field"]) == (
            "InvalidArguments",
            "items.1",
        )
        assert "4,401 digits" in too_long["message"]
        assert replies[14]["error"]["code"] == -32602
        assert proc.returncode is None  # alive
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0


# --------------------------------------------------------------------------- the SDK's client


async def _surrogates_are_escaped(session: Any) -> None:
    tools = {wire(t)["name"]: wire(t) for t in (await session.list_tools()).tools}
    assert tools[ODD_NAME]["description"] == "lists \\udcfc"
    assert text_of(await session.call_tool("fsname", {})) == "report-\\udcff.txt"
    assert text_of(await session.call_tool("afsname", {})) == "async-\\udcff.txt"
    stopped = wire(await session.call_tool("endless", {}))  # it hung the server's loop
    # bounded by its timeout or the 1M-character cap, whichever comes first on this machine
    assert stopped.get("structuredContent", {}).get("type") == "TimeoutError" or (
        "not consumed past 1000000 characters" in stopped["content"][0]["text"]
    )
    crashed = wire(await session.call_tool("boom", {"text": "disk "}))
    assert crashed["structuredContent"]["message"] == "disk \\udcfe"
    assert parse_tool_error(crashed["content"][0]["text"]) is not None
    assert text_of(await session.call_tool(ODD_NAME, {})) == "ok"  # the listed name is callable


async def test_surrogates_over_stdio(tools_file: Path) -> None:
    async with over_stdio(_serve(tools_file)) as session:
        await _surrogates_are_escaped(session)


async def test_surrogates_over_http(tools_file: Path, tmp_path: Path) -> None:
    with serve_http_process(tools_file, tmp_path / "server.log") as url:
        async with over_http(url) as session:
            await _surrogates_are_escaped(session)
            assert text_of(await session.call_tool("echo", {"value": 1})) == "1"


# --------------------------------------------------------------------------- Hypothesis


class _Session:
    """One SDK client session on one ``toolsafe serve`` process, on a thread of its own.

    Hypothesis calls tests synchronously, many times; the session (anyio scopes
    entered and left in one task) lives on the thread's loop for all of them.
    """

    def __init__(self, params: StdioServerParameters, mode: str) -> None:
        self._params, self._mode = params, mode
        self._ready: Future[None] = Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._session: Any = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        self._ready.result(120)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            async with over_stdio(self._params, self._mode) as session:
                self._session = session
                self._ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(
            self._session.call_tool(name, arguments), self._loop
        )
        return wire(future.result(20))

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)


@pytest.fixture(scope="module")
def session(tools_file: Path) -> Iterator[_Session]:
    opened = _Session(_serve(tools_file), MODES[0])
    yield opened
    opened.close()


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, -(2**64)])
    | st.builds(pow, st.just(10), st.integers(4301, 4400))  # past Python's int-to-str limit
    | st.floats()  # NaN and infinities too: the client sends them as null
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
NAMES = st.sampled_from(["echo", "typed", "nested", "fsname", "boom", ODD_NAME]) | st.text(
    max_size=12
)
PARAMETERS = st.sampled_from(
    ["value", "s", "i", "f", "b", "items", "m", "choice", "payload", "text"]
)
ARGUMENTS = st.dictionaries(PARAMETERS | st.text(max_size=8), JSON, max_size=6)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=NAMES, arguments=ARGUMENTS)
def test_arbitrary_json_arguments_never_break_the_server(
    session: _Session, name: str, arguments: dict[str, Any]
) -> None:
    result = session.call(name, arguments)
    assert isinstance(result["isError"], bool)
    text = result["content"][0]["text"]
    text.encode("utf-8")  # valid UTF-8, whatever came in
    if result["isError"]:
        structured = result["structuredContent"]
        assert {"error", "type", "message", "retryable"} <= set(structured)
        parsed = parse_tool_error(text)
        assert parsed is not None and parsed.type == structured["type"]
    elif name == "echo" and list(arguments) == ["value"] and _plain(arguments["value"]):
        value = arguments["value"]
        assert text == value if isinstance(value, str) else json.loads(text) == value


def _plain(value: Any) -> bool:
    """JSON that crosses unchanged (no NaN/Infinity, no integer past Python's digit limit)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) < 10**4000
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_plain(v) for v in value.values())
    return True


def test_the_session_lives_on_after_the_property(session: _Session) -> None:
    assert json.loads(session.call("echo", {"value": [1, "two"]})["content"][0]["text"]) == [
        1,
        "two",
    ]
