"""The structured error: wire format (a compatibility contract), parsing, classification."""

from __future__ import annotations

import email.utils
import errno
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

import toolsafe
from toolsafe import (
    ERROR_PREFIX,
    Classification,
    ConfigurationError,
    InvalidArguments,
    ToolError,
    ToolFailure,
    classify,
    format_tool_error,
    parse_tool_error,
    register_classifier,
    unregister_classifier,
)
from toolsafe.errors import parse_retry_after

CONTRACT_KEYS = ["error", "type", "message", "retryable"]


def payload(text: str) -> dict[str, Any]:
    assert text.startswith(ERROR_PREFIX)
    data: dict[str, Any] = json.loads(text[len(ERROR_PREFIX) :])
    return data


# --------------------------------------------------------------------------- format


def test_exact_wire_format_for_a_timeout() -> None:
    text = format_tool_error(TimeoutError("connection timed out"))
    assert text == (
        'Error executing tool: {"error": true, "type": "TimeoutError", '
        '"message": "connection timed out", "retryable": true}'
    )


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad value"),
        KeyError("k"),
        ToolFailure("quota", retryable=True, retry_after_s=3, hint="wait"),
        InvalidArguments("bad", [{"field": "x", "expected": "integer", "received": '"3"'}]),
        RuntimeError("wrapped"),
    ],
)
def test_contract_keys_come_first_in_order(exc: BaseException) -> None:
    text = format_tool_error(exc, tool="t", call_id="c1")
    data = payload(text)
    assert list(data)[:4] == CONTRACT_KEYS
    assert data["error"] is True
    assert isinstance(data["retryable"], bool)
    assert data["tool"] == "t"
    assert data["call_id"] == "c1"


def test_optional_keys_appear_only_when_set() -> None:
    data = payload(format_tool_error(ValueError("x")))
    assert list(data) == CONTRACT_KEYS
    failure = ToolFailure("quota", retryable=True, retry_after_s=3, hint="wait a bit")
    data = payload(format_tool_error(failure))
    assert data["retry_after_s"] == 3
    assert data["hint"] == "wait a bit"
    assert data["type"] == "ToolFailure"
    assert payload(format_tool_error(ToolFailure("x", type="QuotaExceeded")))["type"] == (
        "QuotaExceeded"
    )


def test_cause_names_the_chained_exception() -> None:
    try:
        try:
            raise ConnectionResetError("peer reset")
        except ConnectionResetError as inner:
            raise RuntimeError("fetch failed") from inner
    except RuntimeError as exc:
        error = ToolError.from_exception(exc)
    assert error.cause == "ConnectionResetError"
    assert error.retryable is True  # ``raise X from transient`` keeps the cause's verdict
    try:
        try:
            raise KeyError("a")
        except KeyError:
            raise ValueError("during handling") from None
    except ValueError as exc:
        assert ToolError.from_exception(exc).cause is None  # suppressed context


def test_invalid_arguments_carry_details_and_hint() -> None:
    @toolsafe.tool
    def area(width: int, height: int) -> int:
        return width * height

    with pytest.raises(InvalidArguments) as info:
        area.validate({"width": "3"})
    data = payload(format_tool_error(info.value, tool="area"))
    assert data["type"] == "InvalidArguments"
    assert data["retryable"] is False
    assert {d["field"] for d in data["details"]} == {"width", "height"}
    assert "area" in data["hint"]
    assert "width" in data["hint"]


# --------------------------------------------------------------------------- traceback


def _raise_deep(n: int) -> None:
    if n == 0:
        raise ValueError("deep problem")
    _raise_deep(n - 1)


def _caught() -> ValueError:
    try:
        _raise_deep(30)
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


def test_traceback_comes_from_the_exception_itself_outside_except() -> None:
    exc = _caught()
    assert sys.exc_info() == (None, None, None)  # we are outside any except block
    data = payload(format_tool_error(exc, include_traceback=True))
    tb = data["traceback"]
    assert "_raise_deep" in tb
    assert 'raise ValueError("deep problem")' in tb
    assert tb.rstrip().endswith("ValueError: deep problem")
    frames = tb.count('File "')
    assert 1 <= frames <= 5  # a few frames, not thirty


def test_traceback_ignores_the_exception_being_handled() -> None:
    exc = _caught()
    try:
        raise KeyError("ambient")
    except KeyError:
        tb = payload(format_tool_error(exc, include_traceback=True))["traceback"]
    assert "ambient" not in tb
    assert "KeyError" not in tb
    assert "deep problem" in tb


def test_traceback_of_a_never_raised_exception_has_no_frames() -> None:
    tb = payload(format_tool_error(ValueError("fresh"), include_traceback=True))["traceback"]
    assert tb == "ValueError: fresh"


def test_traceback_is_off_by_default() -> None:
    assert "traceback" not in payload(format_tool_error(_caught()))


# --------------------------------------------------------------------------- parse


