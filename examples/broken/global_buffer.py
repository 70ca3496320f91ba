"""Broken: a module-level buffer that every call appends to.

Serially each call starts with an empty buffer and clears it at the end. When
calls overlap (threads in one process: CrewAI crews, LangGraph branches, a
server), their lines interleave and one caller gets another caller's report.

    toolsafe doctor examples/broken/global_buffer.py
"""

from __future__ import annotations

import time

_buffer: list[str] = []


def _fetch_rows(title: str, rows: int) -> list[str]:
    time.sleep(0.002)  # a database round trip: other threads run meanwhile
    return [f"{n}. {title} item {n}" for n in range(1, min(rows, 20) + 1)]


def render_report(title: str, rows: int) -> str:
    """Render a plain-text report: a title line and up to 20 numbered rows."""
    _buffer.append(f"# {title}")
    for line in _fetch_rows(title, rows):
        _buffer.append(line)
    text = "\n".join(_buffer)
    _buffer.clear()
    return text
