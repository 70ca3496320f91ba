"""`toolsafe lint | stress | doctor`: output, JSON, HTML and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from toolsafe.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, main

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "examples" / "broken"
FIXED = ROOT / "examples" / "fixed"
QUICK = ["--calls", "16", "--distinct", "4", "--timeout", "1.5"]


def test_lint_flags_broken_and_passes_fixed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(BROKEN)]) == EXIT_PROBLEMS
    out = capsys.readouterr().out
    for rule in ("TS101", "TS102", "TS103", "TS201", "TS301", "TS303"):
        assert rule in out
    assert "global_buffer.py:24" in out and "why:" in out and "fix:" in out
    assert main(["lint", str(FIXED)]) == EXIT_OK
    assert "clean" in capsys.readouterr().out


def test_lint_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(BROKEN / "schema_mismatch.py"), "--json"]) == EXIT_PROBLEMS
    data = json.loads(capsys.readouterr().out)
    [tool] = data["tools"]
    assert tool["name"] == "translate" and tool["stress"] is None
    assert {f["rule"] for f in tool["findings"]} == {"TS201"}


def test_stress_one_tool_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    target = f"{BROKEN / 'global_buffer.py'}:render_report"
    assert main(["stress", target, *QUICK, "--json"]) == EXIT_PROBLEMS
    data = json.loads(capsys.readouterr().out)
    [tool] = data["tools"]
    assert tool["tool"] == "render_report"
    assert "ST02" in [p["id"] for p in tool["problems"]]
    assert [p["name"] for p in tool["phases"]] == ["serial", "threads"]


def test_stress_with_a_calls_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calls = tmp_path / "calls.jsonl"
    calls.write_text('{"tool": "customer_balance", "arguments": {"customer_id": 2}}\n')
    target = str(FIXED / "swallowed_errors.py")
    assert main(["stress", target, "--calls", "4", "--calls-file", str(calls)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "1 argument sets from calls file" in out


def test_doctor_json_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "report.html"
    target = str(FIXED / "global_buffer.py")
    assert main(["doctor", target, *QUICK, "--json", "--html", str(page)]) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["healthy"] == 1 and data["exit_code"] == 0
    assert "<svg" in page.read_text()


def test_doctor_terminal_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", str(BROKEN / "swallowed_errors.py"), *QUICK]) == EXIT_PROBLEMS
    out = capsys.readouterr().out
    assert "customer_balance  AT RISK" in out
    assert "ST06 error-as-result" in out and "TS303" in out
    assert "problems found (exit 1)" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["doctor", "no/such/folder"],
        ["lint", "no_such_module_xyz"],
        ["stress", f"{FIXED / 'global_buffer.py'}:no_such_tool"],
        ["stress", str(FIXED / "global_buffer.py"), "--mode", "processes"],
        ["stress", str(FIXED / "global_buffer.py"), "--calls", "0"],
        ["doctor", str(FIXED / "global_buffer.py"), "--calls-file", "missing.jsonl"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_USAGE
    assert "error:" in capsys.readouterr().err


def test_an_unknown_tool_name_lists_the_tools_that_exist(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["stress", f"{BROKEN / 'global_buffer.py'}:render"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "no tool named 'render'" in err and "its tools are: render_report" in err
    assert main(["doctor", f"{BROKEN}:nope", "--no-stress"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "its tools are: customer_balance, export_orders, get_price, render_report," in err


def test_missing_framework_keeps_static_checks(tmp_path: Path) -> None:
    """With CrewAI absent, the doctor says so, still lints, and exits on the lint result."""
    copy = tmp_path / "crew_tools.py"
    copy.write_text((BROKEN / "schema_mismatch.py").read_text())
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["crewai"] = None  # as if CrewAI were not installed
        from toolsafe.cli import main
        sys.exit(main(["doctor", {str(copy)!r}, "--calls", "4"]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == EXIT_PROBLEMS, done.stderr
    assert "CrewAI is not installed" in done.stdout
    assert "TS201" in done.stdout
