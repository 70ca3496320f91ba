"""Fixed: the report is built in a local list, so concurrent calls cannot mix.

    toolsafe doctor examples/fixed/global_buffer.py
"""

from __future__ import annotations

import time


def _fetch_rows(title: str, rows: int) -> list[str]:
    time.sleep(0.002)  # a database round trip
    return [f"{n}. {title} item {n}" for n in range(1, min(rows, 20) + 1)]


def render_report(title: str, rows: int) -> str:
    """Render a plain-text report: a title line and up to 20 numbered rows."""
    lines = [f"# {title}"]
    lines.extend(_fetch_rows(title, rows))
    return "\n".join(lines)
