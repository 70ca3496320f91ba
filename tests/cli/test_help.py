"""The rendered ``--help`` of every command: conventional, and the same on every typer we test.

The snapshots are exact at 80 columns; the invariants below hold for every command.
They pin the typer range in pyproject.toml (0.29.x): a typer upgrade that changes how
help reads fails here first.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from toolsafe._cli.help import version
from toolsafe.cli import COMMAND_MODULES, EXIT_OK, EXIT_USAGE, build_app, main

COMMANDS = ["schema", "lint", "stress", "doctor", "replay", "trace", "serve", "proxy"]


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main([*argv, "--help"]) == EXIT_OK
    return capsys.readouterr().out


@pytest.fixture(autouse=True)
def _eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")


def test_every_registered_command_is_covered() -> None:
    app = build_app()
    assert [c.name for c in app.registered_commands] == COMMANDS
    # schema, doctor (lint, stress, doctor), replay (+trace), serve, proxy
    assert len(COMMAND_MODULES) == 5


def test_root_help(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys)
    assert text.startswith("Usage: toolsafe [OPTIONS] COMMAND [ARGS]...\n")
    commands = re.findall(r"^  (\w+)  ", text.split("Commands:")[1], flags=re.M)
    assert commands == COMMANDS
    assert "  --version   Show the toolsafe version and exit.\n" in text
    assert "  -h, --help  Show this message and exit.\n" in text
    assert "Exit codes: 0 clean, 1 problems found" in text
    assert main([]) == EXIT_USAGE  # no command: the same help, on stderr, as a usage error
    assert capsys.readouterr().err.strip() == text.strip()


DOCTOR_HELP = """\
Usage: toolsafe doctor [OPTIONS] TARGET | -- COMMAND [ARGS]...

  Lint, stress and a verdict per tool: what breaks at scale, the evidence, the
  fix.

Arguments:
  TARGET | -- COMMAND [ARGS]  A file, folder or importable module; with --mcp,
                              the MCP server's command (after --, options
                              before it).

Options:
  --calls N              Calls per concurrent phase.  [default: 32]
  -c, --concurrency N    Calls in flight at once.  [default: 8]
  --distinct N           Distinct argument sets per tool.  [default: 8]
  --timeout SECONDS      Seconds before a call counts as hung.  [default: 5.0]
  --max-seconds SECONDS  Time budget per tool, in seconds.  [default: 30.0]
  --max-output-chars N   Output budget: larger results are flagged.  [default:
                         50000]
  --seed N               Seed for generated arguments.  [default: 0]
  --mode MODE            threads or asyncio; give it twice for both (default:
                         both).  [repeatable]
  --calls-file FILE      JSONL of recorded calls ({'tool': ..., 'arguments':
                         {...}}).
  --no-stress            Static checks only.
  --mcp                  Examine an MCP server: launch COMMAND (stdio), lint
                         and stress.
  --mcp-url URL          Examine the streamable-HTTP MCP server at URL.
  --tool NAME            MCP: examine and call only this tool, whatever its
                         annotations.  [repeatable]
  --all-tools            MCP: call every tool (default: only those annotated
                         readOnlyHint).
  --json                 Print JSON instead of the terminal report.
  --html FILE            Also write an HTML report (with plots) to this file.
  --version              Show the toolsafe version and exit.
  -h, --help             Show this message and exit.
"""

REPLAY_HELP = """\
Usage: toolsafe replay [OPTIONS] RECORDING TARGET

  Re-run recorded calls against the current code and show what changed.

Arguments:
  RECORDING  A JSONL recording (toolsafe.JsonlRecorder).
  TARGET     A file, folder or module with the current tools.

Options:
  --call-id ID                  Replay only this call.  [repeatable]
  --failures                    Replay only recorded failures.
  -c, --concurrency N|recorded  Calls in flight at once: a number, or
                                'recorded' for the recording's peak.
                                [default: 1]
  --json                        Print results as JSON.
  --version                     Show the toolsafe version and exit.
  -h, --help                    Show this message and exit.
"""


PROXY_HELP = """\
Usage: toolsafe proxy [OPTIONS] [-- COMMAND [ARGS]...]

  Serve an MCP server's tools with every call through the toolsafe runtime.

Arguments:
  -- COMMAND [ARGS]  The upstream MCP server to launch (stdio), after --.

