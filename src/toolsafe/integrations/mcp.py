"""MCP: serve a runtime's tools over the Model Context Protocol (official ``mcp`` SDK).

Built on the SDK's low-level ``Server`` because it takes the tools' own JSON
Schemas as they are (FastMCP derives schemas from Python signatures). Input
validation is left to the runtime, so a bad call gets the structured error with
field-level detail instead of the SDK's one-line jsonschema message. Every call
goes through the runtime; a failure comes back as ``isError: true`` with the
structured error line as text and the error dict as ``structuredContent``.

Both SDK lines are supported: 1.x (>= 1.24, handlers registered with decorators)
and 2.x (handlers passed to the ``Server`` constructor). The difference stays in
:func:`create_server`; everything above the ``Server`` object is the same.

Whatever a tool returns, the server answers valid UTF-8: text the SDK could not
encode (a lone surrogate, e.g. from ``os.fsdecode`` of a non-UTF-8 file name)
is escaped as ``\\udcXX`` in what is listed and returned, instead of killing the
stdio server or losing the HTTP reply.

Transports: stdio (``serve_stdio``) and streamable HTTP (``http_app`` / ``serve_http``,
on 127.0.0.1 by default, with DNS-rebinding protection on every loopback bind, and
timeouts and a connection cap against slow or abusive clients).
``toolsafe serve`` is the command-line front end.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from io import TextIOWrapper
from typing import Any

try:
    import anyio
    import mcp.types as types
    from mcp.server.lowlevel import Server
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "toolsafe.integrations.mcp needs the MCP SDK: pip install 'toolsafe[mcp]'",
        name=exc.name,
    ) from exc

import toolsafe
from toolsafe import ConfigurationError, Outcome, Runtime, ToolError
from toolsafe.integrations._mcp_http import (
    LOOPBACK_HOSTS,
    HTTPLimits,
    is_loopback,
    listen_socket,
    security_settings,
    serve_guarded,
)
from toolsafe.integrations._mcp_wire import (
    SerialWriter,
    StdioLines,
    protocol_stdio,
    utf8_safe_value,
)
from toolsafe.integrations.support import new_call_id, resolve_tools, utf8_safe

__all__ = [
    "LOOPBACK_HOSTS",
    "SDK_MAJOR",
    "HTTPLimits",
    "RemoteBindRefused",
    "call_tool_result",
    "create_server",
    "http_app",
    "is_loopback",
    "serve_http",
    "serve_stdio",
]

#: The installed SDK's major version: 2 when ``Server`` takes ``on_call_tool=``.
SDK_MAJOR = 2 if "on_call_tool" in inspect.signature(Server.__init__).parameters else 1


def _as_runtime(runtime_or_tools: Runtime | Iterable[Any], policy: Mapping[str, Any]) -> Runtime:
    """The runtime whose tools the server lists and calls.

    ``policy``: the keywords every adapter takes (``timeout=``, ``retry=``, ... for the
    tools passed here; runtime options for the runtime made for them). A Runtime's
    tools already carry their options, so keywords beside one are refused, not ignored.
    """
    if isinstance(runtime_or_tools, Runtime):
        if policy:
            raise ConfigurationError(
                [
                    f"'{key}' given with a Runtime: its tools keep their own options; "
                    "pass the tools themselves, or set it on them (tool.with_options)"
                    for key in policy
                ]
            )
        return runtime_or_tools
    if not policy:
        return Runtime(runtime_or_tools)
    return resolve_tools(runtime_or_tools, None, policy)[0]


# --------------------------------------------------------------------------- the server


def call_tool_result(outcome: Outcome) -> types.CallToolResult:
    """An Outcome as MCP's CallToolResult (errors: ``isError`` and ``structuredContent``)."""
    text = [types.TextContent(type="text", text=utf8_safe(outcome.text)[0])]
    if outcome.ok or outcome.error is None:
        return types.CallToolResult(content=list(text), isError=False)
    return types.CallToolResult(
        content=list(text), structuredContent=utf8_safe_value(outcome.error.to_dict()), isError=True
    )


def _listed(tool: Any) -> dict[str, Any]:
    """A tool's MCP definition, UTF-8 safe, with the ``"type": "object"`` MCP requires."""
    definition: dict[str, Any] = utf8_safe_value(tool.to_mcp())
    schema = definition.get("inputSchema")
    if not isinstance(schema, dict):
        definition["inputSchema"] = schema = {}
    schema.setdefault("type", "object")
    return definition


