"""Validating a model's arguments: strict by default, every problem named, malformed JSON
explained, opt-in repair that says what it did, and properties over generated schemas."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict
from typing_extensions import TypedDict

import toolsafe
from toolsafe import InvalidArguments, Tool
from toolsafe._repair import diagnose, repair_json


class Window(BaseModel):
    start: str
    end: str | None = None


@toolsafe.tool
def search(
    query: str,
    limit: int = 10,
    tags: list[str] | None = None,
    exact: bool = False,
    window: Window | None = None,
    mode: Literal["fast", "deep"] = "fast",
) -> str:
    """Search the index."""
    return query


@toolsafe.tool(repair=True)
def search_repairing(query: str, limit: int = 10, tags: list[str] | None = None) -> str:
    """Search, repairing malformed arguments."""
    return query


def rejected(tool: Tool, arguments: Any, **kwargs: Any) -> InvalidArguments:
    with pytest.raises(InvalidArguments) as info:
        tool.validate(arguments, **kwargs)
    return info.value


# --------------------------------------------------------------------------- strictness


def test_valid_arguments_come_back_parsed_with_defaults() -> None:
    args = search.validate({"query": "q", "window": {"start": "2024-01-01"}})
    assert args == {
        "query": "q",
        "limit": 10,
        "tags": None,
        "exact": False,
        "window": Window(start="2024-01-01"),
        "mode": "fast",
    }


def test_details_list_every_problem() -> None:
    exc = rejected(
        search,
        {"limit": "3", "exact": "yes", "mode": "slow", "window": {"begin": "x"}, "page": 2},
    )
    by_field = {d["field"]: d for d in exc.details}
    assert set(by_field) == {
        "query",
        "limit",
        "exact",
        "mode",
        "window.start",
        "window.begin",
        "page",
    }
    assert by_field["query"]["expected"] == "a value (required field)"
    assert by_field["query"]["received"] == "nothing"
    assert by_field["limit"]["expected"] == "integer"
    assert by_field["limit"]["received"] == '"3" (string)'
    assert by_field["exact"]["expected"] == "boolean"
    assert "fast" in by_field["mode"]["expected"] and "deep" in by_field["mode"]["expected"]
    assert by_field["page"]["expected"].startswith("no such field (allowed: query, limit")
    assert by_field["window.begin"]["expected"] == "no such field (allowed: start, end)"
    for detail in exc.details:
        assert set(detail) >= {"field", "expected", "received", "message"}
    assert "7 problems" in str(exc)
    assert exc.hint is not None and "search" in exc.hint


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"query": "q", "limit": 3.5}, "limit"),  # a fraction is no integer (3.0 is one)
        ({"query": "q", "limit": True}, "limit"),  # a bool is not an integer
        ({"query": 5}, "query"),  # no silent int -> str
        ({"query": "q", "exact": 1}, "exact"),
        ({"query": "q", "tags": "a,b"}, "tags"),
        ({"query": "q", "tags": ["a", 2]}, "tags.1"),
    ],
)
def test_strict_by_default_no_coercion(arguments: dict[str, Any], field: str) -> None:
    exc = rejected(search, arguments)
    assert [d["field"] for d in exc.details] == [field]


def test_lax_mode_coerces_but_still_rejects_unknown_keys() -> None:
    assert search.validate({"query": "q", "limit": "3"}, strict=False)["limit"] == 3
    lax = search.with_options(strict=False)
    assert lax.validate({"query": "q", "limit": "3", "exact": "true"})["exact"] is True
    exc = rejected(lax, {"query": "q", "window": {"start": "x", "tz": "UTC"}, "pages": 1})
    assert sorted(d["field"] for d in exc.details) == ["pages", "window.tz"]


def test_strict_openai_shaped_call_validates() -> None:
    """All keys present, null for what is left out: what strict mode makes a model send."""
    params = search.to_openai()["function"]["parameters"]
    assert params["required"] == list(params["properties"])
    call = {
        "query": "q",
        "limit": None,
        "tags": None,
        "exact": None,
        "window": {"start": "s", "end": None},
        "mode": None,
    }
    assert set(call) == set(params["properties"])
    args = search.validate(call)
    assert args["limit"] == 10 and args["exact"] is False and args["mode"] == "fast"
    assert args["window"] == Window(start="s", end=None)


def test_null_for_a_required_field_is_still_an_error() -> None:
    exc = rejected(search, {"query": None})
    assert exc.details[0]["field"] == "query"
    assert exc.details[0]["received"] == "null (null)"


class Paging(BaseModel):
    size: int = 20
    cursor: str | None = None


class Filters(BaseModel):
    paging: Paging
    kinds: list[Paging] = []


@toolsafe.tool
def listing(filters: Filters) -> str:
    return "ok"


def test_nested_defaults_accept_null_as_not_given() -> None:
    exported = listing.to_openai()
    assert exported["function"]["strict"] is True
    args = listing.validate(
        {
            "filters": {
                "paging": {"size": None, "cursor": None},
                "kinds": [{"size": None, "cursor": "c"}],
            }
        }
    )
    assert args["filters"].paging == Paging(size=20, cursor=None)
    assert args["filters"].kinds == [Paging(size=20, cursor="c")]
    exc = rejected(listing, {"filters": {"paging": None}})
    assert [d["field"] for d in exc.details] == ["filters.paging"]


def test_arguments_as_json_text_and_bytes() -> None:
    assert search.validate('{"query": "q", "limit": 2}')["limit"] == 2
    assert search.validate(b'{"query": "q"}')["query"] == "q"
    assert search.validate(bytearray(b'{"query": "q"}'))["query"] == "q"
    for blank in ("", "  \n"):  # blank text means no arguments; query is required
        assert [d["field"] for d in rejected(search, blank).details] == ["query"]


def test_any_mapping_is_accepted() -> None:
    from types import MappingProxyType

    assert search.validate(MappingProxyType({"query": "q"}))["query"] == "q"


class OpenMeta(BaseModel):
    model_config = ConfigDict(extra="allow")
    source: str


class Point(TypedDict):
    x: int
    y: int


@toolsafe.tool
def annotate(meta: OpenMeta) -> str:
    return meta.source


@toolsafe.tool
def plot(point: Point) -> str:
    return "ok"


def test_a_model_that_allows_extra_keys_keeps_them() -> None:
    assert annotate.validate({"meta": {"source": "s", "page": 3}})["meta"].page == 3
    assert annotate.to_openai()["function"]["strict"] is False


def test_typed_dicts_reject_unknown_keys_too() -> None:
    assert plot.validate({"point": {"x": 1, "y": 2}}) == {"point": {"x": 1, "y": 2}}
    exc = rejected(plot, {"point": {"x": 1, "y": 2, "z": 3}})
    assert exc.details[0]["field"] == "point.z"
    assert exc.details[0]["expected"] == "no such field (allowed: x, y)"


def test_non_object_arguments() -> None:
    for raw in ("[1, 2]", '"query"', "3", [1, 2], 3):
        exc = rejected(search, raw)
        assert exc.details[0]["field"] == ""
        assert "object" in exc.details[0]["expected"]


# --------------------------------------------------------------------------- malformed JSON


MALFORMED = [
    ('{"query": "weather in Os', "truncated"),
    ('{"query": "q", "tags": ["a", "b"', "truncated (2 unclosed brackets)"),
    (
        '{"query": "q"} I hope this helps!',
        "trailing text after the JSON value: 'I hope this helps!'",
    ),
    ('{"query": "q"}{"query": "r"}', "trailing text"),
    ('{"query": "q", // the search\n "limit": 3}', "comments"),
    ('{"query": "q", /* n */ "limit": 3}', "comments"),
    ('{"query": "q", "exact": True}', "Python literals (True/False/None)"),
    ('{"query": "q", "tags": None}', "Python literals (True/False/None)"),
    ("{'query': 'q'}", "single-quoted strings"),
    ('{"query": "q", "limit": 3,}', "trailing comma"),
    ('```json\n{"query": "q"}\n```', "Markdown code fence"),
    ('Here are the arguments: {"query": "q"}', "text before the JSON value"),
    ("{query: 'q'}", "object keys must be double-quoted"),
    ('{"query": "line\nbreak"}', "control characters"),
    ('"{\\"query\\": \\"q\\"}"', "double-encoded"),
]


@pytest.mark.parametrize(("text", "words"), MALFORMED)
def test_malformed_json_gets_a_specific_message(text: str, words: str) -> None:
    exc = rejected(search, text)
    assert len(exc.details) == 1
    detail = exc.details[0]
    assert detail["field"] == ""
    assert detail["received"].startswith("malformed JSON: ")
    assert words in detail["message"], detail["message"]
    assert words in str(exc)


def test_unknown_breakage_still_says_where() -> None:
    exc = rejected(search, '{"query": "q" "limit": 3}')
    assert "char" in exc.details[0]["message"]


def test_list_repr_inside_a_string_is_explained() -> None:
    exc = rejected(search, {"query": "q", "tags": "['a', 'b']"})
    detail = exc.details[0]
    assert detail["field"] == "tags"
    assert "string holding a list repr" in detail["received"]
    assert "send a JSON array" in detail["message"]
    exc = rejected(search, {"query": "q", "window": '{"start": "x"}'})
    assert "string holding a dict repr" in exc.details[0]["message"]


# --------------------------------------------------------------------------- repair mode


@pytest.mark.parametrize(("text", "words"), MALFORMED)
def test_repair_mode_fixes_and_reports_each_case(text: str, words: str) -> None:
    args, repairs = search.validate_with_repairs(text, repair=True)
    assert args["query"] in ("q", "weather in Os", "line\nbreak")
    assert repairs, "a repair must always be reported"


@pytest.mark.parametrize(
    ("text", "value", "repair"),
    [
        ('{"query": "q", "tags": ["a", "b"', {"query": "q", "tags": ["a", "b"]}, "closed 2 unclosed brackets"),
        ('{"query": "q", "limit": ', {"query": "q"}, "dropped an incomplete last member"),
        ('{"query": "we', {"query": "we"}, "closed an unterminated string"),
        ('{"query": "q"} thanks', {"query": "q"}, "removed trailing text"),
        ('{"query": "q", # c\n "limit": 2}', {"query": "q", "limit": 2}, "removed comments"),
        ("{'query': 'it\\'s', 'exact': True}", {"query": "it's", "exact": True}, "single-quoted"),
        ('{"query": "q", "exact": False, "tags": None}', {"query": "q", "exact": False, "tags": None}, "Python literals"),
        ('{"query": "q",}', {"query": "q"}, "removed trailing commas"),
        ("```\n{\"query\": \"q\"}\n```", {"query": "q"}, "removed a Markdown code fence"),
        ("{'query': 'q', 'tags': ('a', 'b'), 'limit': 0x10}", {"query": "q", "tags": ["a", "b"], "limit": 16}, "Python literal"),
    ],
)  # fmt: skip
def test_repair_json_values_and_descriptions(text: str, value: dict[str, Any], repair: str) -> None:
    fixed = repair_json(text)
    assert fixed is not None
    assert fixed[0] == value
    assert any(repair in r for r in fixed[1]), fixed[1]


def test_repair_is_opt_in() -> None:
    text = '{"query": "q", "tags": None}'
    rejected(search, text)
    assert search_repairing.validate(text) == {"query": "q", "limit": 10, "tags": None}
    args, repairs = search_repairing.validate_with_repairs("{'query': 'q'}")
    assert args["query"] == "q"
    assert repairs == ["converted single-quoted strings to double-quoted"]
    rejected(search_repairing, "{'query': 'q'}", repair=False)


def test_repair_parses_list_reprs_in_string_fields_and_reports_it() -> None:
    args, repairs = search.validate_with_repairs(
        {"query": "q", "tags": "['a', 'b']", "window": '{"start": "s"}'}, repair=True
    )
    assert args["tags"] == ["a", "b"]
    assert args["window"] == Window(start="s")
    assert sorted(repairs) == [
        "parsed field 'tags' from a string holding a list repr into an array",
        "parsed field 'window' from a string holding a dict repr into an object",
    ]
    # a string field that happens to hold brackets is left alone
    assert search.validate({"query": "[1, 2]"}, repair=True)["query"] == "[1, 2]"


def test_repair_does_not_loosen_types() -> None:
    exc = rejected(search, '{"query": "q", "limit": "3",}', repair=True)
    assert [d["field"] for d in exc.details] == ["limit"]
    assert exc.repairs == ["removed trailing commas"]


def test_the_callers_dict_is_never_modified() -> None:
    original = {"query": "q", "tags": "['a']", "limit": None}
    snapshot = json.dumps(original)
    search.validate(original, repair=True)
    assert json.dumps(original) == snapshot


def test_hopeless_text_is_not_repaired() -> None:
    assert repair_json("not json at all") is None
    assert repair_json("{'a': object()}") is None
    exc = rejected(search, "not json at all", repair=True)
    assert exc.details[0]["received"].startswith("malformed JSON")


def test_diagnose_names_every_problem() -> None:
    problems = diagnose("```json\n{'a': True, // c\n 'b': [1, 2,\n```")
    text = " | ".join(problems)
    for words in ("code fence", "single-quoted", "Python literals", "comments", "truncated"):
        assert words in text


# --------------------------------------------------------------------------- properties

NAMES = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    st.sampled_from(["schema", "model_name", "from", "copy", "first-name", "2nd", "_x", "json"]),
)

LEAVES = st.one_of(
    st.just({"type": "string"}),
    st.just({"type": "integer"}),
    st.just({"type": "number"}),
    st.just({"type": "boolean"}),
    st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4, unique=True).map(
        lambda values: {"type": "string", "enum": values}
    ),
)


def _object(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(NAMES, children, min_size=1, max_size=4).flatmap(
        lambda props: st.lists(st.sampled_from(sorted(props)), unique=True).map(
            lambda required: {"type": "object", "properties": props, "required": required}
        )
    )


SCHEMAS = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        children.map(lambda items: {"type": "array", "items": items}), _object(children)
    ),
    max_leaves=8,
)
TOP = _object(SCHEMAS)


def values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema["type"]
    if kind == "string":
        return st.text(max_size=10)
    if kind == "integer":
        return st.integers()
    if kind == "number":
        return st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False))
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(values(schema["items"]), max_size=3)
    required = {n: values(schema["properties"][n]) for n in schema["required"]}
    optional = {
        n: values(s) for n, s in schema["properties"].items() if n not in schema["required"]
    }
    return st.fixed_dictionaries(required, optional=optional)


def wrong(schema: dict[str, Any]) -> Any:
    """A value of a JSON type the schema does not admit."""
    kind = schema["type"]
    return {
        "string": 12345,
        "integer": "12",
        "number": "1.5",
        "boolean": "true",
        "array": "[]",
        "object": ["not", "an", "object"],
    }[kind]


cases = TOP.flatmap(lambda schema: st.tuples(st.just(schema), values(schema)))
settings_ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings_
@given(case=cases)
def test_generated_valid_arguments_always_validate(case: tuple[dict[str, Any], Any]) -> None:
    schema, args = case
    tool = Tool.from_schema({"name": "gen", "parameters": schema})
    result = tool.validate(args)
    assert result == args
    assert tool.validate(json.dumps(args)) == result
    # every key named as sent, even the awkward ones
    assert sorted(result) == sorted(args)


@settings_
@given(case=cases, data=st.data())
def test_any_mutation_is_rejected_naming_the_field(
    case: tuple[dict[str, Any], Any], data: st.DataObject
) -> None:
    schema, args = case
    tool = Tool.from_schema({"name": "gen", "parameters": schema})
    path, node_schema, node = data.draw(st.sampled_from(list(_objects(schema, args, ()))))
    mutation = data.draw(st.sampled_from(["wrong type", "unknown key", "missing"]))
    mutated = json.loads(json.dumps(args))
    target = mutated
    for part in path:
        target = target[part]
    if mutation == "missing" and node_schema["required"]:
        name = data.draw(st.sampled_from(node_schema["required"]))
        del target[name]
        expected_path = [*path, name]
    elif mutation == "wrong type" and node:
        name = data.draw(st.sampled_from(sorted(node)))
        target[name] = wrong(node_schema["properties"][name])
        expected_path = [*path, name]
    else:
        target["zz_unknown"] = 1
        expected_path = [*path, "zz_unknown"]
    with pytest.raises(InvalidArguments) as info:
        tool.validate(mutated)
    assert [d["field"] for d in info.value.details] == [".".join(map(str, expected_path))]


def _objects(schema: dict[str, Any], value: Any, path: tuple[Any, ...]) -> Any:
    """(path, object schema, object value) for every object in a valid value."""
    if schema.get("type") == "object":
        yield path, schema, value
        for name, sub in value.items():
            yield from _objects(schema["properties"][name], sub, (*path, name))
    elif schema.get("type") == "array":
        for index, item in enumerate(value):
            yield from _objects(schema["items"], item, (*path, index))


@settings(max_examples=80, deadline=None)
@given(
    args=st.fixed_dictionaries(
        {"query": st.text(max_size=20)},
        optional={
            "limit": st.integers(),
            "tags": st.one_of(st.none(), st.lists(st.text(max_size=5), max_size=3)),
            "exact": st.booleans(),
            "mode": st.sampled_from(["fast", "deep"]),
            "window": st.fixed_dictionaries(
                {"start": st.text(max_size=5)}, optional={"end": st.none() | st.text(max_size=5)}
            ),
        },
    )
)
def test_signature_tool_accepts_every_valid_call(args: dict[str, Any]) -> None:
    result = search.validate(json.dumps(args))
    for key, value in args.items():
        if key == "window":
            assert result[key] == Window(**value)
        else:
            assert result[key] == value


# --------------------------------------------------------------------------- hygiene (issue 12)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"query": "a\udcff"}, "query"),
        ({"query": "q", "tags": ["ok", "\ud800"]}, "tags.1"),
        ({"query": "q", "k\udcff": 1}, "k\\udcff"),  # a key, with a plain value
        ({"query": "q", "window": {"start": "x", "end": "\udc80"}}, "window.end"),
        ('{"query": "a\\udcff"}', "query"),
    ],
)
def test_lone_surrogates_are_rejected_by_field_in_strict_mode(arguments: Any, field: str) -> None:
    exc = rejected(search, arguments)
    assert exc.details[0]["field"] == field
    assert "lone surrogate" in exc.details[0]["received"]


def test_depth_and_size_limits_name_the_problem() -> None:
    exc = rejected(search, '{"query": ' + "[" * 10_000 + "]" * 10_000 + "}")
    assert "nested too deeply" in exc.details[0]["message"]
    exc = rejected(search, '{"limit": -' + "1" * 4301 + "}")
    assert exc.details[0]["message"] == (
        "a number of 4,301 digits at char 11: at most 4,300 digits are accepted"
    )
    assert search.validate('{"query": "q", "limit": ' + "1" * 4300 + "}")["limit"] > 0


def test_integral_floats_become_ints_where_an_integer_is_wanted_only() -> None:
    args = search.validate({"query": "q", "limit": 7.0})
    assert args["limit"] == 7 and type(args["limit"]) is int
    assert rejected(search, {"query": 1.0}).details[0]["field"] == "query"  # no float -> str
    original = {"query": "q", "limit": 7.0}
    search.validate(original)
    assert type(original["limit"]) is float  # the caller's dict is not changed


def test_argument_bytes_must_be_utf8_in_strict_mode() -> None:
    assert search.validate(b'{"query": "caf\xc3\xa9"}')["query"] == "café"
    exc = rejected(search, b'{"query": "caf\xe9"}')
    assert exc.details[0]["received"] == "the bytes are not valid UTF-8 (at byte 14)"
    assert search.validate(b'{"query": "caf\xe9"}', strict=False)["query"] == "caf\ufffd"
