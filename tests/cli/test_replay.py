"""`toolsafe replay` reproduces recorded calls and reports what changed; `toolsafe trace` summarises."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from toolsafe import JsonlRecorder, Runtime
from toolsafe._cli.loading import load_tools
from toolsafe.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, main
from toolsafe.observe.replay import percentile

BUGGY = """
import toolsafe

@toolsafe.tool
def parse_price(text: str) -> float:
    \"\"\"Read a price like "$1,299.00".\"\"\"
    return float(text.strip().lstrip("$"))

@toolsafe.tool
def shout(text: str) -> str:
    return text.upper()
"""

FIXED = BUGGY.replace('lstrip("$"))', 'lstrip("$").replace(",", ""))')
ROUNDED = FIXED.replace("return float(", "return round(float(").replace(
    '.replace(",", ""))', '.replace(",", "")))'
)
BROKEN_SHOUT = FIXED.replace("return text.upper()", 'raise RuntimeError("shout service down")')

CALLS = [
    ("p-ok", "parse_price", {"text": "$5.25"}),
    ("p-bad", "parse_price", {"text": "$1,299.00"}),
    ("s-ok", "shout", {"text": "hi"}),
]


def _write(tmp_path: Path, name: str, source: str) -> str:
    folder = tmp_path / name
    folder.mkdir()
    path = folder / "tools.py"
    path.write_text(textwrap.dedent(source))
    return str(path)


@pytest.fixture
def recording(tmp_path: Path) -> tuple[str, str]:
    """A recording made with the buggy tools, and the buggy tools' file."""
    buggy = _write(tmp_path, "buggy", BUGGY)
    path = tmp_path / "calls.jsonl"
    recorder = JsonlRecorder(path)
    with Runtime(load_tools(buggy), listeners=[recorder]) as rt:
        for call_id, name, args in CALLS:
            rt.call(name, args, call_id=call_id)
    recorder.close()
    return str(path), buggy