class _Handlers:
    """What both SDK lines call: list the tools, call one through the runtime.

    ``call`` never raises: a tool exception is already an Outcome, and a failure
    of this layer itself becomes an ``isError`` result too (on 2.x an exception
    would turn into a JSON-RPC error the model never sees). A tool whose name had
    to be escaped to be listed (a lone surrogate in it) is called by that listed
    name.
    """

    def __init__(self, runtime: Runtime, relay: Any = None) -> None:
        self.runtime = runtime
        #: ``toolsafe proxy``'s link to its upstream (``_mcp_relay.Relay``), else None.
        self.relay = relay
        self._definitions: dict[str, dict[str, Any]] = {}
        self._aliases: dict[str, str] = {}
        self._refresh()

    def _refresh(self) -> None:
        definitions, aliases = {}, {}
        for tool in self.runtime.tools:
            definition = _listed(tool)
            definitions[definition["name"]] = definition
            if definition["name"] != tool.name:
                aliases[definition["name"]] = tool.name
        self._definitions, self._aliases = definitions, aliases

    def tools(self, session: Any = None) -> list[types.Tool]:
        if self.relay is not None and session is not None:
            self.relay.seen(session)
        self._refresh()
        return [types.Tool.model_validate(d) for d in self._definitions.values()]

    def input_schema(self, name: str) -> dict[str, Any] | None:
        definition = self._definitions.get(name)
        return None if definition is None else dict(definition["inputSchema"])

    async def call(self, name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
        name = self._aliases.get(name, name)
        try:
            return call_tool_result(await self.runtime.acall(name, arguments))
        except Exception as exc:  # a bug below the runtime's promise; still an answer
            error = ToolError.from_exception(exc, tool=str(name))
            return call_tool_result(Outcome.failure(new_call_id(), str(name), error))


def create_server(
    runtime_or_tools: Runtime | Iterable[Any],
    *,
    name: str = "toolsafe",
    instructions: str | None = None,
    relay: Any = None,
    **policy: Any,
) -> Server[Any, Any]:
    """A low-level MCP ``Server`` listing the runtime's tools and calling them through it.

    ``policy``: tool options for the tools passed (``timeout=2``, ``retry=...``), and
    runtime options for the runtime made for them, as in every adapter.

    ``relay`` (``toolsafe proxy``): also forwards the upstream's resources and prompts,
    and passes its ``list_changed`` notifications on.
    """
    handlers = _Handlers(_as_runtime(runtime_or_tools, policy), relay)
    name = utf8_safe(name)[0]
    if instructions is not None:
        instructions = utf8_safe(instructions)[0]
    if SDK_MAJOR >= 2:
        return _create_server_v2(handlers, name, toolsafe.__version__, instructions)

    server: Server[Any, Any] = Server(name, version=toolsafe.__version__, instructions=instructions)

    @server.list_tools()  # type: ignore[no-untyped-call,untyped-decorator]
    async def list_tools() -> list[types.Tool]:
        return handlers.tools(server.request_context.session if relay is not None else None)

    @server.call_tool(validate_input=False)  # type: ignore[untyped-decorator]
    async def call_tool(tool_name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
        return await handlers.call(tool_name, arguments)

    if relay is not None:
        relay.install_v1(server)
        relay.advertise(server)
    return server


def _create_server_v2(
    handlers: _Handlers, name: str, version: str, instructions: str | None
) -> Server[Any, Any]:
    """2.x: handlers go to the constructor and receive ``(ctx, params)``.

    The 2.x server does not validate arguments itself (nothing to turn off);
    ``get_tool_input_schema`` spares it a ``tools/list`` per call when it checks
    ``Mcp-Param-*`` headers on the 2026-07-28 HTTP transport.
    """

    async def on_list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=handlers.tools(ctx.session))

    async def on_call_tool(ctx: Any, params: Any) -> Any:
        return await handlers.call(params.name, params.arguments)

    server_class: Any = Server  # typed against the 1.x SDK that mypy sees
    server: Server[Any, Any] = server_class(
        name,
        version=version,
        instructions=instructions,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        get_tool_input_schema=handlers.input_schema,
        **(handlers.relay.handlers_v2() if handlers.relay is not None else {}),
    )
    if handlers.relay is not None:
        handlers.relay.advertise(server)
    return server


# --------------------------------------------------------------------------- stdio


async def serve_stdio(
    runtime_or_tools: Runtime | Iterable[Any],
    *,
    name: str = "toolsafe",
    protect_stdout: bool = True,
    relay: Any = None,
    **policy: Any,
) -> None:
    """Serve over stdin/stdout until the client closes stdin (``policy``: as ``create_server``).

    ``protect_stdout`` (the default) keeps fds 0 and 1 for the protocol alone: a
    tool that prints, or a C library writing to fd 1, goes to stderr instead of
    corrupting the JSON-RPC stream, and a tool reading stdin reads nothing.
    """
    from mcp.server.stdio import stdio_server

    server = create_server(runtime_or_tools, name=name, relay=relay, **policy)
    with contextlib.ExitStack() as stack:
        if protect_stdout:
            reader, writer = stack.enter_context(protocol_stdio())
        else:
            reader = TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
            writer = TextIOWrapper(sys.stdout.buffer, encoding="utf-8")
        stdout: Any = SerialWriter(writer)
        stdin: Any = StdioLines(anyio.wrap_file(reader), stdout)
        async with stdio_server(stdin=stdin, stdout=stdout) as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


# --------------------------------------------------------------------------- streamable HTTP


def http_app(
    runtime_or_tools: Runtime | Iterable[Any],
    *,
    name: str = "toolsafe",
    path: str = "/mcp",
    host: str = "127.0.0.1",
    stateless: bool = False,
    json_response: bool = False,
    relay: Any = None,
    **policy: Any,
) -> Any:
    """A Starlette ASGI app serving the tools over streamable HTTP at ``path``
    (``policy``: as ``create_server``).

    ``host`` is where it will be bound: a loopback host turns on DNS-rebinding
    protection (requests whose ``Host`` or ``Origin`` names another site get 421/403).
    """
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.applications import Starlette
    from starlette.routing import Route

    manager = StreamableHTTPSessionManager(
        app=create_server(runtime_or_tools, name=name, relay=relay, **policy),
        json_response=json_response,
        stateless=stateless,
        security_settings=security_settings(host),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        async with manager.run():
            yield

    return Starlette(
        routes=[Route(path, endpoint=_ASGIEndpoint(manager.handle_request))], lifespan=lifespan
    )


class _ASGIEndpoint:
    """Starlette treats a non-function endpoint as a raw ASGI app (what the manager needs)."""

    def __init__(self, handler: Callable[[Any, Any, Any], Any]) -> None:
        self._handler = handler

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._handler(scope, receive, send)


class RemoteBindRefused(ValueError):
    """Binding a non-loopback address without ``allow_remote=True``."""


async def serve_http(
    runtime_or_tools: Runtime | Iterable[Any],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    name: str = "toolsafe",
    path: str = "/mcp",
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
    allow_remote: bool = False,
    limits: HTTPLimits | None = None,
    relay: Any = None,
    **policy: Any,
) -> None:
    """Serve over streamable HTTP until interrupted. ``port=0`` picks a free port.
    ``policy``: as ``create_server``.

    The server has no authentication: a host other than a loopback one is refused
    (``RemoteBindRefused``) unless ``allow_remote=True``. ``limits`` bounds how long
    a client may take to send a request and how many may be connected (see
    ``HTTPLimits``). ``on_ready`` receives the endpoint URL once the socket listens
    (connections made from then on queue until the server accepts them).
    """
    if not allow_remote and not is_loopback(host):
        raise RemoteBindRefused(
            f"{host} is not a loopback address and the MCP server has no authentication: "
            "anyone who can reach it can call every tool; pass allow_remote=True "
            "(toolsafe serve --allow-remote) to bind it anyway"
        )
    sock = listen_socket(host, port)
    try:
        bound_port = sock.getsockname()[1]
        app = http_app(runtime_or_tools, name=name, path=path, host=host, relay=relay, **policy)
        shown_host = f"[{host.strip('[]')}]" if ":" in host else host
        if on_ready is not None:
            on_ready(f"http://{shown_host}:{bound_port}{path}")
    except BaseException:
        sock.close()
        raise
    await serve_guarded(app, sock, limits=limits or HTTPLimits(), log_level=log_level)


from toolsafe.integrations.mcp_client import from_mcp as from_mcp  # noqa: E402  (client side: mcp_client.py)
