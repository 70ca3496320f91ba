"""Rendering: JSON round-trips, HTML is self-contained with well-formed SVG plots."""

from __future__ import annotations

import io
import json
import re
import textwrap
import xml.etree.ElementTree as ET

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
