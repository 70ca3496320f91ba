"""MCP: serve a runtime's tools over the Model Context Protocol (official ``mcp`` SDK).

Built on the SDK's low-level ``Server`` because it takes the tools' own JSON
Schemas as they are (FastMCP derives schemas from Python signatures). Input
validation is left to the runtime (``validate_input=False``), so a bad call gets
the structured error with field-level detail instead of the SDK's one-line
jsonschema message. Every call goes through the runtime; a failure comes back as
``isError: true`` with the structured error line as text and the error dict as
``structuredContent``.

Transports: stdio (``serve_stdio``) and streamable HTTP (``http_app`` / ``serve_http``,
on 127.0.0.1 by default, with the SDK's DNS-rebinding protection for loopback hosts).
``toolsafe serve`` is the command-line front end.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterable
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

from toolsafe._call import Outcome
from toolsafe._runtime import Runtime

__all__ = [
    "LOOPBACK_HOSTS",
    "call_tool_result",
    "create_server",
    "http_app",
    "serve_http",
    "serve_stdio",
]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _as_runtime(runtime_or_tools: Runtime | Iterable[Any]) -> Runtime:
    if isinstance(runtime_or_tools, Runtime):
        return runtime_or_tools
    return Runtime(runtime_or_tools)


def call_tool_result(outcome: Outcome) -> types.CallToolResult:
    """An Outcome as MCP's CallToolResult (errors: ``isError`` and ``structuredContent``)."""
    text = [types.TextContent(type="text", text=outcome.text)]
    if outcome.ok or outcome.error is None:
        return types.CallToolResult(content=list(text), isError=False)
    return types.CallToolResult(
        content=list(text), structuredContent=outcome.error.to_dict(), isError=True
    )


def create_server(
    runtime_or_tools: Runtime | Iterable[Any],
    *,
    name: str = "toolsafe",
    instructions: str | None = None,
) -> Server[Any, Any]:
    """A low-level MCP ``Server`` listing the runtime's tools and calling them through it."""
    import toolsafe

    runtime = _as_runtime(runtime_or_tools)
    server: Server[Any, Any] = Server(name, version=toolsafe.__version__, instructions=instructions)

    @server.list_tools()  # type: ignore[no-untyped-call,untyped-decorator]
    async def list_tools() -> list[types.Tool]:
        return [types.Tool.model_validate(tool.to_mcp()) for tool in runtime.tools]

    @server.call_tool(validate_input=False)  # type: ignore[untyped-decorator]
    async def call_tool(tool_name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
        return call_tool_result(await runtime.acall(tool_name, arguments))

    return server


# --------------------------------------------------------------------------- stdio


@contextlib.contextmanager
def _protocol_stdout() -> Any:
    """Keep fd 1 for the protocol alone: anything else written to stdout goes to stderr.

    A tool that prints (or a C library that writes to fd 1) would otherwise corrupt
    the JSON-RPC stream. The protocol gets a duplicate of the real stdout; fd 1 and
    ``sys.stdout`` point at stderr until the server stops.
    """
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    saved_fd = os.dup(1)
    os.dup2(2, 1)
    saved_stdout = sys.stdout
    sys.stdout = sys.stderr
    stream = TextIOWrapper(os.fdopen(protocol_fd, "wb"), encoding="utf-8")
    try:
        yield stream
    finally:
        sys.stdout = saved_stdout
        with contextlib.suppress(Exception):
            stream.close()
        os.dup2(saved_fd, 1)
        os.close(saved_fd)


async def serve_stdio(
    runtime_or_tools: Runtime | Iterable[Any],
    *,
    name: str = "toolsafe",
    protect_stdout: bool = True,
) -> None:
    """Serve over stdin/stdout until the client closes stdin."""
    from mcp.server.stdio import stdio_server

    server = create_server(runtime_or_tools, name=name)
    with contextlib.ExitStack() as stack:
        stdout = None
        if protect_stdout:
            stdout = anyio.wrap_file(stack.enter_context(_protocol_stdout()))
        async with stdio_server(stdout=stdout) as (read_stream, write_stream):
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
) -> Any:
    """A Starlette ASGI app serving the tools over streamable HTTP at ``path``."""
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.routing import Route

    security = None
    if host in LOOPBACK_HOSTS:
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    manager = StreamableHTTPSessionManager(
        app=create_server(runtime_or_tools, name=name),
        json_response=json_response,
        stateless=stateless,
        security_settings=security,
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


async def serve_http(
    runtime_or_tools: Runtime | Iterable[Any],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    name: str = "toolsafe",
    path: str = "/mcp",
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve over streamable HTTP until interrupted. ``port=0`` picks a free port.

    ``on_ready`` receives the endpoint URL once the socket listens (connections
    made from then on queue until the server accepts them).
    """
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]
    app = http_app(runtime_or_tools, name=name, path=path, host=host)
    config = uvicorn.Config(app, log_level=log_level, lifespan="on")
    server = uvicorn.Server(config)
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host
    if on_ready is not None:
        on_ready(f"http://{shown_host}:{bound_port}{path}")
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
