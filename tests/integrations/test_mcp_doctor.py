"""``toolsafe doctor --mcp``: real MCP servers linted and stressed through the SDK's client.

Servers: ``examples/mcp_broken_server.py`` (ours, one tool per failure, no SDK),
``mcp-server-time`` from PyPI (``.venv-mcp-servers``), ``@modelcontextprotocol/
server-everything`` from npm (skipped without npx or the registry). Runs on the
installed SDK line (1.x in ``.venv``, 2.x in ``.venv-mcp2``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from _mcp_support import ROOT, npx_server, serve_http_process

from toolsafe.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, main

pytestmark = pytest.mark.mcp

BROKEN = [sys.executable, str(ROOT / "examples" / "mcp_broken_server.py")]
TIME_SERVER = ROOT / ".venv-mcp-servers" / "bin" / "mcp-server-time"
QUICK = ["--timeout", "1", "--calls", "24", "--distinct", "6"]


def _doctor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["doctor", "--json", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _problems(tool: dict[str, Any]) -> set[str]:
    return {p["id"] for p in (tool["stress"] or {}).get("problems", [])}


def test_every_check_fires_on_the_broken_server(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = _doctor(capsys, *QUICK, "--mcp", "--", *BROKEN)
    assert code == EXIT_PROBLEMS
    tools = {t["name"]: t for t in data["tools"]}
    assert list(tools) == [
        "lookup",
        "query",
        "search",
        "export_rows",
        "balance",
        "delete_record",
        "get status",
        "fetch_page",
    ]
    assert _problems(tools["lookup"]) == {"ST02"}  # a module global shared by calls
    assert _problems(tools["query"]) == {"ST01"}  # one connection, busy under concurrency
    assert _problems(tools["search"]) == {"ST03"}  # every fourth call stalls
    assert _problems(tools["export_rows"]) == {"ST04"}  # 260 k characters
    assert _problems(tools["balance"]) == {"ST06"}  # "Error: ..." as a result
    # A call that blocks the server's event loop: hung, the server killed and relaunched.
    assert "ST03" in _problems(tools["fetch_page"])
    assert any("blocked the whole server" in n for n in tools["fetch_page"]["stress"]["notes"])
    for name in ("lookup", "query", "search", "export_rows", "balance"):
        assert tools[name]["verdict"] == ("at-risk" if name == "balance" else "broken")
        assert tools[name]["findings"] == []
        assert tools[name]["framework"] == "mcp"
    assert [p["name"] for p in tools["query"]["stress"]["phases"]] == ["serial", "asyncio"]
    assert any("--timeout" in n for n in tools["search"]["stress"]["notes"])
    # Not read-only: not called, and the report says why and how to include it.
    skipped = tools["delete_record"]
    assert skipped["verdict"] == "unchecked" and skipped["stress"] is None
    assert "not annotated readOnlyHint: true" in skipped["not_stressed"]
    assert "--tool delete_record or --all-tools" in skipped["not_stressed"]
    assert [u["what"].split(" ")[0] for u in data["unexamined"]] == ["delete_record"]
    # Lint only has something to say about the badly described one.
    status = tools["get status"]
    assert {f["rule"] for f in status["findings"]} == {
        "TS211",
        "TS212",
        "TS213",
        "TS214",
        "TS215",
        "TS216",
    }
    assert status["verdict"] == "at-risk" and _problems(status) == set()
    assert data["summary"] == {
        "broken": 5,
        "at-risk": 2,
        "unchecked": 1,
        "healthy": 0,
        "tools": 8,
    }


def test_tool_selects_what_is_examined_and_called(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = _doctor(capsys, *QUICK, "--tool", "delete_record", "--mcp", "--", *BROKEN)
    [tool] = data["tools"]
    assert tool["name"] == "delete_record" and tool["verdict"] == "healthy"
    assert tool["stress"]["phases"][0]["calls"] == 6
    assert data["not_selected"] == [
        "lookup",
        "query",
        "search",
        "export_rows",
        "balance",
        "get status",
        "fetch_page",
    ]
    assert code == EXIT_OK


def test_all_tools_calls_the_destructive_one_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = _doctor(capsys, *QUICK, "--all-tools", "--mcp", "--", *BROKEN)
    tools = {t["name"]: t for t in data["tools"]}
    assert tools["delete_record"]["stress"] is not None
    assert data["unexamined"] == [] and code == EXIT_PROBLEMS


def test_no_stress_lints_without_calling(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = _doctor(capsys, "--no-stress", "--mcp", "--", *BROKEN)
    assert all(t["stress"] is None for t in data["tools"])
    assert {t["verdict"] for t in data["tools"]} == {"unchecked", "at-risk"}  # as for lint only
    assert data["unexamined"] == []  # not requested is not a failure to examine
    assert code == EXIT_PROBLEMS  # `get status`'s findings


def test_terminal_and_html_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html = tmp_path / "report.html"
    argv = [*QUICK, "--tool", "lookup", "--tool", "get status", "--html", str(html)]
    assert main(["doctor", *argv, "--mcp", "--", *BROKEN]) == EXIT_PROBLEMS
    out = capsys.readouterr().out
    assert "✗ lookup  BROKEN  MCP tool, read-only" in out
    assert "ST02 results-differ" in out and "get status#/name uncallable-name" in out
    assert "not examined (other tools were selected): query, search" in out
    page = html.read_text()
    assert "<h2>lookup</h2>" in page and "<svg" in page and "TS216" in page


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--mcp", "--tool", "nope", "--", *BROKEN]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "no tool named 'nope'" in err and "lookup, query, search" in err
    assert main(["doctor", "--mcp"]) == EXIT_USAGE
    assert "--mcp needs the server's command after --" in capsys.readouterr().err
    assert main(["doctor", "--mcp", "--", str(tmp_path / "no-such-server")]) == EXIT_USAGE
    assert "cannot start the MCP server" in capsys.readouterr().err
    assert main(["doctor", "--all-tools", "examples/broken"]) == EXIT_USAGE
    assert "apply to MCP servers" in capsys.readouterr().err


@pytest.mark.mcp_servers
@pytest.mark.skipif(not TIME_SERVER.exists(), reason="make test-mcp2 installs mcp-server-time")
def test_mcp_server_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Generated timezones are not IANA names: every call fails, so nothing is compared.
    code, data = _doctor(capsys, *QUICK, "--mcp", "--", str(TIME_SERVER))
    tools = {t["name"]: t for t in data["tools"]}
    assert {t["verdict"] for t in tools.values()} == {"unchecked"}
    assert "every serial call failed" in tools["get_current_time"]["unchecked_reason"]
    assert code == EXIT_PROBLEMS
    # Real calls: both tools are exercised; the clock moving between calls is noticed,
    # not blamed (results re-checked serially).
    calls = tmp_path / "calls.jsonl"
    zones = ["Asia/Tokyo", "Europe/London", "America/New_York", "UTC"]
    lines = [{"tool": "get_current_time", "arguments": {"timezone": z}} for z in zones]
    lines += [
        {
            "tool": "convert_time",
            "arguments": {"source_timezone": z, "time": "12:30", "target_timezone": "Asia/Tokyo"},
        }
        for z in zones
    ]
    calls.write_text("\n".join(json.dumps(line) for line in lines))
    code, data = _doctor(
        capsys, *QUICK, "--calls-file", str(calls), "--mcp", "--", str(TIME_SERVER)
    )
    tools = {t["name"]: t for t in data["tools"]}
    assert {t["verdict"] for t in tools.values()} == {"healthy"}, tools
    assert tools["convert_time"]["stress"]["argument_source"] == "calls file"
    assert {f["rule"] for f in tools["convert_time"]["findings"]} == {"TS213"}  # info only
    assert code == EXIT_OK


@pytest.mark.mcp_servers
def test_npm_server_everything(capsys: pytest.CaptureFixture[str]) -> None:
    command = npx_server("@modelcontextprotocol/server-everything")
    if command is None:
        pytest.skip("npx or the npm registry is unavailable")
    code, data = _doctor(capsys, *QUICK, "--mcp", "--", *command)
    tools = {t["name"]: t for t in data["tools"]}
    assert {"echo", "get-sum", "trigger-long-running-operation"} <= set(tools)
    assert tools["echo"]["verdict"] == "healthy" and tools["get-sum"]["verdict"] == "healthy"
    # Its default duration is 10 s and nothing bounds it: hung past the 1 s timeout.
    assert "ST03" in _problems(tools["trigger-long-running-operation"])
    # Not read-only: reported, not called.
    toggle = tools["toggle-simulated-logging"]
    assert toggle["stress"] is None and "readOnlyHint" in toggle["not_stressed"]
    assert "TS214" in {f["rule"] for f in tools["get-resource-links"]["findings"]}
    assert code == EXIT_PROBLEMS


HTTP_TOOLS = """
import asyncio

