"""Hostile input gets an answer, never an exception: every call ends in an Outcome whose
error text is bounded, valid UTF-8 and in the wire format, with the call log and OTel
content capture on (issue 12)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

import toolsafe
from toolsafe import Runtime, ToolFailure, parse_tool_error
from toolsafe.errors import MAX_MESSAGE_CHARS, ToolError
from toolsafe.integrations.anthropic import execute_tool_use
from toolsafe.integrations.openai import execute_tool_calls


def search(query: str, limit: int = 5) -> str:
    """Search."""
    return f"{query}:{limit}"


def rate(rating: int) -> int:
    """Rate."""
    return rating


def echo(x: dict[str, Any]) -> dict[str, Any]:
    """Echo a dict."""
    return x


def scores(values: list[int], weight: float = 1.0, best: int | None = None) -> str:
    """Score."""
    return f"{values} {weight} {best}"


@pytest.fixture
def rt(caplog: pytest.LogCaptureFixture) -> Iterator[Runtime]:
    """A runtime with the call log on at DEBUG (every call writes its record)."""
    caplog.set_level(logging.DEBUG, logger="toolsafe")
    with Runtime([search, rate, echo, scores]) as runtime:
        yield runtime


def error_of(outcome: toolsafe.Outcome) -> ToolError:
    """The outcome failed; its text is a bounded, UTF-8, wire-format error line."""
    assert not outcome.ok
    assert outcome.text.encode("utf-8")  # no lone surrogate
    assert len(outcome.text) < 12_000
    parsed = parse_tool_error(outcome.text)
    assert parsed is not None
    assert list(json.loads(outcome.text.split(": ", 1)[1]))[:4] == [
        "error",
        "type",
        "message",
        "retryable",
    ]
    return parsed


def no_toolsafe_bug(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if "toolsafe bug" in r.getMessage()]


def deep_dict(levels: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return root


# --------------------------------------------------------------------------- raise -> answer


@pytest.mark.parametrize("wrap", [lambda t: t, lambda t: '{"query": ' + t + "}"])
def test_json_nested_100000_levels_is_invalid_arguments(rt: Runtime, wrap: Any) -> None:
    text = wrap("[" * 100_000 + "]" * 100_000)
    error = error_of(rt.call("search", text))
    assert error.type == "InvalidArguments"
    assert "nested too deeply" in error.message


def test_json_just_past_the_depth_limit_names_the_field(rt: Runtime) -> None:
    text = '{"x": ' + '{"a": ' * 200 + "1" + "}" * 200 + "}"
    error = error_of(rt.call("echo", text))
    assert error.type == "InvalidArguments"
    assert error.details[0]["field"].startswith("x.a.a.a")
    assert "at most 128 levels" in error.details[0]["expected"]


@pytest.mark.parametrize("tool", ["echo", "search"])
def test_python_dict_nested_5000_levels_is_invalid_arguments(
    rt: Runtime, tool: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = "x" if tool == "echo" else "query"
    error = error_of(rt.call(tool, {key: deep_dict(5000)}))
    assert error.type == "InvalidArguments"
    assert "nested" in error.message
    assert [r for r in caplog.records if r.name == "toolsafe.calls"]  # the log survived it
    no_toolsafe_bug(caplog)


def test_a_4301_digit_json_integer_is_answered_and_its_siblings_run(rt: Runtime) -> None:
    big = "7" * 5000
    error = error_of(rt.call("rate", '{"rating": ' + big + "}"))
    assert error.type == "InvalidArguments"
    assert "5,000 digits" in error.message
    message = {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "a",
                "type": "function",
                "function": {"name": "rate", "arguments": '{"rating": ' + big + "}"},
            },
            {"id": "b", "type": "function", "function": {"name": "rate", "arguments": "{}"}},
            {
                "id": "c",
                "type": "function",
                "function": {"name": "search", "arguments": '{"query": "x"}'},
            },
        ],
    }
    replies = execute_tool_calls(rt, message)
    assert [r["tool_call_id"] for r in replies] == ["a", "b", "c"]
    assert parse_tool_error(replies[0]["content"]).type == "InvalidArguments"  # type: ignore[union-attr]
    assert replies[2]["content"] == "x:5"


def test_valid_big_ints_pass_and_the_log_and_capture_survive(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = rt.call("rate", {"rating": 10**5000})
    assert outcome.ok and outcome.value == 10**5000
    assert outcome.text == "1" + "0" * 5000
    (record,) = [r for r in caplog.records if r.name == "toolsafe.calls"]
    assert "<integer of about 5,001 digits>" in record.toolsafe["arguments"]  # type: ignore[attr-defined]
    assert record.getMessage()


def test_a_big_int_for_a_string_parameter_is_described(rt: Runtime) -> None:
    error = error_of(rt.call("search", {"query": 10**5000}))
    assert error.details[0]["field"] == "query"
    assert error.details[0]["received"].startswith('"<integer of about 5,001 digits>"')


class StrRaisesItself(Exception):
    def __str__(self) -> str:
        raise self


class StrRaisesKeyboardInterrupt(Exception):
    def __str__(self) -> str:
        raise KeyboardInterrupt


class ResponseRaises(Exception):
    @property
    def response(self) -> Any:
        raise RuntimeError("no response")


class HeadersRaise(Exception):
    status_code = 503

    @property
    def headers(self) -> Any:
        raise RuntimeError("no headers")


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (StrRaisesItself(), False),
        (StrRaisesKeyboardInterrupt(), False),
        (ResponseRaises("upstream"), False),
        (HeadersRaise("upstream"), True),  # the status still classifies it
    ],
)
@pytest.mark.parametrize("include_traceback", [False, True])
def test_hostile_exceptions_give_a_structured_error_not_a_toolsafe_bug(
    exc: Exception, retryable: bool, include_traceback: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="toolsafe")

    def boom() -> str:
        """Raise."""
        raise exc

    with Runtime([boom], include_traceback=include_traceback) as runtime:
        error = error_of(runtime.call("boom", {}))
    assert error.type == type(exc).__name__
    assert error.retryable is retryable
    if isinstance(exc, (StrRaisesItself, StrRaisesKeyboardInterrupt)):
        assert error.message.startswith(f"<{type(exc).__name__}: str() raised")
    (record,) = [r for r in caplog.records if r.name == "toolsafe.calls"]
    assert type(exc).__name__ in record.toolsafe["traceback"]  # type: ignore[attr-defined]
    no_toolsafe_bug(caplog)


class ReprRaises:
    def __repr__(self) -> str:
        raise RuntimeError("repr")


def test_an_argument_whose_repr_raises_is_described(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    error = error_of(rt.call("search", {"query": ReprRaises()}))
    assert error.details[0]["field"] == "query"
    assert "<ReprRaises" in error.details[0]["received"]
    outcome = rt.call("echo", {"x": {"v": ReprRaises()}})  # accepted by dict, not serializable
    assert error_of(outcome).type == "ResultNotSerializable"
    no_toolsafe_bug(caplog)


# --------------------------------------------------------------------------- fidelity


def test_integral_floats_are_integers_in_strict_mode(rt: Runtime) -> None:
    outcome = rt.call("rate", '{"rating": 4.0}')
    assert outcome.ok and outcome.value == 4 and type(outcome.value) is int
    outcome = rt.call("scores", {"values": [1.0, 2, 3.0], "best": 2.0})
    assert outcome.ok and outcome.text == "[1, 2, 3] 1.0 2"
    assert type(rt.get("rate").validate({"rating": -0.0})["rating"]) is int


@pytest.mark.parametrize("value", ["4.5", "1e400", "true", '"4"'])
def test_other_numbers_are_still_not_integers(rt: Runtime, value: str) -> None:
    error = error_of(rt.call("rate", '{"rating": ' + value + "}"))
    assert error.details[0]["field"] == "rating"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected_in_strict_mode(rt: Runtime, constant: str) -> None:
    error = error_of(rt.call("scores", '{"values": [1], "weight": ' + constant + "}"))
    assert error.details == [
        {
            "field": "weight",
            "expected": "a finite number (NaN and Infinity are not JSON)",
            "received": f"{float(constant)!r} (number)",
            "message": "a finite number (NaN and Infinity are not JSON)",
        }
    ]
    error = error_of(rt.call("echo", {"x": {"deep": [float(constant)]}}))
    assert error.details[0]["field"] == "x.deep.0"
    lax = toolsafe.Tool.from_function(scores, strict=False)
    weight = lax.validate('{"values": [1], "weight": ' + constant + "}")["weight"]
    assert repr(weight) == repr(float(constant))  # lax mode passes it on (nan != nan)


def test_nan_is_never_result_text(rt: Runtime) -> None:
    def measure() -> dict[str, Any]:
        """Measure."""
        return {"mean": float("nan"), "max": float("inf"), "ok": 1.5}

    def bare() -> float:
        """A bare NaN."""
        return float("nan")

    with Runtime([measure, bare]) as runtime:
        assert runtime.call("measure", {}).text == '{"mean":null,"max":null,"ok":1.5}'
        assert runtime.call("bare", {}).text == "null"


# --------------------------------------------------------------------------- bounds


def test_a_million_unknown_keys_give_a_small_error() -> None:
    with Runtime([search]) as runtime:
        arguments: dict[str, Any] = {f"k{i}": i for i in range(1_000_000)}
        arguments["query"] = "x"
        error = error_of(runtime.call("search", arguments))
    assert "(1,000,000 problems, the first 20 listed)" in error.message
    assert error.message.endswith("; and 999,980 more")
    assert len(error.details) == 20
    assert error.details[0]["field"] == "k0"


def test_many_wrong_items_are_listed_first_and_counted(rt: Runtime) -> None:
    error = error_of(rt.call("scores", {"values": ["x"] * 50_000}))
    assert "(50,000 problems, the first 20 listed)" in error.message
    assert [d["field"] for d in error.details[:3]] == ["values.0", "values.1", "values.2"]


def test_a_10_mb_exception_message_is_cut() -> None:
    class Huge(Exception):
        def __str__(self) -> str:
            return "y" * 10_000_000

    def huge() -> str:
        """Raise a huge error."""
        raise Huge

    with Runtime([huge], max_output_chars=4000) as runtime:
        error = error_of(runtime.call("huge", {}))
    assert len(error.message) < MAX_MESSAGE_CHARS + 40
    assert error.message.endswith(f"… [+{10_000_000 - MAX_MESSAGE_CHARS:,} chars]")


def test_a_10_mb_tool_name_and_many_tools_are_cut(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    error = error_of(rt.call("x" * 10_000_000, {}))
    assert error.type == "UnknownTool"
    assert len(error.message) < 1000 and "… [+" in error.message
    (record,) = [r for r in caplog.records if r.name == "toolsafe.calls"]
    assert len(record.getMessage()) < 20_000  # the call log's line was 10 MB
    assert record.toolsafe["tool"].endswith("… [+9,999,744 chars]")  # type: ignore[attr-defined]
    tools = [toolsafe.Tool.from_function(search, name=f"tool_{i}") for i in range(300)]
    with Runtime(tools) as runtime:
        error = error_of(runtime.call("nope", {}))
    assert "and 250 more" in error.message
    assert error.details["available"][-1] == "… 281 more"  # type: ignore[index]


def test_a_tool_failure_with_huge_fields_is_bounded() -> None:
    def failing() -> str:
        """Fail hugely."""
        raise ToolFailure(
            "m" * 100_000,
            type="T" * 10_000,
            hint="h" * 100_000,
            details={"rows": list(range(100_000)), "blob": "b" * 100_000},
            retry_after_s=float("nan"),
        )

    with Runtime([failing]) as runtime:
        error = error_of(runtime.call("failing", {}))
    assert len(error.type) < 250 and error.retry_after_s is None
    assert error.details["rows"][-1] == "… 99,981 more"  # type: ignore[index]
    assert len(error.details["blob"]) < 600  # type: ignore[index]


# --------------------------------------------------------------------------- surrogates


def test_a_lone_surrogate_in_a_result_is_escaped_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = os.fsdecode(b"report-\xff.txt")

    def listing() -> str:
        """A file name."""
        return name

    def files() -> dict[str, Any]:
        """File names in JSON."""
        return {"files": [name]}

    with Runtime([listing, files]) as runtime:
        text = runtime.call("listing", {}).text
        assert text == "report-\\udcff.txt"
        structured = runtime.call("files", {}).text
    assert structured.encode("utf-8")
    assert json.loads(structured) == {"files": [name]}  # the JSON escape reads back
    assert any("lone surrogate" in r.getMessage() for r in caplog.records)


def test_a_lone_surrogate_in_an_error_is_escaped() -> None:
    name = os.fsdecode(b"/tmp/missing-\xfe")

    def opener() -> str:
        """Open."""
        with open(name) as handle:
            return handle.read()

    with Runtime([opener]) as runtime:
        error = error_of(runtime.call("opener", {}))
    assert error.type == "FileNotFoundError"
    assert "missing-\\udcfe" in error.message  # said, as its escape


def test_lone_surrogates_in_arguments_are_rejected_in_strict_mode(rt: Runtime) -> None:
    for arguments in ({"query": "a\udcff"}, '{"query": "a\\udcff"}'):
        error = error_of(rt.call("search", arguments))
        assert error.details[0]["field"] == "query"
        assert "lone surrogate" in error.details[0]["received"]
    error = error_of(rt.call("echo", {"x": {"k\udcff": 1}}))
    assert error.details[0]["field"] == "x.k\\udcff"
    anthropic = execute_tool_use(
        rt,
        {
            "content": [
                {"type": "tool_use", "id": "t", "name": "search", "input": {"query": "\ud800"}}
            ]
        },
    )
    assert anthropic[0]["is_error"] is True
    lax = toolsafe.Tool.from_function(search, strict=False)
    assert lax.validate({"query": "a\udcff"})["query"] == "a\udcff"  # documented: lax passes
