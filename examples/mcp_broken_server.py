"""A small MCP server (stdio) that breaks in every way ``toolsafe doctor --mcp`` looks for.

    toolsafe doctor --mcp -- python examples/mcp_broken_server.py

No SDK: plain JSON-RPC lines on stdin and stdout, each request handled in its own
asyncio task (as real servers do), so concurrent calls overlap. One tool per failure:

- ``lookup``: keeps the key on a module global while it "queries" (results mix up);
- ``query``: one shared connection that refuses a second query at once (fails only
  under concurrency);
- ``search``: every fourth call never returns (a stalled upstream, no timeout);
- ``export_rows``: 200,000 characters in one result;
- ``balance``: returns "Error: ..." as a normal result;
- ``delete_record``: destructive, so the doctor does not call it unless asked;
- ``fetch_page``: every fourth call blocks the event loop (a sync HTTP call in an
  async server), so the whole server stops answering until it is restarted;
- ``get status``: a name no model API accepts, no description, ``required`` naming a
  property it does not declare, an unbounded array, an open argument object.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

READ_ONLY = {"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True}


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


TOOLS: list[dict[str, Any]] = [
    {
        "name": "lookup",
        "description": "Look up the value stored under a key.",
        "inputSchema": _schema(
            {"key": {"type": "string", "maxLength": 40, "description": "The key."}}, ["key"]
        ),
        "annotations": READ_ONLY,
    },
    {
        "name": "query",
        "description": "Run a read-only query on the orders database.",
        "inputSchema": _schema(
            {"sql": {"type": "string", "maxLength": 200, "description": "A SELECT statement."}},
            ["sql"],
        ),
        "annotations": READ_ONLY,
    },
    {
        "name": "search",
        "description": "Search the catalogue.",
        "inputSchema": _schema(
            {"q": {"type": "string", "maxLength": 100, "description": "Search words."}}, ["q"]
        ),
        "annotations": READ_ONLY,
    },
    {
        "name": "export_rows",
        "description": "Export order rows.",
        "inputSchema": _schema(
            {"table": {"type": "string", "enum": ["orders", "refunds"], "description": "Table."}},
            ["table"],
        ),
        "annotations": READ_ONLY,
    },
    {
        "name": "balance",
        "description": "The balance of an account.",
        "inputSchema": _schema(
            {"account": {"type": "string", "maxLength": 20, "description": "Account id."}},
            ["account"],
        ),
        "annotations": READ_ONLY,
    },
    {
        "name": "delete_record",
        "description": "Delete a record for good.",
        "inputSchema": _schema(
            {"id": {"type": "integer", "minimum": 1, "description": "Record id."}}, ["id"]
        ),
        "annotations": {"readOnlyHint": False, "destructiveHint": True},
    },
    {
        "name": "get status",
        "inputSchema": {
            "type": "object",
            "properties": {
                "services": {"type": "array", "items": {"type": "string", "enum": ["db", "api"]}},
                "detail": {"type": "boolean", "default": False},
            },
            "required": ["verbose"],
        },
        "annotations": READ_ONLY,
    },
    {
        "name": "fetch_page",
        "description": "Fetch a page of the catalogue.",
        "inputSchema": _schema(
            {"page": {"type": "integer", "minimum": 1, "maximum": 50, "description": "Page."}},
            ["page"],
        ),
        "annotations": READ_ONLY,
    },
]

_current = {"key": ""}  # shared by every call: the bug in `lookup`
_connection = {"busy": False}  # one connection for every call: the bug in `query`
_searches = {"count": 0}
_fetches = {"count": 0}
_deleted: set[int] = set()


class ToolError(Exception):
    """Answered as an ``isError`` result."""


async def lookup(args: dict[str, Any]) -> str:
    _current["key"] = args["key"]
    await asyncio.sleep(0.02)  # the "database" round trip; another call overwrites the key
    return f"value of {_current['key']!r}: {len(_current['key']) * 7}"


async def query(args: dict[str, Any]) -> str:
    if _connection["busy"]:
        raise ToolError("connection busy: another query is in progress on this connection")
    _connection["busy"] = True
    try:
        await asyncio.sleep(0.02)
        return f"3 rows for {args['sql'][:40]!r}"
    finally:
        _connection["busy"] = False


async def search(args: dict[str, Any]) -> str:
    _searches["count"] += 1
    if _searches["count"] % 4 == 0:
        await asyncio.sleep(3600)  # the upstream stalls and nothing times out
    return f"results for {args['q']!r}: none"


async def export_rows(args: dict[str, Any]) -> str:
    return json.dumps([{"id": i, "table": args["table"], "note": "x" * 30} for i in range(3500)])


async def balance(args: dict[str, Any]) -> str:
    return "Error: account service unavailable, try again later"


async def delete_record(args: dict[str, Any]) -> str:
    _deleted.add(args["id"])
    return f"deleted {args['id']}"


async def get_status(args: dict[str, Any]) -> str:
    return "ok"


async def fetch_page(args: dict[str, Any]) -> str:
    _fetches["count"] += 1
    if _fetches["count"] % 4 == 0:
        time.sleep(3600)  # noqa: ASYNC251 - the bug: blocking I/O stalls the whole server
    return f"page {args['page']}: 20 items"


HANDLERS: dict[str, Callable[[dict[str, Any]], Awaitable[str]]] = {
    "lookup": lookup,
    "query": query,
    "search": search,
    "export_rows": export_rows,
    "balance": balance,
    "delete_record": delete_record,
    "get status": get_status,
    "fetch_page": fetch_page,
}


def send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


async def handle(request: dict[str, Any]) -> None:
    method, rid, params = request.get("method"), request.get("id"), request.get("params") or {}
    if rid is None:
        return  # a notification (initialized, cancelled): nothing to answer
    if method == "initialize":
        result: dict[str, Any] = {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "broken-example", "version": "0.1"},
        }
    elif method == "ping":
        result = {}
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        handler = HANDLERS.get(params.get("name", ""))
        if handler is None:
            send({"id": rid, "error": {"code": -32602, "message": "unknown tool"}})
            return
        try:
            text, failed = await handler(params.get("arguments") or {}), False
        except (ToolError, KeyError) as exc:
            text, failed = str(exc), True
        result = {"content": [{"type": "text", "text": text}], "isError": failed}
    else:
        send({"id": rid, "error": {"code": -32601, "message": f"unknown method {method}"}})
        return
    send({"id": rid, "result": result})


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task[None]] = set()
    while line := await reader.readline():
        if line.strip():
            task = asyncio.ensure_future(handle(json.loads(line)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)


if __name__ == "__main__":
    asyncio.run(main())
