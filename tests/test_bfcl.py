"""The BFCL corpus: real function schemas and ground-truth calls, end to end.

Every function definition converts (to a validator and to the OpenAI, Anthropic
and MCP exports); every ground-truth call validates, except the few where the
corpus contradicts its own schema (KNOWN_CORPUS_ERRORS, kept exact); and for each
call, dropping a required parameter, giving a wrong type or adding an unknown key
is rejected with the right field named.

Ground truth maps each parameter to a list of acceptable values; we take the first
and leave out parameters whose list contains "" (meaning "may be omitted"). A
dict-valued answer follows the same rule inside (each value is again a list of
acceptable values), also for dicts inside arrays.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from toolsafe import InvalidArguments, Tool

CORPUS = Path(
    os.environ.get("TOOLSAFE_BFCL_DIR", Path(__file__).resolve().parents[2] / "shared/corpora/bfcl")
)
FILES = (
    "BFCL_v4_simple_python.json",
    "BFCL_v4_multiple.json",
    "BFCL_v4_parallel.json",
    "BFCL_v4_parallel_multiple.json",
)

#: (entry id, index of the call in its ground truth) -> why the corpus is wrong there.
KNOWN_CORPUS_ERRORS: dict[tuple[str, int], str] = {
    ("simple_python_17", 0): "get_prime_factors: 'formatted' is required but the answer omits it",
    ("simple_python_200", 0): (
        "calculate_emissions: 'fuel_efficiency' is required but the answer omits it"
    ),
    ("parallel_88", 0): (
        "calculate_final_speed: 'initial_velocity' is required but the answer allows leaving it out"
    ),
    ("parallel_multiple_21", 1): (
        "linear_regression_fit: 'x' and 'y' are arrays, the answer gives strings naming columns"
    ),
    ("parallel_multiple_87", 2): (
        "kinematics.distance: 'initial_velocity' is required but the answer allows leaving it out"
    ),
    ("parallel_multiple_94", 0): (
        "sort_list: 'elements' is an array of integers, the answer sorts strings"
    ),
    ("parallel_multiple_119", 2): (
        "league_stats.get_top_scorer: 'league_name' is required but the answer allows leaving it out"
    ),
}

OMIT = object()
UNKNOWN_KEY = "zz_not_a_parameter"
EXPORT_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

pytestmark = pytest.mark.skipif(
    not all((CORPUS / f).exists() for f in FILES),
    reason=f"BFCL corpus not found at {CORPUS} (set TOOLSAFE_BFCL_DIR)",
)


@dataclass(frozen=True)
class Call:
    entry: str
    index: int
    tool: Tool
    arguments: dict[str, Any]


def _pick(options: Any) -> Any:
    if not isinstance(options, list):
        return _expand(options)
    if "" in options:
        return OMIT
    return _expand(options[0])


def _expand(value: Any) -> Any:
    if isinstance(value, dict):
        picked = {key: _pick(options) for key, options in value.items()}
        return {key: v for key, v in picked.items() if v is not OMIT}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


@functools.lru_cache(maxsize=1)
def corpus() -> tuple[int, dict[str, Tool], list[Call]]:
    """(definitions seen, tools by canonical definition, ground-truth calls)."""
    definitions = 0
    tools: dict[str, Tool] = {}
    calls: list[Call] = []
    for name in FILES:
        answers = {}
        for line in (CORPUS / "possible_answer" / name).read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                answers[record["id"]] = record["ground_truth"]
        for line in (CORPUS / name).read_text().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            by_name: dict[str, Tool] = {}
            for definition in entry["function"]:
                definitions += 1
                key = json.dumps(definition, sort_keys=True)
                if key not in tools:
                    tools[key] = Tool.from_schema(definition)
                by_name[definition["name"]] = tools[key]
            for index, call in enumerate(answers[entry["id"]]):
                ((function, params),) = call.items()
                calls.append(Call(entry["id"], index, by_name[function], _expand(params)))
    return definitions, tools, calls


def valid_calls() -> Iterator[Call]:
    for call in corpus()[2]:
        if (call.entry, call.index) not in KNOWN_CORPUS_ERRORS:
            yield call


def _types(schema: dict[str, Any]) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    return set(kind) if isinstance(kind, list) else {kind}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}[type(value)]


def wrong_value(schema: dict[str, Any]) -> Any:
    """A value whose JSON type the property schema does not admit, or OMIT if all are."""
    types = _types(schema)
    if types is None:
        return OMIT
    for candidate in (12345, "12", True, ["x"], {"k": "v"}, 1.5):
        kind = _json_type(candidate)
        if kind in types or (kind == "integer" and "number" in types):
            continue
        return candidate
    return OMIT


def strict_form(schema: dict[str, Any], value: Any) -> Any:
    """What a model obeying the strict OpenAI export sends: every key, null when left out."""
    if isinstance(value, dict) and "properties" in schema:
        return {
            key: strict_form(sub, value[key]) if key in value else None
            for key, sub in schema["properties"].items()
        }
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [strict_form(schema["items"], v) for v in value]
    return value


# --------------------------------------------------------------------------- tests


def test_every_function_definition_converts(terminal_summary: list[str]) -> None:
    definitions, tools, _ = corpus()
    assert definitions == 1677
    for tool in tools.values():
        openai = tool.to_openai()
        assert EXPORT_NAME.match(openai["function"]["name"]), tool.name
        assert openai["function"]["parameters"]["type"] == "object"
        if openai["function"]["strict"]:
            params = openai["function"]["parameters"]
            assert params["additionalProperties"] is False
            assert params["required"] == list(params["properties"])
        anthropic = tool.to_anthropic()
        assert anthropic["name"] == tool.export_name
        assert anthropic["input_schema"]["type"] == "object"
        mcp = tool.to_mcp()
        assert mcp["name"] == tool.name
        assert json.loads(json.dumps(mcp["inputSchema"])) == mcp["inputSchema"]
    terminal_summary.append(
        f"BFCL: {definitions} function definitions converted ({len(tools)} distinct) "
        "to validators and OpenAI/Anthropic/MCP exports"
    )


def test_every_ground_truth_call_validates(terminal_summary: list[str]) -> None:
    calls = corpus()[2]
    rejected: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for call in calls:
        try:
            result = call.tool.validate(call.arguments)
        except InvalidArguments as exc:
            rejected[(call.entry, call.index)] = exc.details
            continue
        assert result == call.arguments
        assert call.tool.validate(json.dumps(call.arguments)) == result
        strict_call = strict_form(call.tool.json_schema, call.arguments)
        assert call.tool.validate(strict_call) == result, (call.entry, strict_call)
    # exact: a known error that starts validating (or a new rejection) must be looked at
    assert set(rejected) == set(KNOWN_CORPUS_ERRORS), {
        key: rejected[key] for key in set(rejected) - set(KNOWN_CORPUS_ERRORS)
    }
    share = len(rejected) / len(calls)
    assert share < 0.015
    terminal_summary.append(
        f"BFCL: {len(calls) - len(rejected)} of {len(calls)} ground-truth calls validated; "
        f"{len(rejected)} known corpus errors ({share:.1%}) rejected as they should be"
    )


def test_mutated_calls_are_rejected_naming_the_field(terminal_summary: list[str]) -> None:
    counts = {"missing": 0, "wrong type": 0, "unknown key": 0, "nested unknown key": 0}
    for call in valid_calls():
        schema = call.tool.json_schema
        props: dict[str, Any] = schema["properties"]
        for name in schema.get("required", []):
            args = {k: v for k, v in call.arguments.items() if k != name}
            details = _rejected(call, args)
            assert any(
                d["field"] == name and d["expected"] == "a value (required field)" for d in details
            ), (call.entry, name, details)
            counts["missing"] += 1
        for name in call.arguments:
            bad = wrong_value(props[name])
            if bad is OMIT:
                continue  # an untyped ("any") parameter admits every value
            details = _rejected(call, {**call.arguments, name: bad})
            assert [d["field"] for d in details] == [name], (call.entry, name, details)
            counts["wrong type"] += 1
        details = _rejected(call, {**call.arguments, UNKNOWN_KEY: 1})
        assert [d["field"] for d in details] == [UNKNOWN_KEY]
        assert details[0]["expected"].startswith("no such field")
        counts["unknown key"] += 1
        for name, value in call.arguments.items():
            if isinstance(value, dict) and props[name].get("properties"):
                details = _rejected(call, {**call.arguments, name: {**value, UNKNOWN_KEY: 1}})
                assert [d["field"] for d in details] == [f"{name}.{UNKNOWN_KEY}"]
                counts["nested unknown key"] += 1
    assert min(counts.values()) > 0
    total = sum(counts.values())
    parts = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    terminal_summary.append(f"BFCL: {total} mutated calls rejected naming the field ({parts})")


def _rejected(call: Call, args: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(InvalidArguments) as info:
        call.tool.validate(args)
    return info.value.details


def test_known_corpus_errors_are_rejected_for_the_stated_reason() -> None:
    calls = {(c.entry, c.index): c for c in corpus()[2]}
    for key, reason in KNOWN_CORPUS_ERRORS.items():
        call = calls[key]
        assert reason.startswith(call.tool.name + ":")
        named = re.findall(r"'(\w+)'", reason)
        details = _rejected(call, call.arguments)
        fields = {d["field"].split(".")[0] for d in details}
        assert fields == set(named), (key, details)
