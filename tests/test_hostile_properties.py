"""Properties: whatever a model or a caller sends, on tools of every parameter type, the
call ends in an Outcome, never an exception, and a failure's text is a bounded, valid
UTF-8 error line that ``parse_tool_error`` reads back (issue 12).

Generated inputs: arbitrary JSON text (valid, hostile and broken), arbitrary Python
values (huge ints, NaN, lone surrogates, deep nesting, objects whose ``__str__`` or
``__repr__`` raise, sets, bytes), arbitrary tool names and call ids, through
``call``, ``acall``, ``execute_tool_calls`` and ``execute_tool_use``.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import toolsafe
from toolsafe import Outcome, Runtime, parse_tool_error
from toolsafe.integrations.anthropic import execute_tool_use
from toolsafe.integrations.openai import execute_tool_calls


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: int
    y: float = 0.0


class Shape(BaseModel):
    name: str
    points: list[Point] = []
    tags: dict[str, str] | None = None


def t_str(value: str) -> str:
    """str."""
    return value


def t_int(value: int) -> int:
    """int."""
    return value


def t_float(value: float) -> float:
    """float."""
    return value


def t_bool(value: bool) -> bool:
    """bool."""
    return value


def t_list(value: list[int], names: list[str] | None = None) -> list[Any]:
    """list."""
    return [value, names]


def t_dict(value: dict[str, Any]) -> dict[str, Any]:
    """dict."""
    return value


def t_model(shape: Shape, origin: Point | None = None) -> dict[str, Any]:
    """Nested models."""
    return {"shape": shape, "origin": origin}


def t_optional(value: int | None = None, label: str | None = None) -> str:
    """Optional."""
    return f"{value} {label}"


def t_choice(mode: Literal["fast", "deep"], color: Color = Color.RED) -> str:
    """Literal and enum."""
    return f"{mode} {color.value}"


async def t_async(value: Any = None) -> Any:
    """Async, any value back (serialization is under test too)."""
    return value


TOOLS = [t_str, t_int, t_float, t_bool, t_list, t_dict, t_model, t_optional, t_choice, t_async]
NAMES = [tool.__name__ for tool in TOOLS]


@pytest.fixture(scope="module")
def rt() -> Iterator[Runtime]:
    with Runtime(TOOLS, timeout=5) as runtime:
        yield runtime


def check(outcome: Outcome) -> None:
    """The promise: an Outcome; a failure's text is a bounded error line read back."""
    assert isinstance(outcome, Outcome)
    outcome.text.encode("utf-8")  # valid UTF-8: raises on a lone surrogate
    if outcome.ok:
        return
    assert outcome.error is not None
    assert len(outcome.text) < 20_000
    parsed = parse_tool_error(outcome.text)
    assert parsed is not None, outcome.text[:300]
    assert parsed.type == outcome.error.type


# --------------------------------------------------------------------------- strategies


class StrRaises(Exception):
    def __str__(self) -> str:
        raise KeyboardInterrupt


class Opaque:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __str__(self) -> str:
        raise self  # type: ignore[misc]


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value} if levels % 2 else [value]
    return value


def _odd(index: int) -> Any:
    """Values that break naive code (made here: hypothesis reprs its strategies)."""
    makers = [
        lambda: 10**5000,
        lambda: -(10**4400),
        lambda: 2**64,
        Opaque,
        StrRaises,
        lambda: b"bytes\xff",
        lambda: {1, 2},
        lambda: (1, "two"),
        frozenset,
        object,
        lambda: Color.RED,
        lambda: float("nan"),
    ]
    return makers[index % len(makers)]()


hostile_text = st.text() | st.sampled_from(["a\udcff", "\ud800", "x" * 5000, "", "{"])
scalars = st.none() | st.booleans() | st.integers() | st.floats() | hostile_text
odd_values = st.integers(0, 11).map(_odd) | st.integers(min_value=100, max_value=400).map(deep)
python_values = st.recursive(
    scalars | odd_values,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(hostile_text | st.integers(), inner, max_size=4)
    ),
    max_leaves=12,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(
    ["value", "names", "shape", "origin", "label", "mode", "color", "x", "points"]
) | st.text(max_size=8)


