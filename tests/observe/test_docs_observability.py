"""docs/observability.md: its Python examples run, and its JSONL example matches the recorder."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import toolsafe
from toolsafe import JsonlRecorder, Runtime

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "observability.md").read_text()


def test_python_examples_run() -> None:
    code = "\n".join(re.findall(r"```python\n(.*?)```", DOC, re.S))
    assert code.count("import toolsafe") >= 4
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("[trimmed by toolsafe: showing the first ")


def test_documented_call_line_has_the_recorders_keys(tmp_path: Path) -> None:
    (example,) = [b for b in re.findall(r"```json\n(.*?)```", DOC, re.S) if '"kind"' in b]
    documented = json.loads(example)

    @toolsafe.tool
    def divide(a: int, b: int) -> float:
        return a / b

    path = tmp_path / "calls.jsonl"
    with Runtime([divide], listeners=[JsonlRecorder(path)]) as rt:
        rt.call("divide", {"a": 1, "b": 0})
    real = json.loads(path.read_text())
    assert list(documented) == list(real)
    assert list(documented["error"]) == list(real["error"])
    assert documented["error"]["message"] == real["error"]["message"]
