"""``toolsafe proxy`` relays what is not a tool call: the upstream's ``tools/list_changed``
followed (runtime rebuilt, clients told), its resources and prompts passed through
unchanged. Driven by the SDK's client (1.x in ``.venv``, 2.x in ``.venv-mcp2``)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from _mcp_support import npx_server, over_stdio, server_env, text_of, wire
from mcp import StdioServerParameters

pytestmark = pytest.mark.mcp

#: An upstream written on the SDK's low-level server (either line): ``grow`` replaces
#: tool ``first`` by ``second`` and says so with ``notifications/tools/list_changed``.
CHANGING_UPSTREAM = """
import inspect

import anyio
import mcp.types as types
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.stdio import stdio_server

names = ["grow", "first"]
SCHEMA = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}


def listed():
    schema = {"type": "object", "properties": {}}
    return [
        types.Tool.model_validate(
            {"name": n, "description": n, "inputSchema": SCHEMA if n != "grow" else schema}
        )
        for n in names
    ]


async def call(name, arguments, session):
    if name == "grow":
        names[1:] = ["second"]
        await session.send_tool_list_changed()
        text = "grew"
    else:
        text = f"{name} {arguments['x']}"
    return types.CallToolResult.model_validate(
        {"content": [{"type": "text", "text": text}], "isError": False}
    )


if "on_call_tool" in inspect.signature(Server.__init__).parameters:  # SDK 2.x

    async def on_list_tools(ctx, params):
        return types.ListToolsResult(tools=listed())

    async def on_call_tool(ctx, params):
        return await call(params.name, params.arguments or {}, ctx.session)

    server = Server("changing", on_list_tools=on_list_tools, on_call_tool=on_call_tool)
else:
    server = Server("changing")

    @server.list_tools()
    async def list_tools():
        return listed()

    @server.call_tool(validate_input=False)
    async def call_tool(name, arguments):
        return await call(name, arguments or {}, server.request_context.session)


async def main():
    options = server.create_initialization_options(NotificationOptions(tools_changed=True))
    async with stdio_server() as (read, write):
        await server.run(read, write, options)


anyio.run(main)
"""


def _proxy(upstream: list[str], *flags: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "toolsafe.cli", "proxy", *flags, "--", *upstream],
        env=server_env(),
    )


async def test_proxy_follows_the_upstreams_tool_list(tmp_path: Path) -> None:
    script = tmp_path / "changing.py"
    script.write_text(CHANGING_UPSTREAM)
    told = asyncio.Event()

    async def on_message(message: Any) -> None:
        method = getattr(getattr(message, "root", message), "method", None)
        if method == "notifications/tools/list_changed":
            told.set()

    params = _proxy([sys.executable, str(script)], "--timeout", "10")
    async with over_stdio(params, message_handler=on_message) as session:
        first = sorted(wire(t)["name"] for t in (await session.list_tools()).tools)
        assert first == ["first", "grow"]
        assert text_of(await session.call_tool("first", {"x": 1})) == "first 1"
        assert text_of(await session.call_tool("grow", {})) == "grew"
        await asyncio.wait_for(told.wait(), 20)  # the proxy told its client
        listed = {wire(t)["name"]: wire(t) for t in (await session.list_tools()).tools}
        assert sorted(listed) == ["grow", "second"]
        assert listed["second"]["inputSchema"]["required"] == ["x"]
        assert text_of(await session.call_tool("second", {"x": 2})) == "second 2"
        invalid = wire(await session.call_tool("second", {"x": "two"}))  # the new validator
        assert invalid["structuredContent"]["type"] == "InvalidArguments"
        gone = wire(await session.call_tool("first", {"x": 1}))
        assert gone["structuredContent"]["type"] == "UnknownTool"
        capabilities = getattr(session, "get_server_capabilities", None)  # 1.x
        if capabilities is not None:
            assert wire(capabilities())["tools"]["listChanged"] is True


@pytest.mark.mcp_servers
async def test_proxy_passes_resources_and_prompts_of_server_everything(tmp_path: Path) -> None:
    """Listed, read and got through the proxy exactly as the server answers them directly."""
    command = npx_server("@modelcontextprotocol/server-everything")
    if command is None:
        pytest.skip("npx or the npm registry is unavailable")
    direct = StdioServerParameters(command=command[0], args=command[1:], env=server_env())
    seen: dict[str, dict[str, Any]] = {}
    for label, params in (("direct", direct), ("proxied", _proxy(command, "--timeout", "20"))):
        async with over_stdio(params) as session:
            resources = wire(await session.list_resources())
            templates = wire(await session.list_resource_templates())
            uri = resources["resources"][0]["uri"]
            read = wire(await session.read_resource(uri))
            prompts = wire(await session.list_prompts())
            simple = next(p["name"] for p in prompts["prompts"] if not p.get("arguments"))
            got = wire(await session.get_prompt(simple))
            with_args = next(p for p in prompts["prompts"] if p.get("arguments"))
            arguments = {a["name"]: "x" for a in with_args["arguments"] if a.get("required")}
            got_args = wire(await session.get_prompt(with_args["name"], arguments))
            missing = await _error_of(session.read_resource("demo://no/such/resource"))
            seen[label] = {
                "resources": resources,
                "templates": templates,
                "read": read,
                "prompts": prompts,
                "got": got,
                "got_args": got_args,
                "missing": missing,
            }
    direct_seen, proxied = seen["direct"], seen["proxied"]
    assert direct_seen["resources"]["resources"], "server-everything lists resources"
    assert direct_seen["prompts"]["prompts"], "server-everything lists prompts"
    assert direct_seen["missing"].get("code") is not None  # a JSON-RPC error, relayed as it is
    assert proxied == direct_seen


async def _error_of(request: Any) -> Any:
    """The JSON-RPC error a request gets (code and message), or its result."""
    try:
        return wire(await request)
    except Exception as exc:
        error = getattr(exc, "error", None)
        return {"code": getattr(error, "code", None), "message": getattr(error, "message", "")}
