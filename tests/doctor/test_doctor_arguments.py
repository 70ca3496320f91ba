"""Argument generation from JSON Schema, and recorded calls from JSONL."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from hypothesis import given, settings

from toolsafe import tool
from toolsafe.doctor.arguments import generate_arguments, load_calls_file, strategy_for_schema


@tool
def search(
    query: str,
    limit: int = 10,
    mode: Literal["fast", "deep"] = "fast",
    tags: list[str] | None = None,
    ratio: float = 0.5,
) -> str:
    """Search."""
    return query


def test_generated_arguments_pass_the_tools_own_strict_validation() -> None:
    generated = generate_arguments(search.json_schema, 12)
    assert len(generated) == 12
    assert len({json.dumps(a, sort_keys=True) for a in generated}) == 12  # distinct
    for arguments in generated:
        assert search.validate(arguments)["query"] == arguments["query"]


def test_generation_is_repeatable_per_seed() -> None:
    first = generate_arguments(search.json_schema, 6, seed=3)
    assert generate_arguments(search.json_schema, 6, seed=3) == first
    assert generate_arguments(search.json_schema, 6, seed=4) != first


def test_no_parameters_means_one_empty_call() -> None:
    assert generate_arguments({"type": "object", "properties": {}}, 5) == [{}]


@settings(max_examples=50, deadline=None)
@given(
    strategy_for_schema(
        {
            "type": "object",
            "properties": {
                "n": {"type": "integer", "minimum": 5, "exclusiveMaximum": 9},
                "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
                "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "maxItems": 2},
            },
            "required": ["n", "code", "items"],
            "$defs": {"Item": {"type": "object", "properties": {"x": {"enum": [1, 2]}}}},
        }
    )
)
def test_strategy_respects_bounds_patterns_refs(value: dict) -> None:
    assert 5 <= value["n"] < 9
    assert len(value["code"]) == 3 and value["code"].isupper()
    assert len(value["items"]) <= 2
    assert all(item.get("x", 1) in (1, 2) for item in value["items"])


def test_calls_file(tmp_path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text(
        '{"tool": "search", "arguments": {"query": "a"}}\n'
        "\n"
        '{"name": "search", "arguments": "{\\"query\\": \\"b\\"}"}\n'
        '{"tool": "other", "args": {"x": 1}}\n'
    )
    assert load_calls_file(path, {"search"}) == {"search": [{"query": "a"}, {"query": "b"}]}


@pytest.mark.parametrize(
    ("line", "message"),
    [("not json", "not JSON"), ("[1]", "an object"), ('{"arguments": {}}', "no tool name")],
)
def test_bad_calls_file_says_where(tmp_path, line: str, message: str) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match=message) as info:
        load_calls_file(path, {"search"})
    assert ":1:" in str(info.value)
