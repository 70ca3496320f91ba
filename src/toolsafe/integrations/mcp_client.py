"""MCP tools inside a runtime: ``from_mcp`` turns an MCP server's tools into toolsafe Tools.

Owner: ``proxy`` (issue 14 §4; the server side, ``mcp.py``, is another engineer's).

Each upstream tool becomes a :class:`McpTool` built by ``Tool.from_schema`` from its
``inputSchema``, so arguments are validated here, with field-level errors, before
anything is sent. The call itself goes through the SDK's ``ClientSession``. What can
go wrong upstream becomes a structured error with an honest ``retryable``:

- an ``isError`` result: the upstream tool's own failure (``UpstreamToolError``, not
  retryable), or, when the upstream speaks toolsafe's error format (``toolsafe
  serve`` behind it), that error as it was, ``type`` and ``retryable`` kept;
- a JSON-RPC error: ``UpstreamError`` with its ``code`` in ``details`` (retryable only
  for a request timeout);
- a closed pipe or a crashed server: ``UpstreamClosed``, retryable (the call may have
  run: only idempotent tools are retried after it started); a call that could not be
  sent at all is ``UpstreamUnavailable``, a rejection (it certainly did not run).

Sources: a command (``["uvx", "mcp-server-time"]``, a string is split like a shell
would) is launched and owned by an :class:`Upstream`; ``await afrom_mcp(session)``
wraps a session you already have (SDK 1.x ``ClientSession`` or 2.x ``mcp.Client``).

An :class:`Upstream` runs its session on its own event-loop thread, so its tools can
be called from any loop or thread (``runtime.call``, CrewAI, LangGraph, the proxy's
server). Why not the SDK's ``stdio_client``: it hides the process, and a hung server
must be killed (its whole process group) and relaunched; so the process is started
here, in its own session (process group), and only the JSON-line framing is redone
(the SDK's message types parse each line). A crashed or killed server is relaunched
with exponential backoff; the calls in flight get ``UpstreamClosed`` at once (the SDK
answers pending requests when the stream ends). After a call is abandoned (its
timeout), the server is pinged: no answer within ``hang_after`` seconds means hung,
and it is killed and relaunched.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, TextIO

import anyio
import mcp.types as types
from mcp import ClientSession
from mcp.shared.message import SessionMessage

from toolsafe import Tool
from toolsafe.errors import ConfigurationError, NotStarted, ToolFailure, parse_tool_error

__all__ = [
    "McpTool",
    "Upstream",
    "UpstreamUnavailable",
    "afrom_mcp",
    "from_mcp",
    "tools_from_definitions",
]

try:  # 1.x spells it McpError, 2.x MCPError; both carry ``.error`` (ErrorData)
    from mcp.shared.exceptions import McpError as _McpError  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover - SDK 2.x
    from mcp.shared.exceptions import MCPError as _McpError  # type: ignore[attr-defined,no-redef,unused-ignore]

#: JSON-RPC codes the SDKs use for their own transport ends (both lines agree).
CONNECTION_CLOSED = -32000
REQUEST_TIMEOUT = -32001
#: What the SDK's streamable-HTTP client answers a request with when the server says
#: 404 to its session id (the server restarted); the request was not run.
SESSION_TERMINATED = 32600
TOOLS_CHANGED = "notifications/tools/list_changed"
RESOURCES_CHANGED = "notifications/resources/list_changed"
PROMPTS_CHANGED = "notifications/prompts/list_changed"


def wire(model: Any) -> dict[str, Any]:
    """An SDK model as its wire dict (1.x fields are wire-spelled, 2.x snake_case)."""
    out: dict[str, Any] = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    return out


# --------------------------------------------------------------------------- errors


class UpstreamUnavailable(ToolFailure, NotStarted):
    """The upstream could not be reached, so the call was never sent (a rejection)."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(
            message, retryable=True, retry_after_s=retry_after_s, type="UpstreamUnavailable"
        )


