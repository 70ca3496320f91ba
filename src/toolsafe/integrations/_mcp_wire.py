"""What crosses the MCP wire: valid UTF-8 out, lines the SDK can parse in, stdio fds kept apart.

Out: the SDK serializes with pydantic, which raises on a lone surrogate (what
``os.fsdecode`` makes of a non-UTF-8 file name); over stdio that error ends the
server, over HTTP the reply is lost. Everything the server lists or returns goes
through :func:`utf8_safe_value` first: each lone surrogate becomes its escape
text ``\\udcff`` (``toolsafe._text.utf8_safe``), so the information stays and
the reply is valid UTF-8.

In: the SDK parses each stdin line with pydantic, and a message it cannot parse
is never answered (1.x sends an id-less "Internal Server Error" notification, 2.x
nothing): the client waits forever. Two kinds of valid JSON do that, and
:class:`StdioLines` handles both before the SDK sees them:

- ``"\\ud800"`` (an escaped lone surrogate): the line is re-encoded with the
  surrogates as escape text, as above, and served;
- an integer of more than 4,300 digits (pydantic: "number out of range"): a
  ``tools/call`` gets the structured ``InvalidArguments`` result naming the field,
  any other request a JSON-RPC "invalid params" error.

Bytes that are not UTF-8 are replaced (U+FFFD) instead of ending the reader.

stdio: the protocol gets its own duplicates of fds 0 and 1; fd 0 reads
``/dev/null`` and fd 1 writes to stderr while serving, so a tool that reads stdin
or prints cannot steal or corrupt protocol bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from io import TextIOWrapper
from typing import Any

import anyio
import mcp.types as types

from toolsafe import ToolError
from toolsafe.integrations.support import utf8_safe

__all__ = ["SerialWriter", "StdioLines", "protocol_stdio", "repair_line", "utf8_safe_value"]

#: Values nested deeper than this are not walked (what the server sends is shallow:
#: tool definitions and error dicts; a deeper one is cut with a marker).
MAX_DEPTH = 64

#: A JSON escape of a UTF-16 surrogate (paired or lone): the only way JSON text
#: written in valid UTF-8 can carry a lone surrogate.
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def utf8_safe_value(value: Any, max_depth: int = MAX_DEPTH, _depth: int = 0) -> Any:
    """A JSON-like value with every string (keys too) valid UTF-8; ``value`` itself if it was."""
    if isinstance(value, str):
        return utf8_safe(value)[0]
    if isinstance(value, (dict, list, tuple)) and _depth >= max_depth:
        return "… (nested deeper)"
    if isinstance(value, dict):
        out = {}
        changed = False
        for key, item in value.items():
            name = utf8_safe(key)[0] if isinstance(key, str) else key
            new = utf8_safe_value(item, max_depth, _depth + 1)
            changed = changed or name is not key or new is not item
            out[name] = new
        return out if changed else value
    if isinstance(value, (list, tuple)):
        seq = [utf8_safe_value(item, max_depth, _depth + 1) for item in value]
        if isinstance(value, list) and all(a is b for a, b in zip(seq, value, strict=True)):
            return value
        return seq
    return value


#: pydantic's JSON parser (and Python's int()) refuse integers longer than this.
MAX_INT_DIGITS = 4300
_LONG_NUMBER = re.compile(rf"\d{{{MAX_INT_DIGITS + 1}}}")


class _LongInt:
    """Stands for an integer literal too long to convert (its digit count is kept)."""

    def __init__(self, digits: str) -> None:
        self.digits = len(digits.lstrip("-"))


def _parse_int(text: str) -> Any:
    return int(text) if len(text) <= MAX_INT_DIGITS else _LongInt(text)


def _long_int_path(value: Any) -> tuple[tuple[str, ...], int] | None:
    """Where the first too-long integer is in ``value``, and its digit count."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, where = stack.pop()
        if isinstance(item, _LongInt):
            return where, item.digits
        if isinstance(item, dict):
            stack.extend((v, (*where, str(k))) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((v, (*where, str(i))) for i, v in reversed(list(enumerate(item))))
    return None


def repair_line(line: str) -> tuple[str | None, dict[str, Any] | None]:
    """(the line to give the SDK, or None; the reply to send instead, or None).

    Lines with neither a surrogate escape nor a 4,301-digit run (all but hostile
    ones) are returned as they are, after two regular-expression searches. A line
    that does not parse is left for the SDK to reject as it would.
    """
    long_number = _LONG_NUMBER.search(line) is not None
    if not long_number and ("\\u" not in line or not _ESCAPED_SURROGATE.search(line)):
        return line, None
    try:
        value = json.loads(line, parse_int=_parse_int)
        safe = utf8_safe_value(value, max_depth=sys.getrecursionlimit())
    except (ValueError, RecursionError):
        return line, None
    if long_number:
        found = _long_int_path(safe)
        if found is not None:
            return None, _long_int_reply(safe, *found)
    if safe is value:
        return line, None  # only well-paired surrogates (an emoji, escaped)
    return json.dumps(safe, ensure_ascii=False) + "\n", None


def _long_int_reply(message: Any, path: tuple[str, ...], digits: int) -> dict[str, Any] | None:
    """The answer to a request holding a too-long integer (None for a notification)."""
    if not isinstance(message, dict) or "method" not in message or "id" not in message:
        return None
    request_id = message["id"] if isinstance(message["id"], (str, int)) else None
    params = message.get("params")
    received = f"an integer of {digits:,} digits"
    if (
        message.get("method") == "tools/call"
        and isinstance(params, dict)
        and path[:2] == ("params", "arguments")
        and isinstance(params.get("name"), str)
    ):
        tool = params["name"]
        field = ".".join(path[2:]) or "(arguments)"
        error = ToolError(
            type="InvalidArguments",
            message=f"Invalid arguments for tool {tool!r} (1 problem): {field}: {received}, "
            f"longer than the {MAX_INT_DIGITS:,} digits a JSON integer may have here",
            retryable=False,
            tool=tool,
            details=[
                {
                    "field": field,
                    "expected": f"an integer of at most {MAX_INT_DIGITS:,} digits",
                    "received": received,
                }
            ],
            hint=f"Call {tool!r} again with {field} as a shorter number (or as a string).",
        )
        # Built by the SDK's own model: each SDK line adds what its protocol needs
        # (2.x: "resultType").
        result = types.CallToolResult(
            content=[types.TextContent(type="text", text=error.to_text())],
            structuredContent=error.to_dict(),
            isError=True,
        ).model_dump(by_alias=True, mode="json", exclude_none=True)
        return {"jsonrpc": "2.0", "id": request_id, "result": result}
    where = ".".join(path) or "(message)"
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {
            "code": -32602,
            "message": f"{where}: {received}; at most {MAX_INT_DIGITS:,} are accepted",
        },
    }


