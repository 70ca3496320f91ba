"""Foreign tool definitions: OpenAI, Anthropic, MCP and BFCL dialects to one validator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from toolsafe import ConfigurationError, InvalidArguments, Runtime, Tool
from toolsafe._foreign import model_from_json_schema, normalize_schema, parse_definition

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name."},
        "days": {"type": "integer", "default": 3},
    },
    "required": ["city"],
}


def fields_of(exc: InvalidArguments) -> list[str]:
    return [d["field"] for d in exc.details]


# --------------------------------------------------------------------------- definitions


@pytest.mark.parametrize(
    "definition",
    [
        {
            "type": "function",
            "function": {"name": "weather", "description": "Get weather.", "parameters": WEATHER},
        },
        {
            "type": "function",
            "name": "weather",
            "description": "Get weather.",
            "parameters": WEATHER,
        },
        {"name": "weather", "description": "Get weather.", "parameters": WEATHER},
        {"name": "weather", "description": "Get weather.", "input_schema": WEATHER},
        {"name": "weather", "description": "Get weather.", "inputSchema": WEATHER},
    ],
    ids=["openai-chat", "openai-responses", "bare", "anthropic", "mcp"],
)
def test_every_dialect_gives_the_same_definition(definition: dict[str, Any]) -> None:
    name, description, params = parse_definition(definition)
    assert (name, description) == ("weather", "Get weather.")
    assert params == WEATHER
    tool = Tool.from_schema(definition)
    assert tool.validate({"city": "Oslo"}) == {"city": "Oslo"}
    assert tool.to_anthropic()["input_schema"]["properties"]["city"]["type"] == "string"


def test_definition_without_parameters_takes_no_arguments() -> None:
    tool = Tool.from_schema({"name": "ping"})
    assert tool.validate({}) == {}
    with pytest.raises(InvalidArguments) as info:
        tool.validate({"x": 1})
    assert fields_of(info.value) == ["x"]


@pytest.mark.parametrize(
    ("definition", "words"),
    [
        ({"description": "no name", "parameters": WEATHER}, "no name"),
        ({"name": "", "parameters": WEATHER}, "no name"),
        ({"name": "x", "parameters": "object"}, "JSON Schema object"),
        ({"name": "x", "parameters": {"type": "string"}}, "must be an object schema"),
    ],
)
def test_broken_definitions_are_configuration_errors(definition: Any, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        Tool.from_schema(definition)


def test_original_definition_is_not_modified() -> None:
    definition = {
        "name": "f",
        "parameters": {"type": "dict", "properties": {"x": {"type": "float", "default": "1"}}},
    }
    before = json.dumps(definition, sort_keys=True)
    Tool.from_schema(definition)
    assert json.dumps(definition, sort_keys=True) == before


# --------------------------------------------------------------------------- normalization


def test_bfcl_types_become_json_schema_types() -> None:
    schema = normalize_schema(
        {
            "type": "dict",
            "properties": {
                "ratio": {"type": "float"},
                "point": {"type": "tuple", "items": {"type": "float"}},
                "data": {"type": "any", "description": "anything"},
                "opts": {"type": "dict", "properties": {"n": {"type": "integer"}}},
            },
            "required": ["ratio"],
        }
    )
    props = schema["properties"]
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert props["ratio"] == {"type": "number"}
    assert props["point"] == {"type": "array", "items": {"type": "number"}}
    assert props["data"] == {"description": "anything"}
    assert props["opts"] == {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "additionalProperties": False,
    }


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ({"type": "boolean", "default": "false"}, False),
        ({"type": "boolean", "default": "True"}, True),
        ({"type": "integer", "default": "3"}, 3),
        ({"type": "float", "default": "2.5"}, 2.5),
        ({"type": "float", "default": 1}, 1),
        ({"type": "array", "default": "['a', 'b']"}, ["a", "b"]),
        ({"type": "array", "default": "[1, 2]"}, [1, 2]),
        ({"type": "dict", "default": "{'k': 1}"}, {"k": 1}),
        ({"type": "string", "default": "false"}, "false"),
    ],
)
def test_string_defaults_are_converted_to_the_declared_type(
    prop: dict[str, Any], expected: Any
) -> None:
    schema = normalize_schema({"type": "dict", "properties": {"p": prop}})
    assert schema["properties"]["p"]["default"] == expected
    assert type(schema["properties"]["p"]["default"]) is type(expected)


@pytest.mark.parametrize(
    "prop",
    [
        {"type": "array", "default": "timing, attractions"},  # not a list at all
        {"type": "array", "default": "None"},  # "no default"
        {"type": "integer", "default": "three"},
        {"type": "boolean", "default": "maybe"},
    ],
)
def test_defaults_that_cannot_be_converted_are_dropped(prop: dict[str, Any]) -> None:
    schema = normalize_schema({"type": "dict", "properties": {"p": prop}})
    assert "default" not in schema["properties"]["p"]


def test_numeric_enums_written_as_strings() -> None:
    schema = normalize_schema(
        {
            "type": "dict",
            "properties": {
                "level": {"type": "integer", "enum": ["1", "2", "3"]},
                "scale": {"type": "float", "enum": ["0.5", "1"]},
                "code": {"type": "string", "enum": [200, 404]},
            },
        }
    )
    props = schema["properties"]
    assert props["level"]["enum"] == [1, 2, 3]
    assert props["scale"]["enum"] == [0.5, 1]
    assert props["code"]["enum"] == ["200", "404"]
    tool = Tool.from_schema({"name": "f", "parameters": schema})
    assert tool.validate({"level": 2, "scale": 0.5, "code": "404"}) == {
        "level": 2,
        "scale": 0.5,
        "code": "404",
    }
    with pytest.raises(InvalidArguments) as info:
        tool.validate({"level": "2", "code": 404})
    assert sorted(fields_of(info.value)) == ["code", "level"]


def test_optional_markers_and_undeclared_required_names() -> None:
    schema = normalize_schema(
        {
            "type": "dict",
            "properties": {
                "a": {"type": "string", "optional": True},
                "b": {"type": "string"},
                "pop": {"type": "dict", "required": ["adults"]},
            },
            "required": ["a", "b", "pop"],
        }
    )
    assert schema["required"] == ["b", "pop"]
    assert "optional" not in schema["properties"]["a"]
    assert schema["properties"]["pop"]["properties"] == {"adults": {}}
    tool = Tool.from_schema({"name": "f", "parameters": schema})
    assert tool.validate({"b": "x", "pop": {"adults": 2}}) == {"b": "x", "pop": {"adults": 2}}
    with pytest.raises(InvalidArguments) as info:
        tool.validate({"b": "x", "pop": {}})
    assert fields_of(info.value) == ["pop.adults"]


def test_meta_keywords_and_upper_case_types() -> None:
    schema = normalize_schema(
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "OBJECT",
            "properties": {"q": {"type": "STRING"}},
        }
    )
    assert schema == {
        "type": "object",
        "properties": {"q": {"type": "string"}},
        "additionalProperties": False,
    }


def test_openapi_nullable_is_honoured() -> None:
    schema = normalize_schema(
        {"type": "object", "properties": {"x": {"type": "string", "nullable": True}}}
    )
    assert schema["properties"]["x"]["type"] == ["string", "null"]


# --------------------------------------------------------------------------- the model


def test_model_is_strict_by_default_and_lax_on_request() -> None:
    strict = Tool.from_schema({"name": "f", "parameters": WEATHER})
    with pytest.raises(InvalidArguments) as info:
        strict.validate({"city": "Oslo", "days": "3"})
    assert info.value.details[0]["field"] == "days"
    assert info.value.details[0]["expected"] == "integer"
    lax = Tool.from_schema({"name": "f", "parameters": WEATHER}, strict=False)
    assert lax.validate({"city": "Oslo", "days": "3"}) == {"city": "Oslo", "days": 3}
    assert strict.validate({"city": "Oslo", "days": "3"}, strict=False)["days"] == 3


def test_unknown_keys_are_rejected_at_every_level() -> None:
    schema = {
        "type": "object",
        "properties": {
            "filter": {
                "type": "object",
                "properties": {"field": {"type": "string"}},
                "required": ["field"],
            },
            "rows": {
                "type": "array",
                "items": {"type": "object", "properties": {"id": {"type": "integer"}}},
            },
        },
    }
    tool = Tool.from_schema({"name": "q", "parameters": schema})
    with pytest.raises(InvalidArguments) as info:
        tool.validate({"filter": {"field": "a", "op": "="}, "rows": [{"id": 1, "x": 2}], "z": 0})
    assert sorted(fields_of(info.value)) == ["filter.op", "rows.0.x", "z"]
    # lax mode relaxes types, never unknown keys
    with pytest.raises(InvalidArguments):
        tool.validate({"filter": {"field": "a", "op": "="}}, strict=False)


def test_free_form_objects_accept_any_keys() -> None:
    tool = Tool.from_schema(
        {
            "name": "grades",
            "parameters": {
                "type": "dict",
                "properties": {
                    "gradeDict": {"type": "dict", "description": "subject -> score"},
                    "weights": {"type": "object", "additionalProperties": {"type": "number"}},
                },
                "required": ["gradeDict"],
            },
        }
    )
    args = {"gradeDict": {"math": 90, "art": [1, 2]}, "weights": {"math": 0.5}}
    assert tool.validate(args) == args
    with pytest.raises(InvalidArguments) as info:
        tool.validate({"gradeDict": {}, "weights": {"math": "high"}})
    assert fields_of(info.value) == ["weights.math"]


def test_awkward_property_names_keep_their_names() -> None:
    names = ["schema", "model_config", "copy", "json", "from", "class", "first-name", "_x", "2nd"]
    schema = {
        "type": "object",
        "properties": {n: {"type": "string"} for n in names},
        "required": names,
    }
    tool = Tool.from_schema({"name": "f", "parameters": schema})
    args = {n: n.upper() for n in names}
    assert tool.validate(args) == args
    with pytest.raises(InvalidArguments) as info:
        tool.validate({**args, "schema": 1})
    assert fields_of(info.value) == ["schema"]


def test_optional_fields_keep_defaults_in_the_model() -> None:
    model = model_from_json_schema(WEATHER, name="Weather", strict=True)
    assert model.model_validate({"city": "x"}).days == 3  # type: ignore[attr-defined]
    tool = Tool.from_schema({"name": "w", "parameters": WEATHER})
    assert tool.validate({"city": "x"}) == {"city": "x"}  # only what was given


def test_refs_anyof_and_recursion() -> None:
    schema = {
        "type": "object",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "value": {"type": "integer"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
                "required": ["value"],
            },
            "Unit": {"type": "string", "enum": ["c", "f"]},
        },
        "properties": {
            "tree": {"$ref": "#/$defs/Node"},
            "unit": {"$ref": "#/$defs/Unit"},
            "limit": {"anyOf": [{"type": "integer"}, {"type": "string", "enum": ["all"]}]},
        },
        "required": ["tree"],
    }
    tool = Tool.from_schema({"name": "t", "parameters": schema})
    args = {"tree": {"value": 1, "children": [{"value": 2, "children": []}]}, "unit": "c"}
    assert tool.validate({**args, "limit": 5}) == {**args, "limit": 5}
    assert tool.validate({**args, "limit": "all"})["limit"] == "all"
    with pytest.raises(InvalidArguments) as info:
        tool.validate(
            {"tree": {"value": 1, "children": [{"value": "2"}]}, "unit": "k", "limit": "some"}
        )
    details = {d["field"]: d for d in info.value.details}
    assert set(details) == {"tree.children.0.value", "unit", "limit"}
    # one detail for the union, naming both alternatives
    assert "integer" in details["limit"]["expected"]
    assert "all" in details["limit"]["expected"]


def test_external_refs_are_a_configuration_error() -> None:
    schema = {"type": "object", "properties": {"x": {"$ref": "https://example.com/x.json"}}}
    with pytest.raises(ConfigurationError, match="local"):
        Tool.from_schema({"name": "f", "parameters": schema})


def test_constraints_are_enforced() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1, "maximum": 10},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        },
    }
    tool = Tool.from_schema({"name": "f", "parameters": schema})
    assert tool.validate({"n": 10, "code": "NOK", "tags": ["a"]}) == {
        "n": 10,
        "code": "NOK",
        "tags": ["a"],
    }
    with pytest.raises(InvalidArguments) as info:
        tool.validate({"n": 11, "code": "nok", "tags": ["a", "b", "c"]})
    assert sorted(fields_of(info.value)) == ["code", "n", "tags"]


# --------------------------------------------------------------------------- strict export


def test_strict_export_of_a_foreign_schema_validates_what_obeys_it() -> None:
    schema = {
        "type": "dict",
        "properties": {
            "city": {"type": "string"},
            "opts": {
                "type": "dict",
                "properties": {"units": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["days"],
            },
        },
        "required": ["city"],
    }
    tool = Tool.from_schema({"name": "weather.get", "parameters": schema})
    exported = tool.to_openai()["function"]
    assert exported["strict"] is True
    params = exported["parameters"]
    assert params["required"] == ["city", "opts"]
    assert params["properties"]["opts"]["type"] == ["object", "null"]
    assert params["properties"]["opts"]["required"] == ["units", "days"]
    # what a model obeying the strict schema sends: every key, nulls for optionals
    assert tool.validate({"city": "Oslo", "opts": None}) == {"city": "Oslo"}
    assert tool.validate({"city": "Oslo", "opts": {"units": None, "days": 2}}) == {
        "city": "Oslo",
        "opts": {"days": 2},
    }
    with pytest.raises(InvalidArguments) as info:
        tool.validate({"city": None, "opts": {"units": None, "days": None}})
    assert sorted(fields_of(info.value)) == ["city", "opts.days"]


# --------------------------------------------------------------------------- names


def test_dotted_names_export_valid_names_and_map_back() -> None:
    seen: list[int] = []

    def factorial(number: int) -> int:
        seen.append(number)
        out = 1
        for i in range(2, number + 1):
            out *= i
        return out

    definition = {
        "name": "math.factorial",
        "description": "Factorial.",
        "parameters": {
            "type": "dict",
            "properties": {"number": {"type": "integer"}},
            "required": ["number"],
        },
    }
    tool = Tool.from_schema(definition, factorial)
    assert tool.name == "math.factorial"
    assert tool.export_name == "math_factorial"
    assert tool.to_openai()["function"]["name"] == "math_factorial"
    assert tool.to_anthropic()["name"] == "math_factorial"
    assert tool.to_mcp()["name"] == "math.factorial"
    runtime = Runtime([tool])
    outcome = runtime.call("math_factorial", {"number": 5})
    assert outcome.ok, outcome.text
    assert outcome.value == 120
    assert runtime.call("math.factorial", '{"number": 4}').value == 24
    assert seen == [5, 4]
    bad = runtime.call("math_factorial", {"number": "5"})
    assert not bad.ok
    assert bad.error is not None
    assert bad.error.type == "InvalidArguments"
    assert bad.error.details[0]["field"] == "number"


async def test_dotted_names_map_back_on_the_async_path_too() -> None:
    async def hypot(x: float, y: float) -> float:
        return float((x * x + y * y) ** 0.5)

    definition = {
        "name": "math.hypot",
        "parameters": {
            "type": "dict",
            "properties": {"x": {"type": "float"}, "y": {"type": "float"}},
            "required": ["x", "y"],
        },
    }
    runtime = Runtime([Tool.from_schema(definition, hypot)])
    outcome = await runtime.acall("math_hypot", '{"x": 3, "y": 4}')
    assert outcome.ok, outcome.text
    assert outcome.value == 5.0
    assert outcome.text == "5.0"
    bad = await runtime.acall("math_hypot", {"x": 3})
    assert bad.error is not None and bad.error.details[0]["field"] == "y"


def test_a_schema_only_tool_validates_but_cannot_run() -> None:
    tool = Tool.from_schema({"name": "f", "parameters": WEATHER})
    assert not tool.runnable
    with pytest.raises(ConfigurationError):
        Runtime([tool])
