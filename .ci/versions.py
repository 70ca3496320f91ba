"""Write README's table of tested framework versions from what `make test` ran.

Each venv's green pytest run records its versions in .cache/versions/<venv>.json
(tests/conftest.py, with TOOLSAFE_RECORD_VERSIONS=1); this puts them side by side
between the README's `versions` markers. Run by `make test` after the suites.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = {
    "venv-oldest": "oldest supported (.venv-oldest)",
    "venv": "with CrewAI (.venv, the whole suite)",
    "venv-latest": "newest releases (.venv-latest)",
    "venv-mcp2": "MCP SDK 2.x (.venv-mcp2)",
}
START, END = "<!-- versions:start -->", "<!-- versions:end -->"


def table(records: dict[str, dict[str, str]]) -> str:
    venvs = [v for v in COLUMNS if v in records]
    names = sorted({n for v in venvs for n in records[v]})
    lines = [
        "| package | " + " | ".join(COLUMNS[v] for v in venvs) + " |",
        "|---|" + "---|" * len(venvs),
    ]
    for name in names:
        cells = [records[v].get(name, "–") for v in venvs]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    records: dict[str, dict[str, str]] = {}
    for venv in COLUMNS:
        path = ROOT / ".cache" / "versions" / f"{venv}.json"
        if path.exists():
            records[venv] = json.loads(path.read_text())["packages"]
    if not records:
        print("no recorded versions: run make test first", file=sys.stderr)
        return 1
    readme = ROOT / "README.md"
    text = readme.read_text()
    block = f"{START}\n{table(records)}\n{END}"
    new, count = re.subn(re.escape(START) + ".*?" + re.escape(END), block, text, flags=re.S)
    if count != 1:
        print("README.md has no versions markers", file=sys.stderr)
        return 1
    if new != text:
        readme.write_text(new)
        print("README.md: tested versions updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