class SerialWriter:
    """The protocol's stdout for the SDK and for :class:`StdioLines`' own replies.

    Each message is written and flushed under one lock, so a reply sent from the
    reader never interleaves with one the SDK is writing. (The SDK calls
    ``write`` then ``flush``; here ``write`` does both.)
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    async def write(self, text: str) -> None:
        await anyio.to_thread.run_sync(self._write, text)

    async def flush(self) -> None:
        return None

    def _write(self, text: str) -> None:
        with self._lock:
            self._stream.write(text)
            self._stream.flush()


class StdioLines:
    """stdin lines for the SDK's stdio server, each through :func:`repair_line`.

    The SDK only iterates its stdin (``async for line in stdin``). A line answered
    here never reaches the SDK.
    """

    def __init__(self, lines: Any, writer: SerialWriter) -> None:
        self._lines = lines
        self._writer = writer

    def __aiter__(self) -> AsyncIterator[str]:
        return self._repaired()

    async def _repaired(self) -> AsyncIterator[str]:
        async for line in self._lines:
            repaired, reply = repair_line(line)
            if repaired is not None:
                yield repaired
            elif reply is not None:
                await self._writer.write(json.dumps(reply, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def protocol_stdio() -> Iterator[tuple[TextIOWrapper, TextIOWrapper]]:
    """(stdin, stdout) text streams for the protocol alone, on duplicates of fds 0 and 1.

    While serving, fd 0 and ``sys.stdin`` read ``/dev/null``, fd 1 and ``sys.stdout``
    write to stderr; all four are restored on exit.
    """
    sys.stdout.flush()
    protocol_in, protocol_out = os.dup(0), os.dup(1)
    saved_in, saved_out = os.dup(0), os.dup(1)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.close(null_fd)
    os.dup2(2, 1)
    saved_stdin, saved_stdout = sys.stdin, sys.stdout
    sys.stdin = open(os.devnull)  # noqa: SIM115 - closed below
    sys.stdout = sys.stderr
    reader = TextIOWrapper(os.fdopen(protocol_in, "rb"), encoding="utf-8", errors="replace")
    writer = TextIOWrapper(os.fdopen(protocol_out, "wb"), encoding="utf-8")
    try:
        yield reader, writer
    finally:
        sys.stdin.close()
        sys.stdin, sys.stdout = saved_stdin, saved_stdout
        for stream in (reader, writer):
            with contextlib.suppress(Exception):
                stream.close()
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)
