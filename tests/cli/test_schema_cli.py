"""`toolsafe schema` and the CLI shell's exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from toolsafe.cli import EXIT_OK, EXIT_USAGE, main

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = str(ROOT / "examples" / "quickstart.py")


@pytest.mark.parametrize(
    ("fmt", "key"),
    [("openai", "function"), ("anthropic", "input_schema"), ("mcp", "inputSchema")],
)
def test_schema_prints_each_format(fmt: str, key: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", QUICKSTART, "--format", fmt]) == EXIT_OK
    schemas = json.loads(capsys.readouterr().out)
    assert [s.get("name") or s["function"]["name"] for s in schemas] == ["add", "slow_lookup"]
    assert all(key in s for s in schemas)


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "no/such/file.py"]) == EXIT_USAGE
    assert "no such file" in capsys.readouterr().err
    assert main(["schema", QUICKSTART, "--format", "yaml"]) == EXIT_USAGE
    assert "unknown format" in capsys.readouterr().err
    assert main(["no-such-command"]) == EXIT_USAGE


def test_console_entry_point_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "toolsafe.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0 and "schema" in out.stdout
