"""Rendering: JSON round-trips, HTML is self-contained with well-formed SVG plots."""

from __future__ import annotations

import io
import json
import re
import textwrap
import xml.etree.ElementTree as ET

import pytest
from rich.console import Console

from toolsafe.doctor import StressOptions, diagnose
from toolsafe.doctor.report import errors_svg, latency_svg, print_report, to_html, to_json
from toolsafe.doctor.stress import CallRecord, PhaseResult

SOURCE = '''
import threading
import time

_lock = threading.Lock()
_busy = False
_items = []


def flaky(name: str) -> str:
    """Fails when another call is in flight; appends to a global."""
    global _busy
    _items.append(name)
    with _lock:
        if _busy:
            raise ConnectionError("busy")
        _busy = True
    time.sleep(0.004)
    with _lock:
        _busy = False
    return name


def fine(name: str) -> str:
    """Pure."""
    return name.upper()
'''


def _report(tmp_path):
    path = tmp_path / "tools.py"
    path.write_text(textwrap.dedent(SOURCE))
    return diagnose(str(path), options=StressOptions(calls=16, distinct=4, timeout=2))


def test_verdicts_json_terminal_and_html(tmp_path) -> None:
    report = _report(tmp_path)
    assert {t.name: t.verdict for t in report.tools} == {"flaky": "broken", "fine": "healthy"}
    assert report.exit_code == 1

    data = json.loads(to_json(report))
    assert data["summary"]["broken"] == 1 and data["exit_code"] == 1
    flaky = next(t for t in data["tools"] if t["name"] == "flaky")
    assert [f["rule"] for f in flaky["findings"]] == ["TS102"]
    assert "ST01" in [p["id"] for p in flaky["stress"]["problems"]]
    assert len(flaky["stress"]["latencies_ms"]["serial"]) == 4

    out = io.StringIO()
    print_report(Console(file=out, width=100), report)
    text = out.getvalue()
    assert "✗ flaky  BROKEN" in text and "✓ fine  HEALTHY" in text
    assert "problems found (exit 1)" in text

    page = to_html(report)
    assert page.startswith("<!doctype html>") and "http" not in page.split("<svg", 1)[0][:200]
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(svgs) >= 3  # two latency plots and flaky's error plot
    for svg in svgs:
        ET.fromstring(svg)  # well-formed


def test_plots_draw_one_mark_per_call_and_one_bar_per_error_type() -> None:
    serial = PhaseResult("serial", 1, [CallRecord(i, True, 1.0 + i, 3, "d") for i in range(4)])
    threads = PhaseResult(
        "threads",
        4,
        [CallRecord(0, False, 50.0, 0, "", "TimeoutError")]
        + [CallRecord(1, False, 5.0, 0, "", "KeyError")] * 2,
    )
    svg = ET.fromstring(latency_svg([serial, threads]))
    assert len(svg.findall(".//{http://www.w3.org/2000/svg}circle")) == 7
    bars = ET.fromstring(errors_svg([serial, threads]))
    assert len(bars.findall(".//{http://www.w3.org/2000/svg}rect")) == 2
    assert errors_svg([serial]) == ""


def _folder(tmp_path, files: dict[str, str]):
    folder = tmp_path / "tools"
    folder.mkdir()
    for name, source in files.items():
        (folder / name).write_text(textwrap.dedent(source))
    return folder


FOLDER = {
    "good.py": '''
        def shout(text: str) -> str:
            """Upper-case the text."""
            return text.upper()
    ''',
    "explodes.py": '''
        raise RuntimeError("cannot reach the config server")

        def lookup(key: str) -> str:
            """Never imported."""
            return key
    ''',
    "typo.py": "def broken(:\n",
    "helpers.py": "def _private():\n    return 1\n",
    "blocked.py": '''
        def fetch(url: str) -> str:
            """Every generated URL is refused."""
            raise PermissionError(f"blocked: {url}")
    ''',
}


