"""TS211-TS217: lint for tools known only by their JSON Schema (MCP servers, foreign definitions)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from toolsafe.doctor import RULES
from toolsafe.doctor.rules.json_schema import lint_definition, lint_definitions

CLEAN: dict[str, Any] = {
    "name": "search_orders",
    "description": "Search orders by customer; returns at most `limit` orders.",
    "inputSchema": {
        "type": "object",
        "properties": {
            "customer": {"type": "string", "maxLength": 64, "description": "Customer id."},
            "status": {"type": "string", "enum": ["open", "paid"], "description": "Status."},
            "ids": {
                "type": "array",
                "items": {"type": "integer"},
                "maxItems": 50,
                "description": "Order ids.",
            },
            "limit": {"type": "integer", "default": 10, "description": "Orders per page."},
        },
        "required": ["customer"],
        "additionalProperties": False,
    },
}


def _tool(schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "t", "description": "A tool.", "inputSchema": schema, **extra}


def _rules(definition: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in lint_definition(definition):
        out.setdefault(f.rule, []).append(f"{f.severity}: {f.message}")
    return out


def test_a_well_described_bounded_closed_schema_has_no_findings() -> None:
    assert lint_definition(CLEAN) == []


def test_the_rules_are_in_the_catalogue_with_stable_ids() -> None:
    names = {rid: RULES[rid].name for rid in ("TS211", "TS212", "TS213", "TS214", "TS215")}
    assert names == {
        "TS211": "no-description",
        "TS212": "parameter-no-description",
        "TS213": "unbounded-argument",
        "TS214": "open-arguments",
        "TS215": "required-mistake",
    }
    assert (RULES["TS216"].name, RULES["TS217"].name) == ("uncallable-name", "invalid-schema")


def test_missing_descriptions() -> None:
    schema = {
        "type": "object",
        "properties": {"q": {"type": "string", "maxLength": 9}, "n": {"type": "integer"}},
        "required": ["q", "n"],
    }
    found = _rules({"name": "t", "inputSchema": schema})
    assert set(found) == {"TS211", "TS212"}
    assert found["TS211"][0].startswith("warning: `t` has no description")
    assert found["TS212"] == ["info: parameters without a description: `q`, `n`"]


@pytest.mark.parametrize(
    ("name", "severity", "said"),
    [
        ("get status", "error", "contains ' '"),
        ("math.factorial", "error", "contains '.'"),
        ("files/read", "error", "contains '/'"),
        ("x" * 65, "error", "is 65 characters long"),
        ("1password_lookup", "warning", "Gemini"),
    ],
)
def test_names_a_model_api_rejects(name: str, severity: str, said: str) -> None:
    [finding] = [f for f in lint_definition({**CLEAN, "name": name}) if f.rule == "TS216"]
    assert finding.severity == severity and said in finding.message
    assert finding.location == f"{name}#/name"


def test_duplicate_names_are_reported_for_each() -> None:
    found = lint_definitions([CLEAN, {**CLEAN, "description": "Another."}])
    dupes = [f for f in found["search_orders"] if f.rule == "TS216"]
    assert len(dupes) == 2 and "2 tools are named 'search_orders'" in dupes[0].message


def test_unbounded_arrays_warn_and_unbounded_strings_are_noted() -> None:
    schema = {
        "type": "object",
        "properties": {
            "urls": {"type": "array", "items": {"type": "string", "format": "uri"}},
            "rows": {
                "type": "array",
                "maxItems": 5,
                "items": {
                    "type": "object",
                    "properties": {"note": {"type": "string"}},
                    "required": ["note"],
                    "additionalProperties": False,
                },
            },
            "query": {"type": ["string", "null"], "default": None},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
        "additionalProperties": False,
    }
    found = _rules(_tool(schema))
    assert found["TS213"] == [
        "warning: arrays without `maxItems`: `urls`",
        "info: strings without `maxLength`: `rows[].note`, `query`",
    ]


def test_an_open_argument_object_with_optional_properties() -> None:
    props = {"q": {"type": "string", "maxLength": 9, "description": "Query."}}
    optional = {**props, "limit": {"type": "integer", "default": 5, "description": "Limit."}}
    open_found = _rules(_tool({"type": "object", "properties": optional, "required": ["q"]}))
    assert open_found["TS214"] == [
        "warning: The argument object does not set `additionalProperties: false` and has "
        "optional property (`limit`): a misspelled one is accepted, ignored, and the tool runs "
        "with its default"
    ]
    # Only required properties: a misspelling is a missing argument, rejected anyway.
    assert "TS214" not in _rules(_tool({"type": "object", "properties": props, "required": ["q"]}))
    closed = {"type": "object", "properties": optional, "additionalProperties": False}
    assert "TS214" not in _rules(_tool(closed))


def test_required_mistakes() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "description": "A."},
            "b": {"type": "integer", "default": 1, "description": "B."},
            "c": {"type": ["string", "null"], "maxLength": 5, "description": "C."},
        },
        "required": ["a", "b", "c", "verbose", "a"],
        "additionalProperties": False,
    }
    found = _rules(_tool(schema))["TS215"]
    assert any(m.startswith("error: `verbose` is required") for m in found)
    assert any(m.startswith("warning: `b` is required but has a default (1)") for m in found)
    assert any(m.startswith("warning: `c` may be null but is required") for m in found)
    assert any(m.startswith("info: `a` is listed 2 times") for m in found)
    bad = _rules(_tool({"type": "object", "properties": {}, "required": "a"}))
    assert bad["TS215"][0].startswith("error: `required` of the argument object is not a list")


def test_schemas_no_validator_can_be_built_from() -> None:
    not_object = _rules(_tool({"type": "string"}))["TS217"]
    assert not_object[0].startswith('warning: `inputSchema` does not say "type": "object"')
    assert any(m.startswith("error: no validator can be built") for m in not_object)
    assert _rules(_tool("not a schema"))["TS217"] == [  # type: ignore[arg-type]
        "error: `inputSchema` is not a JSON Schema object"
    ]
    assert lint_definition({"name": "t", "description": "Takes nothing."}) == []


def test_openai_and_anthropic_definitions_are_read_too() -> None:
    openai = {"type": "function", "function": {"name": "a.b", "parameters": {"type": "object"}}}
    assert {f.rule for f in lint_definition(openai)} == {"TS211", "TS216"}
    anthropic = {"name": "a", "description": "A.", "input_schema": {"type": "object"}}
    assert lint_definition(anthropic) == []


BFCL = Path(
    os.environ.get("TOOLSAFE_BFCL_DIR", Path(__file__).resolve().parents[3] / "shared/corpora/bfcl")
)


@pytest.mark.skipif(not BFCL.is_dir(), reason="the BFCL corpus is in ../shared/corpora/bfcl")
def test_bfcl_corpus_names_and_required_defaults() -> None:
    """1,677 real function definitions: every one lints; the name and required/default
    findings are exactly the definitions that break the rule, counted independently."""
    definitions = []
    for path in sorted(BFCL.glob("BFCL_v4_*.json")):
        for line in path.read_text().splitlines():
            definitions.extend(json.loads(line)["function"])
    assert len(definitions) >= 1600
    uncallable = required_defaults = flagged_names = flagged_defaults = 0
    for definition in definitions:
        params = definition.get("parameters", {})
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", definition["name"]):
            uncallable += 1
        props = params.get("properties", {})
        required_defaults += sum(
            1 for r in params.get("required", []) if "default" in props.get(r, {})
        )
        findings = lint_definition(definition)
        flagged_names += any(f.rule == "TS216" and f.severity == "error" for f in findings)
        flagged_defaults += sum(
            1 for f in findings if f.rule == "TS215" and "has a default" in f.message
        )
    assert uncallable > 100  # BFCL names like `math.factorial`: OpenAI rejects them
    assert flagged_names == uncallable
    assert flagged_defaults == required_defaults > 0