import toolsafe

_last = {"key": ""}


@toolsafe.tool
def add(a: int, b: int = 0) -> int:
    \"\"\"Add two integers.\"\"\"
    return a + b


@toolsafe.tool
async def remember(key: str) -> str:
    \"\"\"Keeps the key on a module global while it waits: calls read each other's.\"\"\"
    _last["key"] = key
    await asyncio.sleep(0.02)
    return _last["key"]
"""


def test_mcp_url_over_streamable_http(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tools_file = tmp_path / "http_tools.py"
    tools_file.write_text(HTTP_TOOLS)
    with serve_http_process(tools_file, tmp_path / "serve.log") as url:
        # toolsafe serve does not annotate its tools: nothing is called by default.
        code, data = _doctor(capsys, *QUICK, "--mcp-url", url)
        assert {t["name"]: t["stress"] for t in data["tools"]} == {"add": None, "remember": None}
        assert code == EXIT_PROBLEMS  # not examined
        code, data = _doctor(capsys, *QUICK, "--all-tools", "--mcp-url", url)
    tools = {t["name"]: t for t in data["tools"]}
    assert tools["add"]["verdict"] == "healthy"
    assert "streamable HTTP" in tools["add"]["stress"]["runner"]
    assert _problems(tools["remember"]) == {"ST02"}
    assert code == EXIT_PROBLEMS
    assert main(["doctor", "--mcp-url", "http://127.0.0.1:9/mcp"]) == EXIT_USAGE
    assert "cannot connect to the MCP server http://127.0.0.1:9/mcp" in capsys.readouterr().err
