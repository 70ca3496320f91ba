"""One structured, redacted, capped log record per call, and nothing when logging is off."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import toolsafe
from toolsafe import Redactor, Runtime


@toolsafe.tool
def search(query: str) -> str:
    return f"results for {query}: " + "r" * 5000


@toolsafe.tool
def broken(query: str) -> str:
    raise ValueError(f"upstream said no to {query}")


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "toolsafe.calls"]


def test_successful_call_is_a_debug_record_with_sizes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="toolsafe")
    with Runtime([search], token_counter="approx") as rt:
        outcome = rt.call("search", {"query": "cats"}, call_id="c-1")
    (record,) = _records(caplog)
    fields: dict[str, Any] = record.toolsafe  # type: ignore[attr-defined]
    assert record.levelno == logging.DEBUG
    assert fields["tool"] == "search" and fields["call_id"] == "c-1"
    assert fields["outcome"] == "ok" and fields["attempts"] == 1
    assert fields["duration_ms"] == outcome.elapsed_ms
    assert fields["args_bytes"] == len('{"query": "cats"}')
    assert fields["result_bytes"] == len(outcome.text) == 5018
    assert fields["result_tokens"] == -(-5018 // 3)
    assert fields["result"].startswith("results for cats: rrr")
    assert fields["result"].endswith("… [+4,018 chars]")  # capped at 1000 characters
    message = record.getMessage()
    assert message.startswith("toolsafe call tool=search call_id=c-1 attempts=1 outcome=ok")
    assert "result_tokens=1673" in message


def test_failed_call_is_an_info_record_with_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="toolsafe")
    with Runtime([broken, search]) as rt:
        rt.call("search", {"query": "cats"})  # DEBUG: filtered out
        rt.call("broken", {"query": "dogs"})
    (record,) = _records(caplog)
    fields = record.toolsafe  # type: ignore[attr-defined]
    assert record.levelno == logging.INFO
    assert fields["error_type"] == "ValueError" and fields["retryable"] is False
    assert fields["error"] == "upstream said no to dogs"
    assert 'raise ValueError(f"upstream said no to {query}")' in fields["traceback"]
    assert "Traceback (most recent call last)" in record.getMessage()


def test_unknown_tools_are_logged_but_not_counted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="toolsafe")
    with Runtime([search]) as rt:
        rt.call("serch", {"query": "cats"})
        assert rt.metrics.snapshot()["totals"]["calls"] == 0
    (record,) = _records(caplog)
    assert record.toolsafe["error_type"] == "UnknownTool"  # type: ignore[attr-defined]


class CountingRedactor(Redactor):
    """A real Redactor that counts how often it is asked to work."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def text(self, text: str) -> str:
        self.calls += 1
        return super().text(text)

    def value(self, value: Any, _depth: int = 0) -> Any:
        self.calls += 1
        return super().value(value, _depth)


def test_nothing_is_computed_when_the_logger_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="toolsafe")
    redactor = CountingRedactor()
    with Runtime([search], redact=redactor) as rt:
        for _ in range(5):
            assert rt.call("search", {"query": "cats"}).ok
    assert redactor.calls == 0 and _records(caplog) == []
    caplog.set_level(logging.DEBUG, logger="toolsafe.calls")
    with Runtime([search], redact=redactor) as rt:
        rt.call("search", {"query": "cats"})
    assert redactor.calls > 0 and len(_records(caplog)) == 1
