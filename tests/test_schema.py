"""Signatures and docstrings to schemas, and the OpenAI / Anthropic / MCP exports."""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

import toolsafe
from toolsafe import Tool
from toolsafe._schema import export_name, parse_docstring, strict_schema

# --------------------------------------------------------------------------- docstrings


def google(city: str, days: int = 3) -> str:
    """Get the weather forecast.

    Uses the public forecast service.

    Args:
        city: The city name.
        days (int): How many days ahead,
            at most ten.

    Returns:
        The forecast text.
    """
    return city


def numpy(city: str, days: int = 3) -> str:
    """Get the weather forecast.

    Uses the public forecast service.

    Parameters
    ----------
    city : str
        The city name.
    days : int
        How many days ahead,
        at most ten.
    """
    return city


def sphinx(city: str, days: int = 3) -> str:
    """Get the weather forecast.

    Uses the public forecast service.

    :param city: The city name.
    :param days: How many days ahead,
        at most ten.
    :returns: The forecast text.
    """
    return city


@pytest.mark.parametrize("fn", [google, numpy, sphinx], ids=["google", "numpy", "sphinx"])
def test_docstring_styles_give_descriptions(fn: Any) -> None:
    tool = Tool.from_function(fn)
    assert tool.description == "Get the weather forecast.\n\nUses the public forecast service."
    props = tool.json_schema["properties"]
    assert props["city"]["description"] == "The city name."
    assert " ".join(props["days"]["description"].split()) == "How many days ahead, at most ten."
    assert "Returns" not in tool.description and "forecast text" not in tool.description


def test_no_docstring_means_empty_description() -> None:
    def bare(x: int) -> int:
        return x

    tool = Tool.from_function(bare)
    assert tool.description == ""
    assert "description" not in tool.json_schema["properties"]["x"]
    assert parse_docstring(None).params == {}


def with_annotated(
    city: Annotated[str, Field(description="City from the annotation.")],
    days: Annotated[int, Field(description="Days.", ge=1, le=10)] = 3,
) -> str:
    """Forecast.

    Args:
        city: City from the docstring.
    """
    return city


def test_annotated_field_descriptions_and_constraints() -> None:
    tool = Tool.from_function(with_annotated)
    props = tool.json_schema["properties"]
    assert props["city"]["description"] == "City from the annotation."  # explicit beats docstring
    assert props["days"] == {
        "default": 3,
        "description": "Days.",
        "maximum": 10,
        "minimum": 1,
        "type": "integer",
    }
    with pytest.raises(toolsafe.InvalidArguments) as info:
        tool.validate({"city": "x", "days": 11})
    assert info.value.details[0]["field"] == "days"


def test_name_and_description_overrides() -> None:
    tool = toolsafe.tool(name="weather.get", description="Custom.")(google)
    assert tool.name == "weather.get"
    assert tool.export_name == "weather_get"
    assert tool.description == "Custom."


@pytest.mark.parametrize(
    ("name", "exported"),
    [
        ("math.factorial", "math_factorial"),
        ("a b/c", "a_b_c"),
        ("ok-name_1", "ok-name_1"),
        ("x" * 80, "x" * 64),
        ("", "tool"),
    ],
)
def test_export_names(name: str, exported: str) -> None:
    assert export_name(name) == exported


# --------------------------------------------------------------------------- exports


class Units(enum.Enum):
    METRIC = "metric"
    IMPERIAL = "imperial"


class Place(BaseModel):
    lat: float
    lon: float
    label: str = ""


@toolsafe.tool
def forecast(
    place: Place,
    days: int = 3,
    units: Units = Units.METRIC,
    detail: Literal["short", "long"] = "short",
    hours: list[int] | None = None,
    note: str | None = None,
) -> str:
    """Forecast for a place."""
    return "ok"


def test_openai_strict_shape() -> None:
    exported = forecast.to_openai()
    assert exported["type"] == "function"
    function = exported["function"]
    assert function["name"] == "forecast"
    assert function["description"] == "Forecast for a place."
    assert function["strict"] is True
    params = function["parameters"]
    assert params["type"] == "object"
    assert params["additionalProperties"] is False
    assert params["required"] == ["place", "days", "units", "detail", "hours", "note"]
    props = params["properties"]
    assert props["place"] == {"$ref": "#/$defs/Place"}  # required: not nullable
    assert props["days"]["type"] == ["integer", "null"]
    assert props["units"] == {"anyOf": [{"$ref": "#/$defs/Units"}, {"type": "null"}]}
    assert props["detail"]["enum"] == ["short", "long", None]
    assert props["detail"]["type"] == ["string", "null"]
    assert props["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    place = params["$defs"]["Place"]
    assert place["additionalProperties"] is False
    assert place["required"] == ["lat", "lon", "label"]
    assert place["properties"]["label"]["type"] == ["string", "null"]

    def no_defaults_or_titles(node: Any) -> None:
        if isinstance(node, dict):
            assert "default" not in node and "title" not in node
            for value in node.values():
                no_defaults_or_titles(value)
        elif isinstance(node, list):
            for value in node:
                no_defaults_or_titles(value)

    no_defaults_or_titles(params)


def test_a_call_obeying_the_strict_export_validates() -> None:
    args = forecast.validate(
        {
            "place": {"lat": 59.9, "lon": 10.7, "label": None},
            "days": None,
            "units": None,
            "detail": None,
            "hours": None,
            "note": None,
        }
    )
    assert args["place"] == Place(lat=59.9, lon=10.7)
    assert (args["days"], args["units"], args["detail"]) == (3, Units.METRIC, "short")
    assert args["note"] is None and args["hours"] is None


def test_free_form_dict_parameter_turns_strict_off() -> None:
    @toolsafe.tool
    def annotate(labels: dict[str, str], text: str) -> str:
        return text

    exported = annotate.to_openai()["function"]
    assert exported["strict"] is False
    params = exported["parameters"]
    assert params["required"] == ["labels", "text"]  # the plain schema, not the strict form
    assert params["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    forced = annotate.to_openai(strict=True)["function"]
    assert forced["strict"] is True


def test_responses_shape_is_flat() -> None:
    flat = forecast.to_openai_responses()
    assert flat["type"] == "function"
    assert flat["name"] == "forecast"
    assert flat["strict"] is True
    assert flat["parameters"] == forecast.to_openai()["function"]["parameters"]


def test_anthropic_and_mcp_exports() -> None:
    anthropic = forecast.to_anthropic()
    assert set(anthropic) == {"name", "description", "input_schema"}
    schema = anthropic["input_schema"]
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["place"]  # the plain schema: optionals are optional
    assert schema["properties"]["days"] == {"default": 3, "type": "integer"}
    assert schema["$defs"]["Place"]["additionalProperties"] is False
    mcp = forecast.to_mcp()
    assert set(mcp) == {"name", "description", "inputSchema"}
    assert mcp["inputSchema"] == schema


def test_dotted_names_in_each_export() -> None:
    tool = toolsafe.tool(name="weather.forecast")(google)
    assert tool.to_openai()["function"]["name"] == "weather_forecast"
    assert tool.to_anthropic()["name"] == "weather_forecast"
    assert tool.to_mcp()["name"] == "weather.forecast"  # MCP names may keep dots


def test_strict_schema_leaves_its_input_alone() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer", "default": 1}},
    }
    strict, compatible = strict_schema(schema)
    assert compatible
    assert strict["properties"]["a"] == {"type": ["integer", "null"]}
    assert schema == {"type": "object", "properties": {"a": {"type": "integer", "default": 1}}}
