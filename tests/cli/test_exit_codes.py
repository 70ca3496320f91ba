"""Exit codes are decided in one place, and the commands never import the shell back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import toolsafe
import toolsafe._exit_codes as codes
from toolsafe import cli

CLI_DIR = Path(cli.__file__).parent / "_cli"
COMMANDS = sorted(p for p in CLI_DIR.glob("*.py"))


def test_the_shell_re_exports_the_one_definition() -> None:
    for name in ("EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "EXIT_INTERNAL", "EXIT_INTERRUPTED"):
        assert getattr(cli, name) is getattr(codes, name)
    assert (codes.EXIT_OK, codes.EXIT_PROBLEMS, codes.EXIT_USAGE, codes.EXIT_INTERNAL) == (
        0,
        1,
        2,
        3,
    )
    assert codes.for_findings(problems=False) == codes.EXIT_OK
    assert codes.for_findings(problems=True) == codes.EXIT_PROBLEMS
    assert codes.for_findings(problems=False, unexamined=True) == codes.EXIT_PROBLEMS


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: p.name)
def test_commands_do_not_import_the_shell_nor_write_exit_literals(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module != "toolsafe.cli", f"{path.name}:{node.lineno} imports toolsafe.cli"
            assert not (node.module == "toolsafe" and any(a.name == "cli" for a in node.names))
        if isinstance(node, ast.Import):
            assert all(a.name != "toolsafe.cli" for a in node.names), path.name
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant):
            value = node.value.value
            assert not isinstance(value, int) or isinstance(value, bool), (
                f"{path.name}:{node.lineno} returns the literal {value!r}: use toolsafe._exit_codes"
            )


def test_the_progress_bar_shows_hostile_tool_names_as_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolsafe._cli.doctor import _progress

    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat stderr as a terminal
    with _progress(True) as update:
        assert update is not None
        update("[/bold]\x1b]0;pwned\x07", "serial", 1, 2)  # would raise MarkupError as markup
    err = capsys.readouterr().err
    assert "[/bold]\\x1b]0;pwned\\x07" in err and "pwned\x07" not in err


def test_error_messages_with_text_from_files_cannot_drive_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A usage error can quote the examined code (the tools a file has): escaped."""
    path = tmp_path / "tools.py"
    path.write_text(
        "from crewai.tools import BaseTool\n\n\n"
        "class Evil(BaseTool):\n"
        '    name: str = "evil\\x1b]0;pwned\\x07"\n'
        '    description: str = "x"\n\n'
        "    def _run(self, q: str) -> str:\n"
        "        return q\n"
    )
    pytest.importorskip("crewai")
    assert cli.main(["stress", f"{path}:nope"]) == codes.EXIT_USAGE
    err = capsys.readouterr().err
    assert "its tools are: evil\\x1b]0;pwned\\x07" in err and "\x1b" not in err


def test_python_dash_m_toolsafe_is_the_command(tmp_path: Path) -> None:
    """``python -m toolsafe`` runs the CLI (the exit code is the command's, not Python's)."""
    import os
    import subprocess
    import sys

    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n")
    env = {**os.environ, "PYTHONPATH": str(Path(toolsafe.__file__).parent.parent)}
    version = subprocess.run(
        [sys.executable, "-m", "toolsafe", "--version"], capture_output=True, text=True, env=env
    )
    assert version.returncode == 0 and version.stdout.strip() == f"toolsafe {toolsafe.__version__}"
    lint = subprocess.run(
        [sys.executable, "-m", "toolsafe", "lint", str(empty)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert lint.returncode == codes.EXIT_USAGE and "no tools found" in lint.stdout + lint.stderr