def test_parse_round_trips_every_field() -> None:
    error = ToolError(
        type="RateLimited",
        message='slow down "now"\nplease',
        retryable=True,
        tool="search",
        call_id="c-9",
        attempts=3,
        elapsed_ms=12.5,
        retry_after_s=1.5,
        cause="HTTPStatusError",
        details=[{"field": "q"}],
        hint="wait",
        traceback="Traceback...",
    )
    assert parse_tool_error(error.to_text()) == error
    assert parse_tool_error("  " + error.to_text()) == error


@pytest.mark.parametrize(
    "text",
    [
        "The weather in Oslo is 3 degrees.",
        'Result: Error executing tool: {"error": true, "type": "X", "message": "m", "retryable": false}',
        "Error executing tool: the connection timed out",
        'Error executing tool: {"error": false, "type": "X", "message": "m", "retryable": false}',
        'Error executing tool: {"type": "X", "error": true, "message": "m", "retryable": false}',
        'Error executing tool: {"error": true, "type": "X", "message": "m", "retryable": "no"}',
        'Error executing tool: {"error": true, "type": "X", "message": "m"}',
        'Error executing tool: ["error", true]',
        '{"error": true, "type": "X", "message": "m", "retryable": false}',
        "",
        "Error executing tool: " + "[" * 100_000,  # hostile: deeper than the recursion limit
        'Error executing tool: {"error": true, "type": "X", "message": "m", "retryable": '
        + "1" * 5000
        + "}",
    ],
)
def test_parse_returns_none_for_anything_else(text: str) -> None:
    assert parse_tool_error(text) is None


def test_parse_ignores_non_text() -> None:
    assert parse_tool_error(None) is None  # type: ignore[arg-type]
    assert parse_tool_error(b"Error executing tool: {}") is None  # type: ignore[arg-type]


def _exception_type(name: str) -> type[Exception]:
    return type(name, (Exception,), {})


@given(
    name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True),
    message=st.text(max_size=200),
)
def test_format_then_parse_round_trips(name: str, message: str) -> None:
    exc = _exception_type(name)(message)
    text = format_tool_error(exc, tool="t")
    parsed = parse_tool_error(text)
    assert parsed is not None
    assert parsed.type == name
    assert parsed.message == (message or name)
    assert parsed.retryable is classify(exc).retryable
    assert parsed.tool == "t"
    assert parsed.to_text() == text


@given(text=st.text(max_size=300))
def test_ordinary_text_never_parses_as_an_error(text: str) -> None:
    if not text.lstrip().startswith(ERROR_PREFIX):
        assert parse_tool_error(text) is None


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (TimeoutError("t"), True),
        (ConnectionError("c"), True),
        (ConnectionResetError("r"), True),
        (ConnectionRefusedError("r"), True),
        (ConnectionAbortedError("a"), True),
        (BrokenPipeError("p"), True),
        (OSError(errno.ECONNRESET, "reset"), True),
        (OSError(errno.ETIMEDOUT, "timed out"), True),
        (OSError(errno.EAGAIN, "again"), True),
        (OSError(errno.ENETUNREACH, "unreachable"), True),
        (OSError(errno.EHOSTUNREACH, "no route"), True),
        (OSError(errno.ENOENT, "missing"), False),
        (OSError(errno.EACCES, "denied"), False),
        (OSError(errno.ENOSPC, "full"), False),
        (OSError("no errno"), False),
        (FileNotFoundError(errno.ENOENT, "missing"), False),
        (PermissionError(errno.EACCES, "denied"), False),
        (IsADirectoryError(errno.EISDIR, "dir"), False),
        (NotADirectoryError(errno.ENOTDIR, "not dir"), False),
        (ValueError("v"), False),
        (TypeError("t"), False),
        (KeyError("k"), False),
        (ZeroDivisionError(), False),
        (InvalidArguments("bad"), False),
        (ConfigurationError("bad"), False),
        (ToolFailure("transient", retryable=True), True),
        (ToolFailure("permanent"), False),
    ],
    ids=lambda v: v if isinstance(v, bool) else f"{type(v).__name__}({v})",
)
def test_builtin_classification(exc: BaseException, retryable: bool) -> None:
    assert classify(exc).retryable is retryable
    assert ToolError.from_exception(exc).retryable is retryable


def test_dns_failures_are_transient_only_when_temporary() -> None:
    import socket

    assert classify(socket.gaierror(socket.EAI_AGAIN, "Temporary failure")).retryable
    assert not classify(socket.gaierror(socket.EAI_NONAME, "Name not known")).retryable


def _httpx_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "https://api.example.test/items")
    response = httpx.Response(status, headers=headers or {}, request=request)
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        return exc
    raise AssertionError(f"{status} did not raise")


def test_httpx_rate_limit_honours_retry_after() -> None:
    verdict = classify(_httpx_error(429, {"Retry-After": "7"}))
    assert verdict == Classification(True, 7.0, 429)
    error = ToolError.from_exception(_httpx_error(429, {"Retry-After": "7"}))
    assert error.retryable is True
    assert error.retry_after_s == 7.0
    assert error.type == "HTTPStatusError"


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (403, False), (404, False), (422, False), (408, True),
     (425, True), (429, True), (500, True), (502, True), (503, True), (504, True)],
)  # fmt: skip
def test_httpx_status_codes(status: int, retryable: bool) -> None:
    verdict = classify(_httpx_error(status))
    assert verdict.retryable is retryable
    assert verdict.status == status