Options:
  --url URL                   Connect to a streamable-HTTP MCP server instead
                              of launching one.
  --timeout SECONDS           Per-attempt timeout of every call.
  --deadline SECONDS          Total time of a call, retries included.
  --max-output-chars N        Trim results to N characters (JSON stays valid).
  --concurrency N             Calls of one tool in flight at once.
  --rate RATE                 Calls per tool, e.g. 20/s or 100/min.
  --retry N                   Attempts for retryable errors; a call that
                              started is repeated only on tools annotated
                              readOnlyHint or idempotentHint.
  --record FILE               Append one JSON line per call (redacted).
  --config FILE               TOML: defaults at the top, [tools.NAME] per tool
                              (flags override defaults).
  --breaker N                 After N transient failures in a row (default 5;
                              0: off), every call fails fast with CircuitOpen
                              until a probe succeeds.
  --breaker-cooldown SECONDS  How long the circuit stays open before a probe
                              (default 10).
  --hang-after SECONDS        After a call times out, a ping unanswered this
                              long means the upstream hung: it is killed and
                              relaunched.  [default: 5.0]
  --name NAME                 Server name shown to clients.  [default:
                              toolsafe-proxy]
  --http                      Serve over streamable HTTP (127.0.0.1) instead
                              of stdio.
  --port PORT                 HTTP port (0: any free port).  [default: 8000]
  --version                   Show the toolsafe version and exit.
  -h, --help                  Show this message and exit.
"""


def test_proxy_help_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    assert _help(capsys, "proxy") == PROXY_HELP


def test_doctor_and_replay_help_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    assert _help(capsys, "doctor") == DOCTOR_HELP
    assert _help(capsys, "replay") == REPLAY_HELP


USAGE = {
    "schema": "TARGET",
    "lint": "TARGET",
    "stress": "TARGET",
    "doctor": "TARGET | -- COMMAND [ARGS]...",
    "replay": "RECORDING TARGET",
    "trace": "RECORDING",
    "serve": "TARGET",
    "proxy": "[-- COMMAND [ARGS]...]",
}
FLAGS = {  # options that take no value
    "lint": ["--json"],
    "stress": ["--json"],
    "doctor": ["--no-stress", "--mcp", "--all-tools", "--json"],
    "replay": ["--failures", "--json"],
    "trace": ["--json"],
    "serve": ["--http", "--allow-remote"],
    "proxy": ["--http"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_reads_conventionally(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(capsys, command)
    assert text.splitlines()[0] == f"Usage: toolsafe {command} [OPTIONS] {USAGE[command]}"
    # No typer type annotations, no braces around arguments, no rich boxes.
    assert not re.search(r"<(bool|int|float|str|path|list\[str\])>|\{target\}|[╭│╰]", text)
    options = text.split("Options:\n")[1]
    rows = re.findall(r"^  (-[\w-]+(?:, -[\w-]+)?)(?: (\S+))?  ", options, flags=re.M)
    assert rows, text
    for names, metavar in rows:
        flag = names.split(", ")[-1]
        if flag in ("--help", "--version") or flag in FLAGS.get(command, []):
            assert metavar == "", f"{flag} is a flag but shows a value {metavar!r}"
        else:
            head = metavar.split("|")[0]
            assert head and head.isupper(), f"{flag} takes a value but shows {metavar!r}"
    assert "  --version" in options and "  -h, --help" in options
    assert main([command, "-h"]) == EXIT_OK
    assert capsys.readouterr().out == text


def test_repeatable_options_say_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--mode MODE" in _help(capsys, "stress")
    stress = _help(capsys, "stress")
    mode = stress[stress.index("--mode MODE") :].split("--calls-file")[0]
    assert "[repeatable]" in mode
    assert "--call-id ID                  Replay only this call.  [repeatable]" in _help(
        capsys, "replay"
    )


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_every_command_answers_version(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [command, "--version"] if command else ["--version"]
    assert main(argv) == EXIT_OK
    assert capsys.readouterr().out == f"toolsafe {version()}\n"
    assert version()[0].isdigit()


def test_usage_errors_name_the_argument_as_help_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["doctor"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Usage: toolsafe doctor [OPTIONS] TARGET | -- COMMAND [ARGS]..." in err
    assert "Missing argument 'TARGET | -- COMMAND [ARGS]'" in err
    assert main(["lint", "x", "--jsn"]) == EXIT_USAGE
    assert "No such option: --jsn" in capsys.readouterr().err


def test_installed_entry_point_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "toolsafe.cli", "doctor", "--help"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "80", "PATH": ""},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == DOCTOR_HELP
