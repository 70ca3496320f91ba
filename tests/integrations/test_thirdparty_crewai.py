"""crewai-tools under toolsafe, offline: real tools, their own locking, true isolation reports.

Files in a temporary directory, HTTP against a local 127.0.0.1 server. Each tool is
hardened (and some wrapped with ``toolsafe.tool(instance)``), called concurrently
through the runtime, and its isolation report checked against what it really does.
"""

from __future__ import annotations

import itertools
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip(
    "crewai_tools", reason="needs the thirdparty extra: pip install 'toolsafe[thirdparty]'"
)

from _local_http import LocalServer, local_server
from crewai_tools import (
    BraveWebSearchTool,
    DirectoryReadTool,
    FileReadTool,
    FileWriterTool,
    ScrapeWebsiteTool,
    TXTSearchTool,
)

import toolsafe
from toolsafe.integrations.crewai import harden

pytestmark = [
    pytest.mark.crewai,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ImportWarning"),
]


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # crewai-tools' file tools stay inside the working directory
    for i in range(8):
        (tmp_path / f"note{i}.txt").write_text(f"note {i}\nsecond line {i}\n")
    return tmp_path


def test_file_read_tool_reads_concurrently_and_copies_nothing(files: Path) -> None:
    tool = FileReadTool()
    hardened = harden(tool, timeout=10)
    report = hardened.toolsafe_tool.isolation_report
    assert report is not None and report.mode == "copy"
    assert report.copied == () and report.not_copyable == ()  # calls only read the instance
    outcomes = hardened.runtime.call_many(
        [(hardened.name, {"file_path": f"note{i}.txt"}) for i in range(8)]
    )
    assert [o.error for o in outcomes] == [None] * 8
    assert all(f"note {i}" in o.text for i, o in enumerate(outcomes))
    # toolsafe.tool(instance) wraps the same object the generic way, with the same report
    plain = toolsafe.tool(FileReadTool(), name="read")
    with toolsafe.Runtime([plain]) as runtime:
        assert "note 3" in runtime.call("read", {"file_path": "note3.txt"}).text
    assert plain.isolation_report is not None and plain.isolation_report.copied == ()


def test_directory_read_and_file_writer_tools(files: Path) -> None:
    lister, writer = harden([DirectoryReadTool(), FileWriterTool()])
    listing = lister.run(directory=str(files))
    assert "note0.txt" in listing and "note7.txt" in listing
    outcomes = writer.runtime.call_many(
        [
            (writer.name, {"filename": f"out{i}.txt", "content": f"body {i}", "directory": "."})
            for i in range(6)
        ]
    )
    assert [o.error for o in outcomes] == [None] * 6, [o.text for o in outcomes]
    assert [(files / f"out{i}.txt").read_text() for i in range(6)] == [
        f"body {i}" for i in range(6)
    ]
    assert writer.toolsafe_tool.isolation_report is not None
    assert writer.toolsafe_tool.not_isolated == ()


def _brave(server: LocalServer, rps: float) -> BraveWebSearchTool:
    return BraveWebSearchTool(
        api_key="test-key",
        requests_per_second=rps,
        search_url=f"{server.url}/res/v1/web/search",
        timeout=5,
    )


def _gaps(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [b - a for a, b in itertools.pairwise(ordered)]


def test_brave_rate_limiter_still_spaces_calls_when_hardened(server: LocalServer) -> None:
    rps, n = 5.0, 4
    interval = 1 / rps
    plain = _brave(server, rps)
    started = time.monotonic()
    threads = [threading.Thread(target=plain.run, kwargs={"q": f"plain{i}"}) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    plain_s = time.monotonic() - started
    plain_gaps = _gaps(server.arrivals("/res/v1/web/search"))
    server.requests.clear()

    hardened = harden(_brave(server, rps), timeout=10)
    report = hardened.toolsafe_tool.isolation_report
    assert report is not None and report.mode == "shared"
    assert dict(report.guarded) == {"_rate_limit_lock": ("_last_request_time",)}
    assert "_rate_limit_lock guards _last_request_time" in report.reason
    started = time.monotonic()
    outcomes = hardened.runtime.call_many([(hardened.name, {"q": f"q{i}"}) for i in range(n)])
    hardened_s = time.monotonic() - started
    assert [o.error for o in outcomes] == [None] * n
    assert all(f"q{i} 0" in o.text for i, o in enumerate(outcomes))
    hardened_gaps = _gaps(server.arrivals("/res/v1/web/search"))
    # The tool's own limiter spaces its requests by its interval, hardened or not. It
    # spaces the sends; the server sees arrivals, which network jitter moves a little
    # (so half an interval of slack). Broken isolation let them all arrive at once.
    assert len(plain_gaps) == len(hardened_gaps) == n - 1
    assert min(plain_gaps) >= interval / 2, plain_gaps
    assert min(hardened_gaps) >= interval / 2, hardened_gaps
    assert sum(hardened_gaps) >= (n - 1) * interval * 0.75, hardened_gaps
    print(
        f"brave {n} concurrent calls at {rps}/s: plain {plain_s:.3f}s, hardened {hardened_s:.3f}s"
    )


def test_brave_forced_copies_say_the_lock_no_longer_guards(server: LocalServer) -> None:
    """``isolation="copy"`` is honoured (the user insisted), and the report says what it costs."""
    with pytest.warns(UserWarning, match="reads and then rebinds _last_request_time"):
        hardened = harden(_brave(server, 20.0), isolation="copy")
    report = hardened.toolsafe_tool.isolation_report
    assert report is not None and report.mode == "copy"
    assert "_last_request_time" in report.written
    assert dict(report.guarded) == {"_rate_limit_lock": ("_last_request_time",)}


def test_scrape_website_tool_against_a_local_page(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # crewai-tools refuses private addresses (SSRF guard); its documented escape hatch
    monkeypatch.setenv("CREWAI_TOOLS_ALLOW_UNSAFE_PATHS", "true")
    hardened = harden(ScrapeWebsiteTool(), timeout=10)
    outcomes = hardened.runtime.call_many(
        [(hardened.name, {"website_url": f"{server.url}/page"})] * 4
    )
    assert all("toolsafe local page" in o.text for o in outcomes), [o.text for o in outcomes]
    report = hardened.toolsafe_tool.isolation_report
    assert report is not None and report.mode == "copy"
    # a call hands its headers dict to requests (code toolsafe does not follow): copied
    assert "headers" in report.copied


# Trying to copy the OpenAI client at wrap time leaves a half-built client whose __del__ fails.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_rag_search_tools_are_hardened_with_a_warning_not_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 19 refusals of issue 13: the schema requires ``txt``, ``_run`` defaults it."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-offline-test")  # read at construction only
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CREWAI_STORAGE_DIR", str(tmp_path / "storage"))
    tool = TXTSearchTool()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hardened = harden(tool)
    messages = [str(w.message) for w in caught if "toolsafe" in str(w.message)]
    assert any("'txt' is required in args_schema but has a default" in m for m in messages)
    assert hardened.toolsafe_tool.warnings[-1] == (
        "'txt' is required in args_schema but has a default in the run method"
    )
    report = hardened.toolsafe_tool.isolation_report
    assert report is not None and "adapter" in report.not_copyable  # its vector store: shared
