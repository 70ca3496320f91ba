"""An MCP server whose every call goes through toolsafe.

Serve these tools to any MCP client (Claude Desktop, Cursor, an agent SDK):

    toolsafe serve examples/mcp_server.py                   # stdio
    toolsafe serve examples/mcp_server.py --http --port 8765  # http://127.0.0.1:8765/mcp

or run this file directly (stdio). A client config entry looks like::

    {"mcpServers": {"notes": {"command": "toolsafe", "args": ["serve", "/path/to/mcp_server.py"]}}}
"""

from __future__ import annotations

import asyncio
import threading

import toolsafe

_NOTES: dict[str, str] = {}
_LOCK = threading.Lock()


@toolsafe.tool
def save_note(title: str, body: str) -> str:
    """Save a note under a title (overwrites).

    Args:
        title: A short title.
        body: The note's text.
    """
    with _LOCK:
        _NOTES[title] = body
    return f"saved {title!r} ({len(body)} chars)"


@toolsafe.tool
def read_note(title: str) -> str:
    """Read a note by its title."""
    with _LOCK:
        if title not in _NOTES:
            raise toolsafe.ToolFailure(
                f"no note titled {title!r}",
                type="NotFound",
                hint=f"Existing titles: {sorted(_NOTES)}",
            )
        return _NOTES[title]


@toolsafe.tool(timeout=1.0)
async def summarize(title: str, max_words: int = 20) -> str:
    """Summarize a note (pretend: its first words), within one second."""
    await asyncio.sleep(0)
    words = read_note(title).split()
    return " ".join(words[:max_words])


if __name__ == "__main__":
    import anyio

    from toolsafe.integrations.mcp import serve_stdio

    anyio.run(lambda: serve_stdio([save_note, read_note, summarize], name="notes"))
