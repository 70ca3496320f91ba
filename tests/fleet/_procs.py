"""Worker processes of a fleet test: start one (it prints ``ready``), send ``go``, read its
JSON report (its last stdout line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def start(script: Path, cfg: dict[str, Any]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(script), json.dumps(cfg)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == "ready", f"worker said {line!r}"
    return proc


def go(*procs: subprocess.Popen[str]) -> None:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()


def report(proc: subprocess.Popen[str], timeout: float = 30) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result