def test_what_could_not_be_examined_is_reported_once_and_exits_1(tmp_path, capsys) -> None:
    from toolsafe.cli import EXIT_PROBLEMS, main

    folder = _folder(tmp_path, FOLDER)
    quick = ["--calls", "8", "--distinct", "4", "--timeout", "2"]
    assert main(["doctor", str(folder), *quick]) == EXIT_PROBLEMS
    out = " ".join(capsys.readouterr().out.split())  # as read, whatever the wrapping
    assert out.count("cannot reach the config server") == 1  # once, for the file
    assert out.count("SyntaxError") == 1
    assert "could not be examined (3):" in out
    assert "? fetch UNCHECKED" in out and out.count("every serial call failed") == 1
    assert "? lookup UNCHECKED" in out and "its file could not be imported" in out
    assert "no tools found in:" in out and "helpers.py" in out
    assert "✓ shout HEALTHY" in out
    assert "not everything could be examined (exit 1)" in out

    report = diagnose(str(folder), options=StressOptions(calls=8, distinct=4, timeout=2))
    data = json.loads(to_json(report))
    assert data["complete"] is False and data["exit_code"] == 1
    assert [(u["kind"], u["what"].split(" ")[0]) for u in data["unexamined"]] == [
        ("file", u["what"].split(" ")[0]) for u in data["unexamined"][:2]
    ] + [("tool", "fetch")]
    assert {u["what"].rsplit("/", 1)[-1] for u in data["unexamined"][:2]} == {
        "typo.py",
        "explodes.py",
    }
    assert [f.rsplit("/", 1)[-1] for f in data["files_without_tools"]] == ["helpers.py"]
    page = to_html(report)
    assert "Could not be examined (3)" in page and "cannot reach the config server" in page
    assert "not everything could be examined" in page and "No tools found in" in page
    fetch = next(t for t in data["tools"] if t["name"] == "fetch")
    assert fetch["verdict"] == "unchecked" and "PermissionError" in fetch["unchecked_reason"]

    # lint and stress report the same, and exit 1 too.
    assert main(["lint", str(folder)]) == EXIT_PROBLEMS
    out = " ".join(capsys.readouterr().out.split())
    assert "could not be examined (1):" in out and "SyntaxError" in out  # lint imports nothing
    assert "not everything could be examined (exit 1)" in out
    assert main(["stress", str(folder), *quick]) == EXIT_PROBLEMS
    out = " ".join(capsys.readouterr().out.split())
    assert out.count("cannot reach the config server") == 1
    assert "could not be examined (3):" in out


def test_a_clean_folder_exits_0_and_says_so(tmp_path, capsys) -> None:
    from toolsafe.cli import EXIT_OK, main

    folder = _folder(tmp_path, {"good.py": FOLDER["good.py"], "helpers.py": FOLDER["helpers.py"]})
    assert main(["doctor", str(folder), "--calls", "8", "--distinct", "4"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "no problems found (exit 0)" in out and "could not be examined" not in out
    assert "no tools found in:" in out  # listed, not an error: helper modules exist


VENDOR = """
from crewai.tools import BaseTool


class VendorSearch(BaseTool):
    name: str = "vendor_search"
    description: str = "Search the vendor's index."

    def _run(self, query: str) -> str:
        return f"results for {query}"
"""


def test_static_checks_that_did_not_run_are_not_shown_as_no_findings(tmp_path, capsys) -> None:
    pytest.importorskip("crewai")
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    (vendor / "vendor_tools.py").write_text(VENDOR)
    app = tmp_path / "app"
    app.mkdir()
    (app / "agent_tools.py").write_text(
        f"import sys\nsys.path.insert(0, {str(vendor)!r})\n"
        "from vendor_tools import VendorSearch\n\nsearch = VendorSearch()\n"
    )
    report = diagnose(str(app), options=StressOptions(calls=8, distinct=4, timeout=2))
    tool = report.tool("vendor_search")
    assert tool.static_checks is not None and "outside the target" in tool.static_checks
    assert "vendor_tools.py" in tool.static_checks
    out = io.StringIO()
    print_report(Console(file=out, width=200), report)
    text = out.getvalue()
    assert "static checks: did not run: it is defined outside the target" in text
    assert "no findings" not in text
    assert json.loads(to_json(report))["tools"][0]["static_checks"].startswith("did not run")


def test_a_file_whose_tools_are_instances_of_installed_classes_has_tools(tmp_path, capsys) -> None:
    """The tool's class lives in an installed package; the file that builds it has tools."""
    pytest.importorskip("crewai_tools")
    from toolsafe.cli import main

    app = tmp_path / "app_tools.py"
    app.write_text("from crewai_tools import FileReadTool\n\nreader = FileReadTool()\n")
    main(["lint", str(app)])
    out = " ".join(capsys.readouterr().out.split())
    assert "1 tool(s)" in out and "file_read_tool.py" in out  # its class's own source
    assert "no tools found" not in out


HOSTILE = """
from crewai.tools import BaseTool


class Hostile(BaseTool):
    name: str = "[/bold][link=https://evil.example]x[/link]\\x1b[2J\\x1b]0;pwned\\x07"
    description: str = "A tool with a hostile name."

    def _run(self, query: str) -> str:
        return "ok \\x1b[31m[/red]"


hostile = Hostile()
"""


def test_names_and_evidence_from_the_code_are_shown_as_text(tmp_path) -> None:
    pytest.importorskip("crewai")
    path = tmp_path / "hostile.py"
    path.write_text(HOSTILE)
    report = diagnose(str(path), options=StressOptions(calls=8, distinct=4, timeout=2))
    out = io.StringIO()
    print_report(Console(file=out, width=200, force_terminal=True), report)
    text = out.getvalue()
    assert "[/bold][link=https://evil.example]x[/link]\\x1b[2J\\x1b]0;pwned\\x07" in text
    assert "pwned\x07" not in text and "\x1b[2J" not in text and "\x1b]8;" not in text