def as_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


json_texts = (
    st.dictionaries(field_names, json_values, max_size=4).map(as_text)
    | json_values.map(as_text)
    | st.text()
    | st.sampled_from(
        [
            "[" * 50_000 + "]" * 50_000,
            '{"value": ' + "9" * 5000 + "}",
            '{"value": NaN}',
            '{"value": "\\udcff"}',
            '{"value": 4.0}',
            "{'value': True}",
            '```json\n{"value": 1}\n```',
            '"{\\"value\\": 1}"',
        ]
    )
)
arguments = (
    st.dictionaries(field_names, python_values, max_size=4)
    | python_values
    | json_texts
    | json_texts.map(lambda text: text.encode("utf-8", "surrogatepass"))
)
tool_names = st.sampled_from(NAMES) | st.text(max_size=20)

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(name=tool_names, args=arguments)
def test_call_always_answers(rt: Runtime, name: str, args: Any) -> None:
    check(rt.call(name, args))


@SETTINGS
@given(name=st.sampled_from(NAMES), args=arguments)
def test_acall_always_answers(rt: Runtime, name: str, args: Any) -> None:
    check(asyncio.run(rt.acall(name, args)))


@SETTINGS
@given(
    calls=st.lists(
        st.tuples(hostile_text, tool_names, json_texts | st.none()), min_size=1, max_size=3
    )
)
def test_execute_tool_calls_answers_every_call(
    rt: Runtime, calls: list[tuple[str, str, str | None]]
) -> None:
    message = {
        "role": "assistant",
        "tool_calls": [
            {"id": f"{i}-{cid}", "type": "function", "function": {"name": name, "arguments": text}}
            for i, (cid, name, text) in enumerate(calls)
        ],
    }
    replies = execute_tool_calls(rt, message)
    assert [r["tool_call_id"] for r in replies] == [f"{i}-{c[0]}" for i, c in enumerate(calls)]
    for reply in replies:
        reply["content"].encode("utf-8")


@SETTINGS
@given(calls=st.lists(st.tuples(tool_names, python_values), min_size=1, max_size=3))
def test_execute_tool_use_answers_every_block(rt: Runtime, calls: list[tuple[str, Any]]) -> None:
    blocks = [
        {"type": "tool_use", "id": f"t{i}", "name": name, "input": value}
        for i, (name, value) in enumerate(calls)
    ]
    results = execute_tool_use(rt, {"role": "assistant", "content": blocks})
    assert [r["tool_use_id"] for r in results] == [f"t{i}" for i in range(len(calls))]
    for result in results:
        result["content"].encode("utf-8")
        if result.get("is_error"):
            assert parse_tool_error(result["content"]) is not None


def test_valid_calls_of_every_type_still_succeed(rt: Runtime) -> None:
    """The properties above would pass if everything failed: the happy paths, once each."""
    cases: list[tuple[str, Any, str]] = [
        ("t_str", {"value": "é"}, "é"),
        ("t_int", '{"value": 4.0}', "4"),
        ("t_float", {"value": 3}, "3.0"),
        ("t_bool", {"value": True}, "true"),
        ("t_list", {"value": [1, 2]}, "[[1,2],null]"),
        ("t_dict", {"value": {"k": [1]}}, '{"k":[1]}'),
        (
            "t_model",
            {"shape": {"name": "s", "points": [{"x": 1}]}},
            '{"shape":{"name":"s","points":[{"x":1,"y":0.0}],"tags":null},"origin":null}',
        ),
        ("t_optional", {"value": None}, "None None"),
        ("t_choice", {"mode": "deep", "color": "blue"}, "deep blue"),
        ("t_async", {"value": [1.5]}, "[1.5]"),
    ]
    for name, args, text in cases:
        outcome = rt.call(name, args)
        assert outcome.ok, (name, outcome.text)
        assert outcome.text == text, name


def test_toolsafe_tool_decorator_agrees() -> None:
    """``@toolsafe.tool`` builds the same validator the runtime uses."""
    tool = toolsafe.tool(t_int)
    assert tool.validate({"value": 2.0}) == {"value": 2}