def _failure_of_result(result: dict[str, Any], tool: str) -> ToolFailure:
    """An ``isError`` result as the exception the runtime turns into the ToolError."""
    structured = result.get("structuredContent")
    texts = [c.get("text", "") for c in result.get("content", ()) if c.get("type") == "text"]
    text = "\n".join(texts)
    known = None
    if isinstance(structured, dict) and structured.get("error") is True:
        with contextlib.suppress(Exception):
            from toolsafe.errors import ToolError

            known = ToolError.from_dict(structured)
    if known is None and text:
        known = parse_tool_error(text)
    if known is not None:  # toolsafe behind: keep its verdict
        return ToolFailure(
            known.message,
            retryable=known.retryable,
            retry_after_s=known.retry_after_s,
            type=known.type,
            hint=known.hint,
            details=known.details,
        )
    return ToolFailure(
        text or f"the upstream tool {tool!r} reported an error with no text",
        retryable=False,
        type="UpstreamToolError",
        details=structured if structured is not None else None,
    )


def _failure_of_mcp_error(exc: BaseException, tool: str) -> ToolFailure:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = str(getattr(error, "message", "") or exc)
    if code == CONNECTION_CLOSED:
        return ToolFailure(
            f"the upstream MCP server closed the connection during the call to {tool!r} "
            f"({message}); it may have run",
            retryable=True,
            type="UpstreamClosed",
        )
    return ToolFailure(
        f"the upstream MCP server answered {tool!r} with JSON-RPC error {code}: {message}",
        retryable=code == REQUEST_TIMEOUT,
        type="UpstreamError",
        details={"code": code, "data": getattr(error, "data", None)},
    )


def result_value(result: dict[str, Any], tool: str) -> Any:
    """What a successful upstream result gives the runtime (which trims and serializes it).

    The text content as it is (one item: that text; several: joined by newlines),
    else ``structuredContent`` (a dict, serialized as JSON). Non-text items (images,
    audio, resources) are described, not passed (the runtime's result is text).
    """
    if result.get("isError"):
        raise _failure_of_result(result, tool)
    parts: list[str] = []
    for item in result.get("content", ()):
        kind = item.get("type")
        if kind == "text":
            parts.append(str(item.get("text", "")))
        elif kind == "resource" and isinstance(item.get("resource"), dict):
            res = item["resource"]
            parts.append(str(res.get("text", f"[resource {res.get('uri', '')}]")))
        else:
            mime = item.get("mimeType", "")
            parts.append(f"[{kind} content {mime} not shown]".replace("  ", " "))
    if parts:
        return parts[0] if len(parts) == 1 else "\n".join(parts)
    structured = result.get("structuredContent")
    return structured if structured is not None else ""


async def _call_session(session: Any, name: str, arguments: dict[str, Any]) -> Any:
    """One call on an SDK session, its failures translated."""
    try:
        result = await session.call_tool(name, arguments)
    except _McpError as exc:
        raise _failure_of_mcp_error(exc, name) from exc
    except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
        raise UpstreamUnavailable(
            f"the upstream MCP server's connection is closed: {exc!r}"
        ) from exc
    return result_value(wire(result), name)


def _session_forgotten(call: asyncio.Future[Any]) -> bool:
    """The HTTP transport's answer for a session id the server does not know (404)."""
    exc = call.exception()
    details = getattr(exc, "details", None)
    return (
        isinstance(exc, ToolFailure)
        and isinstance(details, dict)
        and details.get("code") == SESSION_TERMINATED
    )


# --------------------------------------------------------------------------- tools


class McpTool(Tool):
    """A Tool backed by an MCP server's tool; lists the upstream's title and annotations."""

    mcp_definition: dict[str, Any]

    def to_mcp(self) -> dict[str, Any]:
        listed = super().to_mcp()
        for key in ("title", "annotations"):
            value = getattr(self, "mcp_definition", {}).get(key)
            if value is not None:
                listed[key] = value
        return listed

    @property
    def annotations(self) -> dict[str, Any]:
        value = getattr(self, "mcp_definition", {}).get("annotations")
        return value if isinstance(value, dict) else {}

    @property
    def safe_to_repeat(self) -> bool:
        """The upstream says calling twice is harmless (``readOnlyHint``/``idempotentHint``)."""
        hints = self.annotations
        return bool(hints.get("readOnlyHint") or hints.get("idempotentHint"))