def _replay_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[Any]]:
    code = main(["replay", *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out[: out.rindex("]") + 1])


def test_replay_reproduces_the_recorded_failure(
    recording: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, buggy = recording
    code, results = _replay_json(capsys, path, buggy)
    assert code == EXIT_OK
    assert [(r["call_id"], r["status"]) for r in results] == [
        ("p-ok", "same"),
        ("p-bad", "same"),
        ("s-ok", "same"),
    ]
    assert results[1]["detail"] == "same error: ValueError"
    assert results[1]["now"].startswith("ValueError: could not convert string to float")


def test_after_the_fix_replay_reports_the_change(
    recording: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = recording
    fixed = _write(tmp_path, "fixed", FIXED)
    code, results = _replay_json(capsys, path, fixed)
    assert code == EXIT_PROBLEMS
    statuses = {r["call_id"]: (r["status"], r["detail"]) for r in results}
    assert statuses == {
        "p-ok": ("same", "same result"),
        "p-bad": ("different result", "now returns a result (was ValueError)"),
        "s-ok": ("same", "same result"),
    }
    assert results[1]["now"] == "ok: 1299.0"
    # The table form says the same, and the summary counts it.
    assert main(["replay", path, fixed]) == EXIT_PROBLEMS
    out = capsys.readouterr().out
    assert "p-bad" in out and "different result" in out
    assert "3 calls replayed: 2 same, 1 different result, 0 different error" in out


def test_changed_results_and_new_errors_are_told_apart(
    recording: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = recording
    rounded = _write(tmp_path, "rounded", ROUNDED)
    _, results = _replay_json(capsys, path, rounded, "--call-id", "p-ok")
    (only,) = results
    assert only["status"] == "different result"
    assert only["detail"].startswith("result changed (4 -> 1 chars")
    broken = _write(tmp_path, "broken", BROKEN_SHOUT)
    code, results = _replay_json(capsys, path, broken, "--call-id", "s-ok")
    assert code == EXIT_PROBLEMS
    assert results[0]["status"] == "different error"
    assert results[0]["detail"] == "now fails: RuntimeError: shout service down"


def test_failures_only_and_concurrency(
    recording: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, buggy = recording
    code, results = _replay_json(capsys, path, buggy, "--failures")
    assert code == EXIT_OK and [r["call_id"] for r in results] == ["p-bad"]
    for concurrency in ("3", "recorded"):
        code, results = _replay_json(capsys, path, buggy, "--concurrency", concurrency)
        assert code == EXIT_OK
        assert [r["call_id"] for r in results] == ["p-ok", "p-bad", "s-ok"]  # input order


def test_replay_usage_errors(
    recording: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, buggy = recording
    assert main(["replay", str(tmp_path / "none.jsonl"), buggy]) == EXIT_USAGE
    assert "no such recording" in capsys.readouterr().err
    assert main(["replay", path, buggy, "--call-id", "nope"]) == EXIT_USAGE
    assert "no call with id nope" in capsys.readouterr().err
    assert main(["replay", path, buggy, "--concurrency", "0"]) == EXIT_USAGE
    assert main(["replay", path, buggy, "--concurrency", "lots"]) == EXIT_USAGE


def test_trace_summarises_a_recording(
    recording: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = recording
    with open(path, "a") as fh:
        fh.write("{not json\n")
    assert main(["trace", path, "--json"]) == EXIT_OK
    captured = capsys.readouterr()
    assert "1 unreadable line(s) skipped (lines 4)" in captured.err
    summary = json.loads(captured.out)
    assert summary["calls"] == 3 and summary["errors"] == 1 and summary["invalid_lines"] == 1
    assert summary["retryable_share"] == 0.0 and summary["processes"] == 1
    price = summary["tools"]["parse_price"]
    assert price["calls"] == 2 and price["errors"] == 1 and price["error_rate"] == 0.5
    assert summary["error_types"] == [
        {"tool": "parse_price", "type": "ValueError", "retryable": False, "count": 1}
    ]
    recorded = [json.loads(line) for line in Path(path).read_text().splitlines()[:3]]
    elapsed = sorted(r["elapsed_ms"] for r in recorded)
    assert summary["latency_ms"]["max"] == elapsed[-1]
    assert summary["latency_ms"]["p50"] == elapsed[1]
    assert [s["elapsed_ms"] for s in summary["slowest"]] == elapsed[::-1]
    assert main(["trace", path, "--top", "2"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "parse_price" in out and "ValueError" in out and "slowest 2 calls" in out
    assert "3 calls, 1 errors (0.0% of errors retryable), 1 process(es)" in out


def test_percentile_interpolates() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([10.0], 0.99) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.9) == pytest.approx(3.7)


def test_a_file_that_is_not_a_recording_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# not a recording\nsome text\n")
    assert main(["trace", str(notes)]) == 2
    assert "not a toolsafe JSONL recording" in capsys.readouterr().err


# --------------------------------------------------------------------------- hostile recordings


def _line(**fields: Any) -> str:
    record = {
        "kind": "call",
        "call_id": "c1",
        "tool": "shout",
        "arguments": {"text": "hi"},
        "ok": True,
        "result": "HI",
        "elapsed_ms": 1.5,
        "attempts": 1,
        "pid": 7,
    }
    record.update(fields)
    return json.dumps(record) + "\n"


HOSTILE_NAMES = [
    "[/bold]",
    "[link=https://evil.example]click[/link]",
    "\x1b]0;pwned\x07\x1b[2J\x1b[31mred",
    "\x9b31mC1",
    "abc\u202egnp.exe",
]


def test_trace_shows_hostile_names_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hostile.jsonl"
    path.write_text(
        "".join(
            _line(call_id=f"id-{name}", tool=name, ok=i % 2 == 0, error={"type": name})
            for i, name in enumerate(HOSTILE_NAMES)
        )
    )
    assert main(["trace", str(path)]) == EXIT_OK
    out = capsys.readouterr().out
    # Markup is shown, not obeyed or crashed on.
    assert "[/bold]" in out and "[link=https://evil.example]click[/link]" in out
    # No control character from the file reaches the terminal; each shows as an escape.
    assert not any(c in out for c in ("\x1b", "\x9b", "\x07", "\u202e"))
    assert "\\x1b]0;pwned\\x07" in out and "\\x9b31mC1" in out and "\\u202e" in out
    assert main(["trace", str(path), "--json"]) == EXIT_OK
    raw = capsys.readouterr().out
    assert not any(c in raw for c in ("\x1b", "\x9b", "\x07"))
    assert set(json.loads(raw)["tools"]) == set(HOSTILE_NAMES)  # the data is intact


def test_replay_shows_hostile_names_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tools = _write(tmp_path, "tools", FIXED)
    path = tmp_path / "hostile.jsonl"
    path.write_text(_line(call_id="[/bold]\x1b[2J", tool="[/red]\x9b2J", ok=True))
    assert main(["replay", str(path), tools]) == EXIT_PROBLEMS  # unknown tool now: different
    out = capsys.readouterr().out
    assert "[/bold]\\x1b[2J" in out and "[/red]\\x9b2J" in out
    assert "\x1b" not in out and "\x9b" not in out


def test_unreadable_lines_are_skipped_not_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [
        _line(call_id="good"),
        "[" * 100_000 + "]" * 100_000 + "\n",  # nested past the parser's recursion limit
        '{"kind": "call", "call_id": "deep", "tool": "t", "ok": true, "arguments": '
        + "[" * 100_000
        + "]" * 100_000
        + "}\n",
        _line(call_id="big-int", attempts=0).replace('"attempts": 0', '"attempts": ' + "9" * 5000),
        _line(call_id="inf", attempts=1e999),
        _line(call_id="nan", elapsed_ms=float("nan")),
        _line(call_id=["a", "list"]),
        _line(call_id="bad-pid", pid=["x"]),
        _line(call_id="bad-result", result={"not": "text"}),
        "[1, 2]\n",
        _line(call_id="good-2"),
    ]
    path.write_text("".join(lines))
    assert main(["trace", str(path), "--json"]) == EXIT_OK
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["calls"] == 3  # good, bad-pid (pid dropped), good-2
    assert summary["invalid_lines"] == 8
    assert summary["processes"] == 1
    assert "8 unreadable line(s) skipped (lines 2, 3, 4, 5, 6, 7, 9, 10)" in captured.err