def test_retry_after_is_ignored_when_not_retryable() -> None:
    assert classify(_httpx_error(404, {"Retry-After": "7"})).retry_after_s is None


def test_httpx_transport_errors() -> None:
    request = httpx.Request("GET", "https://api.example.test/")
    assert classify(httpx.ConnectTimeout("connect timed out", request=request)).retryable
    assert classify(httpx.ReadTimeout("read timed out", request=request)).retryable
    assert classify(httpx.ConnectError("refused", request=request)).retryable
    assert classify(httpx.RemoteProtocolError("closed", request=request)).retryable
    assert not classify(httpx.UnsupportedProtocol("ftp://", request=request)).retryable
    assert not classify(httpx.InvalidURL("bad url")).retryable


def test_requests_errors() -> None:
    assert classify(requests.ConnectionError("refused")).retryable
    assert classify(requests.Timeout("slow")).retryable
    assert classify(requests.exceptions.ConnectTimeout("slow")).retryable
    assert classify(requests.exceptions.ChunkedEncodingError("cut")).retryable
    assert not classify(requests.exceptions.SSLError("bad certificate")).retryable
    assert not classify(requests.exceptions.InvalidURL("bad")).retryable
    response = requests.Response()
    response.status_code = 503
    response.headers["Retry-After"] = "2"
    verdict = classify(requests.HTTPError("503 Server Error", response=response))
    assert verdict == Classification(True, 2.0, 503)
    response = requests.Response()
    response.status_code = 404
    assert not classify(requests.HTTPError("404 Not Found", response=response)).retryable


def test_retry_after_as_an_http_date() -> None:
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    verdict = classify(_httpx_error(503, {"Retry-After": later}))
    assert verdict.retryable
    assert verdict.retry_after_s is not None
    assert 100 <= verdict.retry_after_s <= 121
    now = 1_700_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:50 -0000", now=now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


@pytest.mark.parametrize("value", ["soon", "", "inf", "nan", "-inf", None])
def test_unreadable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_urllib_http_error() -> None:
    import io
    import urllib.error
    from email.message import Message

    headers = Message()
    headers["Retry-After"] = "4"
    exc = urllib.error.HTTPError("https://x.test", 429, "Too Many", headers, io.BytesIO())
    assert classify(exc) == Classification(True, 4.0, 429)
    assert classify(urllib.error.URLError(ConnectionRefusedError("refused"))).retryable


# --------------------------------------------------------------------------- classifiers


@pytest.fixture
def classifiers() -> Iterator[list[Any]]:
    added: list[Any] = []
    yield added
    for classifier in added:
        unregister_classifier(classifier)


class QuotaError(Exception):
    pass


def test_register_and_unregister_a_classifier(classifiers: list[Any]) -> None:
    assert not classify(QuotaError()).retryable

    @register_classifier
    def quota(exc: BaseException) -> Classification | None:
        if isinstance(exc, QuotaError):
            return Classification(True, 60.0)
        return None

    classifiers.append(quota)
    assert classify(QuotaError()) == Classification(True, 60.0)
    assert ToolError.from_exception(QuotaError()).retry_after_s == 60.0
    assert not classify(ValueError()).retryable  # None passes to the next rule
    unregister_classifier(quota)
    assert not classify(QuotaError()).retryable
    unregister_classifier(quota)  # removing twice is harmless


def test_classifier_order_bools_and_broken_classifiers(classifiers: list[Any]) -> None:
    def broken(exc: BaseException) -> bool:
        raise RuntimeError("classifier bug")

    def never(exc: BaseException) -> bool | None:
        return False if isinstance(exc, TimeoutError) else None

    def always(exc: BaseException) -> bool | None:
        return True if isinstance(exc, TimeoutError) else None

    register_classifier(always)
    register_classifier(never, first=False)
    register_classifier(broken)
    classifiers.extend([always, never, broken])
    assert classify(TimeoutError()).retryable is True  # broken skipped, then ``always``
    unregister_classifier(always)
    assert classify(TimeoutError()).retryable is False  # user rules beat the built-in ones


def test_a_tool_failure_is_the_tools_own_word(classifiers: list[Any]) -> None:
    def everything_permanent(exc: BaseException) -> bool:
        return False

    register_classifier(everything_permanent)
    classifiers.append(everything_permanent)
    verdict = classify(ToolFailure("try later", retryable=True, retry_after_s=5))
    assert verdict == Classification(True, 5.0)


def test_classification_does_not_import_http_clients() -> None:
    code = (
        "import sys, toolsafe\n"
        "v = toolsafe.classify(TimeoutError())\n"
        "toolsafe.classify(ValueError()); toolsafe.classify(OSError(104, 'reset'))\n"
        "toolsafe.format_tool_error(ConnectionError('x'))\n"
        "assert v.retryable\n"
        "print(sorted(m for m in ('httpx', 'requests', 'urllib3', 'aiohttp') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
