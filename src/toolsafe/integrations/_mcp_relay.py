"""What ``toolsafe proxy`` adds to the MCP server it serves: the upstream's resources and
prompts forwarded unchanged, and its ``list_changed`` notifications followed.

Tools go through the runtime (validated, timed, trimmed); resources and prompts are
not tool calls, so they are relayed as they are: the request to the upstream, its
SDK result (or its JSON-RPC error, code kept) back to the client. Only what the
upstream declared (its ``resources`` and ``prompts`` capabilities) is served.

When the upstream says its tools changed (or it was relaunched with other tools), the
runtime is brought in line (removed tools unregistered, new or changed ones built
from their ``inputSchema`` and registered, the rest kept with their state) and every
connected client is told ``notifications/tools/list_changed``. Resource and prompt
list changes are passed on to the clients as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import mcp.types as types

from toolsafe import ConfigurationError, Runtime, Tool
from toolsafe.integrations.mcp_client import (
    PROMPTS_CHANGED,
    RESOURCES_CHANGED,
    TOOLS_CHANGED,
    Upstream,
    UpstreamUnavailable,
)

__all__ = ["Relay"]

try:  # 1.x spells it McpError(ErrorData), 2.x MCPError(code, message)
    from mcp.shared.exceptions import McpError as _McpError  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover - SDK 2.x
    from mcp.shared.exceptions import MCPError as _McpError  # type: ignore[attr-defined,no-redef,unused-ignore]

#: JSON-RPC "internal error": what a client gets when the upstream cannot be reached.
INTERNAL_ERROR = -32603

#: Method -> (the 1.x request type, the upstream capability it needs).
FORWARDED: dict[str, tuple[str, str]] = {
    "resources/list": ("ListResourcesRequest", "resources"),
    "resources/templates/list": ("ListResourceTemplatesRequest", "resources"),
    "resources/read": ("ReadResourceRequest", "resources"),
    "prompts/list": ("ListPromptsRequest", "prompts"),
    "prompts/get": ("GetPromptRequest", "prompts"),
}
#: Method -> the 2.x ``Server`` constructor argument of its handler.
V2_HANDLER = {
    "resources/list": "on_list_resources",
    "resources/templates/list": "on_list_resource_templates",
    "resources/read": "on_read_resource",
    "prompts/list": "on_list_prompts",
    "prompts/get": "on_get_prompt",
}


def _mcp_error(code: int, message: str) -> Exception:
    error: Any = _McpError
    if hasattr(error, "from_error_data"):
        return error(code, message)  # type: ignore[no-any-return]
    return error(types.ErrorData(code=code, message=message))  # type: ignore[no-any-return]


class Relay:
    """The proxy's link from its server to the upstream (built by ``toolsafe proxy``).

    ``rebuild(definitions)`` makes the Tools of an upstream tool list with the
    proxy's policies (``Upstream.tools`` with the flags and config).
    """

    def __init__(
        self,
        upstream: Upstream,
        runtime: Runtime,
        rebuild: Callable[[Sequence[Mapping[str, Any]]], list[Tool]],
    ) -> None:
        self.upstream = upstream
        self.runtime = runtime
        self.rebuild = rebuild
        self._sessions: weakref.WeakSet[Any] = weakref.WeakSet()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.Future[Any]] = set()
        upstream.on_list_changed.append(self._upstream_changed)

    # ------------------------------------------------------------------ serving

    @property
    def methods(self) -> list[str]:
        """The forwarded methods the upstream can answer (from its capabilities)."""
        declared = self.upstream.capabilities
        return [m for m, (_, need) in FORWARDED.items() if declared.get(need) is not None]

    def notification_options(self) -> Any:
        from mcp.server.lowlevel.server import NotificationOptions

        declared = self.upstream.capabilities
        return NotificationOptions(
            tools_changed=True,
            resources_changed=bool((declared.get("resources") or {}).get("listChanged")),
            prompts_changed=bool((declared.get("prompts") or {}).get("listChanged")),
        )

    def seen(self, session: Any) -> None:
        """A client session the server answered (told of later changes).

        2.x builds a ``ServerSession`` per request over the connection's ``Connection``,
        which lives as long as the client and sends the same notifications: that is
        kept (weakly, so a client that left is forgotten)."""
        target = getattr(session, "_connection", None) or session
        with contextlib.suppress(TypeError):
            self._sessions.add(target)
        if self._loop is None:
            self._loop = asyncio.get_running_loop()

    async def forward(self, method: str, params: Any) -> Any:
        try:
            return await self.upstream.request(method, params)
        except UpstreamUnavailable as exc:
            raise _mcp_error(INTERNAL_ERROR, str(exc)) from exc

    def install_v1(self, server: Any) -> None:
        """1.x: the forwarded methods as raw request handlers (their results untouched)."""
        for method in self.methods:
            request_type = getattr(types, FORWARDED[method][0])

            async def handler(req: Any, method: str = method) -> Any:
                self.seen(server.request_context.session)
                return types.ServerResult(await self.forward(method, req.params))

            server.request_handlers[request_type] = handler

    def handlers_v2(self) -> dict[str, Any]:
        """2.x: the ``Server`` constructor arguments of the forwarded methods."""
        handlers: dict[str, Any] = {}
        for method in self.methods:

            async def handler(ctx: Any, params: Any, method: str = method) -> Any:
                self.seen(ctx.session)
                return await self.forward(method, params)

            handlers[V2_HANDLER[method]] = handler
        return handlers

    def advertise(self, server: Any) -> None:
        """Initialization says ``listChanged`` (both transports ask the server for it)."""
        original = server.create_initialization_options

        def with_notifications(notification_options: Any = None, *args: Any, **kw: Any) -> Any:
            return original(notification_options or self.notification_options(), *args, **kw)

        server.create_initialization_options = with_notifications

    # ------------------------------------------------------------------ changes

    def _upstream_changed(self, method: str) -> None:
        """On the upstream's thread: hand the change to the server's loop."""
        loop = self._loop
        if loop is None or loop.is_closed():  # no client yet: nobody to tell
            if method == TOOLS_CHANGED:
                self.sync_tools()
            return
        loop.call_soon_threadsafe(self._schedule, method)

    def _schedule(self, method: str) -> None:
        task = asyncio.ensure_future(self._apply(method))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _apply(self, method: str) -> None:
        if method == TOOLS_CHANGED:
            self.sync_tools()
        for session in list(self._sessions):
            send = {
                TOOLS_CHANGED: "send_tool_list_changed",
                RESOURCES_CHANGED: "send_resource_list_changed",
                PROMPTS_CHANGED: "send_prompt_list_changed",
            }[method]
            with contextlib.suppress(Exception):  # a client that left
                await getattr(session, send)()

    def sync_tools(self) -> None:
        """The runtime's tools made to match the upstream's current list."""
        try:
            fresh = {t.name: t for t in self.rebuild(self.upstream.definitions)}
        except ConfigurationError as exc:
            print(f"toolsafe: the upstream's new tool list is unusable: {exc}", file=sys.stderr)
            return
        for tool in self.runtime.tools:
            new = fresh.get(tool.name)
            if new is None or _definition(new) != _definition(tool):
                self.runtime.unregister(tool.name)
        present = {t.name for t in self.runtime.tools}
        for name, tool in fresh.items():
            if name in present:
                continue
            try:
                self.runtime.register(tool)
            except ConfigurationError as exc:
                print(f"toolsafe: upstream tool {name!r} not served: {exc}", file=sys.stderr)


def _definition(tool: Tool) -> Any:
    return getattr(tool, "mcp_definition", None)