Caller = Callable[[str, dict[str, Any]], Any]


def _caller(call: Caller, name: str) -> Callable[..., Any]:
    async def run(**arguments: Any) -> Any:
        return await call(name, arguments)

    return run


def tools_from_definitions(
    definitions: Sequence[Mapping[str, Any]],
    call: Caller,
    *,
    tool_options: Mapping[str, Mapping[str, Any]] | None = None,
    **policy: Any,
) -> list[Tool]:
    """Tools for listed MCP definitions; ``call(name, arguments)`` is awaited per call.

    ``policy`` applies to every tool, ``tool_options[name]`` on top for one. ``retry=``
    repeats a call that already started only on a tool the upstream annotates
    ``readOnlyHint`` or ``idempotentHint`` (or that the options mark ``idempotent``);
    on the others only calls that certainly were not sent are retried.
    """
    by_name = {str(d["name"]): d for d in definitions}
    overrides = dict(tool_options or {})
    unknown = sorted(set(overrides) - set(by_name))
    if unknown:
        raise ConfigurationError(
            [f"no upstream tool named {name!r}" for name in unknown]
            + [f"the upstream's tools are: {', '.join(by_name) or '(none)'}"]
        )
    tools: list[Tool] = []
    for name, definition in by_name.items():
        options = {**policy, **overrides.get(name, {})}
        hints = definition.get("annotations") or {}
        if "idempotent" not in options:
            if hints.get("readOnlyHint") or hints.get("idempotentHint"):
                options["idempotent"] = True
            elif options.get("retry") not in (None, False, 0, 1):
                options["idempotent"] = False  # retried only when certainly not sent
        schema = dict(definition.get("inputSchema") or {})
        schema.setdefault("type", "object")
        schema.setdefault("properties", {})
        made = McpTool.from_schema(
            {
                "name": name,
                "description": definition.get("description") or "",
                "inputSchema": schema,
            },
            _caller(call, name),
            **options,
        )
        made.mcp_definition = dict(definition)  # type: ignore[attr-defined]
        tools.append(made)
    return tools


async def _list_all(session: Any) -> list[dict[str, Any]]:
    listed = await session.list_tools()
    found = [wire(t) for t in listed.tools]
    cursor = wire(listed).get("nextCursor")
    while cursor:
        listed = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
        found.extend(wire(t) for t in listed.tools)
        cursor = wire(listed).get("nextCursor")
    return found


async def afrom_mcp(source: Any, **policy: Any) -> list[Tool]:
    """``from_mcp`` for async code; also takes an open SDK session (1.x or 2.x).

    A session's tools must be called on the event loop the session runs on.
    """
    if hasattr(source, "call_tool") and hasattr(source, "list_tools"):
        definitions = await _list_all(source)
        tool_options = policy.pop("tool_options", None)

        async def call(name: str, arguments: dict[str, Any]) -> Any:
            return await _call_session(source, name, arguments)

        return tools_from_definitions(definitions, call, tool_options=tool_options, **policy)
    return await asyncio.to_thread(from_mcp, source, **policy)


def from_mcp(
    source: Any,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    tool_options: Mapping[str, Mapping[str, Any]] | None = None,
    **policy: Any,
) -> list[Tool]:
    """Toolsafe Tools for the tools of an MCP server launched from ``source``.

    ``source``: a command (list of strings, or a string split like a shell would), or
    an :class:`Upstream`. ``policy`` is any tool option (``timeout=``, ``retry=``,
    ``max_output_chars=``...); ``tool_options={"name": {...}}`` per tool. The launched
    server lives until ``close()`` of the upstream (``tools[0].upstream``) or exit.
    For an open SDK session, use ``await afrom_mcp(session)``.
    """
    if hasattr(source, "call_tool") and hasattr(source, "list_tools"):
        raise TypeError("from_mcp(session): a session is async; use await afrom_mcp(session)")
    upstream = source if isinstance(source, Upstream) else Upstream(source, env=env, cwd=cwd)
    upstream.start()
    return upstream.tools(tool_options=tool_options, **policy)


