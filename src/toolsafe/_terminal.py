"""Text taken from files, recordings and tools, made safe to show on a terminal.

A recording or a tool's source is input, not trusted output: a tool name with an
ANSI escape can move the cursor, recolour or hide lines, set the window title or
(on some terminals) write files; a bidi override can make text read differently
than it is. ``printable`` shows every such character as a visible escape
(``\\x1b``, ``\\u202e``) and leaves ordinary text, including non-ASCII letters and
emoji, as it is. It does not escape rich markup: callers pass the result to
``rich.text.Text`` (never parsed as markup) or through ``rich.markup.escape``.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["printable", "printable_json"]

# C0 controls (tab and newline handled apart), DEL and C1 controls, zero-width marks,
# bidi embeddings/overrides/isolates, line/paragraph separators, the BOM. Any other
# invisible format character (category Cf) is caught by the check in ``printable``.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_C1 = re.compile("[\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control and bidi character shown as an escape.

    Newlines become ``\\n`` (one record per line stays one line) unless ``keep_newlines``.
    """
    out = _UNSAFE.sub(_escape, text)
    if not keep_newlines:
        out = out.replace("\n", "\\n")
    if out.isascii():
        return out
    # Other invisible format characters (category Cf) a regex range would miss.
    return "".join(
        f"\\u{ord(c):04x}" if ord(c) > 0x7F and unicodedata.category(c) == "Cf" else c for c in out
    )


def printable_json(text: str) -> str:
    """JSON text (``ensure_ascii=False``) with C1 controls written as ``\\u00XX``.

    ``json.dumps`` escapes C0 controls itself; C1 controls (``\\x9b`` is a CSI on some
    terminals) it leaves raw. They can only occur inside strings, where the escape
    means the same character, so the JSON stays equal.
    """
    return _C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
