"""Bounded, never-raising text helpers (toolsafe._text): what every log line and error uses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolsafe._text import clip, json_safe, render_json, safe_repr, safe_str, utf8_safe


class Raises:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __str__(self) -> str:
        raise self.exc

    def __repr__(self) -> str:
        raise self.exc


def test_clip_says_how_much_was_cut_and_is_idempotent() -> None:
    assert clip("abc", 10) == "abc"
    cut = clip("x" * 1000, 10)
    assert cut == "x" * 10 + "… [+990 chars]"
    assert clip(cut, 10) is cut


@pytest.mark.parametrize("exc", [ValueError("x"), KeyboardInterrupt(), RecursionError()])
def test_safe_str_and_repr_survive_anything(exc: BaseException) -> None:
    assert safe_str(Raises(exc)) == f"<Raises: str() raised {type(exc).__name__}>"
    assert "Raises" in safe_repr(Raises(exc))
    assert safe_str(10**5000) == "<integer of about 5,001 digits>"


def deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


def test_render_json_never_raises_and_stays_bounded() -> None:
    assert render_json({"a": 1}) == '{"a": 1}'
    assert render_json("plain") == "plain"
    text = render_json({"deep": deep(5000)}, limit=300)
    assert text.startswith('{"deep": [[[[') and len(text) < 340
    assert "nested deeper" in render_json(deep(5000))
    assert render_json({"n": 10**5000}) == '{"n": "<integer of about 5,001 digits>"}'
    assert render_json({"f": float("nan")}) == '{"f": "nan"}'
    assert "<Raises" in render_json({"r": Raises(RuntimeError())})
    assert render_json({"s": "a\udcff"}).encode("utf-8")


def test_utf8_safe_escapes_lone_surrogates_as_json_does() -> None:
    assert utf8_safe("plain") == ("plain", 0)
    assert utf8_safe("é") == ("é", 0)
    text, count = utf8_safe(json.dumps({"k": "a\udcff\ud800"}, ensure_ascii=False))
    assert count == 2 and json.loads(text) == {"k": "a\udcff\ud800"}


def test_json_safe_bounds_and_keeps_what_fits() -> None:
    small = {"a": [1, 2], "b": "x"}
    assert json_safe(small) is small
    bounded = json_safe({"rows": list(range(100)), "s": "y" * 1000, "n": 10**5000})
    assert bounded["rows"][-1] == "… 81 more" and len(bounded["rows"]) == 20
    assert bounded["s"].endswith("… [+500 chars]")
    assert bounded["n"] == "<integer of about 5,001 digits>"
    assert json_safe(bounded) == bounded  # idempotent
    json.dumps(json_safe({"x": deep(100), "r": Raises(KeyboardInterrupt())}), allow_nan=False)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_render_and_json_safe_always_give_utf8_json(value: Any) -> None:
    assert len(render_json(value, limit=500).encode("utf-8")) < 2000
    json.dumps(json_safe(value), allow_nan=False).encode("utf-8")