# --------------------------------------------------------------------------- owned upstream


class Upstream:
    """An MCP server on its own loop thread: a stdio one toolsafe launches, watches and
    relaunches, or (``url=``) a streamable-HTTP one it connects to and reconnects."""

    def __init__(
        self,
        command: str | Sequence[str] | None = None,
        *,
        url: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        errlog: TextIO | None = None,
        hang_after: float = 5.0,
        connect_timeout: float = 60.0,
        backoff: tuple[float, float] = (0.1, 5.0),
        heartbeat: float = 1.0,
    ) -> None:
        if (command is None) == (url is None):
            raise ConfigurationError(["give the upstream's command or its url=, not both"])
        argv: list[str] = []
        if command is not None:
            argv = shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
            if not argv:
                raise ConfigurationError(["no upstream command given"])
        self.argv = argv
        #: The streamable-HTTP endpoint (None: a launched stdio server).
        self.url = url
        self.env = None if env is None else {**os.environ, **env}
        self.cwd = cwd
        self.errlog = errlog
        self.hang_after = hang_after
        self.connect_timeout = connect_timeout
        self.backoff = backoff
        #: HTTP only: seconds between pings while calls are in flight. The SDK's HTTP
        #: client never answers a call whose response stream broke (the server died
        #: mid-call); a failed ping ends the connection, and with it those calls.
        self.heartbeat = heartbeat
        self._in_flight = 0
        #: The upstream's capabilities as it declared them (wire form), once connected.
        self.capabilities: dict[str, Any] = {}
        #: Called (on the upstream's thread) with a ``notifications/.../list_changed``
        #: method after it changed: for tools, once ``definitions`` are listed again.
        self.on_list_changed: list[Callable[[str], None]] = []
        #: The last lines the server wrote on stderr (said in errors when it fails).
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        #: How many times the server was (re)launched.
        self.launches = 0
        self.pid: int | None = None
        self.definitions: list[dict[str, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: Any = None
        self._attempt: asyncio.Future[Any] | None = None
        self._down_until = 0.0
        self._dead: asyncio.Event | None = None
        self._closing = False
        self._probing = False
        self._supervisor: Future[None] | None = None
        self._closed: asyncio.Future[None] | Any = None
        self._probe_task: asyncio.Future[None] | None = None
        self._relist: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Launch the server and wait for its first tool list (raises if it cannot start)."""
        if self._thread is not None:
            return
        ready: Future[None] = Future()
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"toolsafe-mcp-upstream-{self._label()[:40]}", daemon=True
        )
        self._thread.start()
        atexit.register(self.close)  # a forgotten upstream still ends with this process
        self._supervisor = asyncio.run_coroutine_threadsafe(self._supervise(ready), loop)
        try:
            ready.result(self.connect_timeout + 5)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop the server (stdin closed, then its process group killed) and the loop."""
        loop, self._closing = self._loop, True
        if loop is None:
            return
        atexit.unregister(self.close)
        if self._dead is not None:
            loop.call_soon_threadsafe(self._dead.set)
        if self._supervisor is not None:
            with contextlib.suppress(BaseException):
                self._supervisor.result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> Upstream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tools(
        self, *, tool_options: Mapping[str, Mapping[str, Any]] | None = None, **policy: Any
    ) -> list[Tool]:
        made = tools_from_definitions(
            self.definitions, self.call, tool_options=tool_options, **policy
        )
        for t in made:
            t.upstream = self  # type: ignore[attr-defined]
        return made

    def kill(self) -> None:
        """Kill the server's process group now (what a hang does); it is relaunched.

        An HTTP upstream cannot be killed: its connection is dropped and reopened."""
        if self.url is not None:
            loop, dead = self._loop, self._dead
            if loop is not None and dead is not None:
                loop.call_soon_threadsafe(dead.set)
            return
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)

    # ------------------------------------------------------------------ calls

    async def call(self, name: str, arguments: dict[str, Any]) -> Any:
        """Call ``name`` from any event loop (hops to the upstream's loop and back)."""
        loop = self._loop
        if loop is None or self._closing:
            raise UpstreamUnavailable("the upstream MCP server is closed")
        future = asyncio.run_coroutine_threadsafe(self._call_here(name, arguments), loop)
        return await asyncio.wrap_future(future)

    async def _call_here(self, name: str, arguments: dict[str, Any]) -> Any:
        session = self._session
        if session is None or self._closed.done():
            session = await self._wait_session()
        closed = self._closed
        call = asyncio.ensure_future(_call_session(session, name, arguments))
        self._in_flight += 1
        try:
            await asyncio.wait({call, closed}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the caller gave up (timeout): is the server hung?
            call.cancel()
            if not self._probing and not closed.done():
                self._probing = True
                self._probe_task = asyncio.ensure_future(self._probe(session))
            raise
        finally:
            self._in_flight -= 1
        if call.done():
            if self.url is not None and _session_forgotten(call):
                self.kill()  # the server restarted and forgot the session: reconnect
                raise UpstreamUnavailable(
                    f"the upstream MCP server at {self.url} no longer knows this session "
                    "(it restarted); reconnecting",
                    retry_after_s=self.backoff[0],
                )
            return call.result()
        call.cancel()  # the connection ended first: answer now, never leave the call waiting
        raise ToolFailure(
            f"the upstream MCP server {self._label()} ended during the call to {name!r}; "
            f"it may have run{self._said()}",
            retryable=True,
            type="UpstreamClosed",
        )

    async def _wait_session(self) -> Any:
        attempt = self._attempt
        left = self._down_until - time.monotonic()
        ended = self._closed is not None and self._closed.done()
        if attempt is None or ended or (attempt.done() and attempt.exception() is not None):
            raise UpstreamUnavailable(
                f"the upstream MCP server {self._label()} is down and relaunching{self._said()}",
                retry_after_s=max(left, 0.0) or None,
            )
        try:
            return await asyncio.shield(attempt)
        except Exception as exc:
            raise UpstreamUnavailable(
                f"the upstream MCP server {self._label()} could not be started: {exc}{self._said()}"
            ) from exc

    async def _probe(self, session: Any) -> None:
        try:
            with anyio.fail_after(self.hang_after):
                await session.send_ping()
        except TimeoutError:
            what = "dropping the connection" if self.url else "killing it"
            self._note(f"did not answer a ping within {self.hang_after:g}s: {what}")
            self.kill()
        except _McpError as exc:
            if self.url is not None and getattr(exc.error, "code", None) == SESSION_TERMINATED:
                self.kill()  # restarted: it forgot the session
        except Exception:
            pass
        finally:
            self._probing = False

    async def _heartbeat(self, session: Any) -> None:
        """HTTP: ping while calls are in flight, so a server that died mid-call is noticed."""
        while True:
            await asyncio.sleep(self.heartbeat)
            if self._in_flight and not self._probing:
                self._probing = True
                await self._probe(session)

    # ------------------------------------------------------------------ the supervisor

    async def _supervise(self, first: Future[None]) -> None:
        delay = self.backoff[0]
        while not self._closing:
            self._attempt = asyncio.get_running_loop().create_future()
            self._attempt.add_done_callback(lambda f: f.exception())  # never "unretrieved"
            self._dead = asyncio.Event()
            self._closed = asyncio.get_running_loop().create_future()
            connected = False
            try:
                async with self._connected() as session:
                    connected = True
                    delay = self.backoff[0]
                    self._session = session
                    self._attempt.set_result(session)
                    if not first.done():
                        first.set_result(None)
                    await self._dead.wait()
                    self._closed.set_result(None)
            except Exception as exc:
                if not self._attempt.done():
                    self._attempt.set_exception(exc)
                if not first.done():
                    first.set_exception(exc)
                    return
                self._note(f"failed: {exc!r}")
            finally:
                self._session = None
                if not self._closed.done():
                    self._closed.set_result(None)
            if self._closing:
                break
            if connected:
                self._note("connection ended: reconnecting" if self.url else "exited: relaunching")
            self._down_until = time.monotonic() + delay
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])

    @contextlib.asynccontextmanager
    async def _connected(self) -> AsyncIterator[Any]:
        """An initialized session whose tools are listed (a stdio launch or an HTTP connect)."""
        opened = self._connected_http() if self.url is not None else self._connected_stdio()
        try:
            async with opened as session:
                yield session
        except Exception as exc:  # an exception group of one failure: raise it as itself
            while True:
                inner = getattr(exc, "exceptions", None)
                if not (inner and len(inner) == 1 and isinstance(inner[0], Exception)):
                    break
                exc = inner[0]
            raise exc from None

    async def _initialized(self, session: Any) -> None:
        before = self.definitions
        with anyio.fail_after(self.connect_timeout):
            result = await session.initialize()
            capabilities = getattr(result, "capabilities", None)
            self.capabilities = {} if capabilities is None else wire(capabilities)
            self.definitions = await _list_all(session)
        if before and before != self.definitions:  # relaunched as another version
            self._changed(TOOLS_CHANGED)

    # ------------------------------------------------------------------ notifications

    async def _on_message(self, message: Any) -> None:
        """The SDK's message handler: follows ``list_changed`` notifications."""
        method = getattr(getattr(message, "root", message), "method", None)
        if method == TOOLS_CHANGED:
            session = self._session
            if session is not None:
                self._relist = asyncio.ensure_future(self._relist_tools(session))
        elif method in (RESOURCES_CHANGED, PROMPTS_CHANGED):
            self._changed(method)

    async def _relist_tools(self, session: Any) -> None:
        try:
            with anyio.fail_after(self.connect_timeout):
                definitions = await _list_all(session)
        except Exception as exc:
            self._note(f"said its tools changed, but listing them failed: {exc!r}")
            return
        if definitions != self.definitions:
            self.definitions = definitions
            self._changed(TOOLS_CHANGED)

    def _changed(self, method: str) -> None:
        for listener in list(self.on_list_changed):
            try:
                listener(method)
            except Exception as exc:  # a listener's bug must not end the session
                self._note(f"list_changed listener failed: {exc!r}")

    async def request(self, method: str, params: Any) -> Any:
        """Forward a resources/prompts request to the upstream; its SDK result as it came.

        From any event loop, like ``call``. Raises ``UpstreamUnavailable`` when the
        upstream is down, the SDK's error (``McpError``) when it answered one.
        """
        loop = self._loop
        if loop is None or self._closing:
            raise UpstreamUnavailable("the upstream MCP server is closed")
        future = asyncio.run_coroutine_threadsafe(self._request_here(method, params), loop)
        return await asyncio.wrap_future(future)

    async def _request_here(self, method: str, params: Any) -> Any:
        session = self._session
        if session is None or self._closed.done():
            session = await self._wait_session()
        cursor = types.PaginatedRequestParams(cursor=getattr(params, "cursor", None))
        if method == "resources/list":
            return await session.list_resources(params=cursor)
        if method == "resources/templates/list":
            return await session.list_resource_templates(params=cursor)
        if method == "prompts/list":
            return await session.list_prompts(params=cursor)
        if method == "resources/read":
            return await session.read_resource(params.uri)
        if method == "prompts/get":
            return await session.get_prompt(params.name, params.arguments)
        raise ValueError(f"not forwarded: {method}")

    @contextlib.asynccontextmanager
    async def _connected_http(self) -> AsyncIterator[Any]:
        """Connect to the streamable-HTTP endpoint; the connection ends on any transport error.

        The SDK's transport fails its whole task group when a request cannot be posted
        (server down, connection reset): that ends this session, and the supervisor
        reconnects. A session the server forgot (restarted: HTTP 404) is ended too.
        """
        from mcp.client.streamable_http import streamable_http_client

        assert self.url is not None
        async with contextlib.AsyncExitStack() as stack:
            streams = await stack.enter_async_context(streamable_http_client(self.url))
            session = await stack.enter_async_context(
                ClientSession(streams[0], streams[1], message_handler=self._on_message)
            )
            await self._initialized(session)
            self.launches += 1
            beat = asyncio.ensure_future(self._heartbeat(session))
            try:
                yield session
            finally:
                beat.cancel()

    @contextlib.asynccontextmanager
    async def _connected_stdio(self) -> AsyncIterator[Any]:
        """Launch the server, open an SDK session on its pipes, initialize, list its tools."""
        import subprocess

        process = await anyio.open_process(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,  # its own process group: a hang kills every child too
        )
        self.launches += 1
        self.pid = process.pid
        dead = self._dead
        assert dead is not None
        read_writer, read_stream = anyio.create_memory_object_stream[Any](0)
        write_stream, write_reader = anyio.create_memory_object_stream[Any](0)

        async def stdout_reader() -> None:
            assert process.stdout is not None
            buffer = b""
            async with read_writer:
                with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                    async for chunk in process.stdout:
                        lines = (buffer + chunk).split(b"\n")
                        buffer = lines.pop()
                        for line in lines:
                            if line.strip():
                                await read_writer.send(_parse_line(line))
            dead.set()

        async def stdin_writer() -> None:
            assert process.stdin is not None
            async with write_reader:
                with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                    async for message in write_reader:
                        data = message.message.model_dump_json(by_alias=True, exclude_none=True)
                        await process.stdin.send(data.encode("utf-8") + b"\n")

        async def stderr_reader() -> None:
            assert process.stderr is not None
            with contextlib.suppress(Exception):
                async for chunk in process.stderr:
                    text = chunk.decode("utf-8", "replace")
                    for line in text.splitlines():
                        self.stderr_tail.append(line[:500])
                    if self.errlog is not None:
                        self.errlog.write(text)
                        self.errlog.flush()

        async def waiter() -> None:
            await process.wait()
            dead.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(stdout_reader)
            tg.start_soon(stdin_writer)
            tg.start_soon(stderr_reader)
            tg.start_soon(waiter)
            try:
                async with ClientSession(
                    read_stream, write_stream, message_handler=self._on_message
                ) as session:
                    await self._initialized(session)
                    yield session
            finally:
                await self._stop(process)
                tg.cancel_scope.cancel()

    async def _stop(self, process: Any) -> None:
        """Close stdin, give the server 2 s, then kill its process group."""
        with contextlib.suppress(Exception):
            if process.stdin is not None:
                await process.stdin.aclose()
        if process.returncode is None and self._closing:
            with anyio.move_on_after(2):
                await process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with anyio.move_on_after(5), contextlib.suppress(Exception):
            await process.wait()

    def _label(self) -> str:
        return self.url if self.url is not None else shlex.join(self.argv)[:200]

    def _said(self) -> str:
        tail = " | ".join(list(self.stderr_tail)[-3:])
        return f" (its stderr: {tail})" if tail else ""

    def _note(self, what: str) -> None:
        print(f"toolsafe: upstream {self._label()} {what}", file=sys.stderr, flush=True)


if hasattr(types, "jsonrpc_message_adapter"):  # SDK 2.x

    def _parse_line(line: bytes) -> Any:
        try:
            adapter: Any = types.jsonrpc_message_adapter  # type: ignore[attr-defined,unused-ignore]
            return SessionMessage(adapter.validate_json(line, by_name=False))
        except ValueError as exc:
            return exc

else:

    def _parse_line(line: bytes) -> Any:
        try:
            return SessionMessage(types.JSONRPCMessage.model_validate_json(line))
        except ValueError as exc:
            return exc
