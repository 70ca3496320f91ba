"""Contract checks at definition: every problem with a tool is reported at once, up front."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

import toolsafe
from toolsafe import CallContext, ConfigurationError, Runtime, Tool


def problems_of(target: Any) -> list[str]:
    with pytest.raises(ConfigurationError) as info:
        toolsafe.tool(target)
    return info.value.problems


# --------------------------------------------------------------------------- function tools


def test_function_signature_problems_are_reported_together() -> None:
    def bad(query, *args: str, limit: int = 3, sock: socket.socket, **kwargs: Any) -> str:  # type: ignore[no-untyped-def]
        return ""

    problems = problems_of(bad)
    assert len(problems) == 4
    text = "\n".join(problems)
    assert "'query' has no type annotation" in text
    assert "'*args'" in text and "*args cannot be expressed" in text
    assert "'**kwargs'" in text
    assert "'sock'" in text and "socket" in text and "cannot be expressed in JSON Schema" in text
    with pytest.raises(ConfigurationError) as info:
        toolsafe.tool(bad)
    assert "4 problems" in str(info.value)
    assert info.value.subject is not None and "Bad" in info.value.subject


def test_a_context_parameter_is_not_part_of_the_schema() -> None:
    @toolsafe.tool
    def traced(query: str, ctx: CallContext) -> str:
        return f"{query}:{ctx.tool.name}"

    assert list(traced.json_schema["properties"]) == ["query"]
    outcome = Runtime([traced]).call("traced", {"query": "q"})
    assert outcome.value == "q:traced"


def test_reserved_parameter_names_keep_their_names() -> None:
    @toolsafe.tool
    def reserved(schema: str, model_config: int = 0, copy: bool = False) -> str:
        return f"{schema}/{model_config}/{copy}"

    assert sorted(reserved.json_schema["properties"]) == ["copy", "model_config", "schema"]
    outcome = Runtime([reserved]).call("reserved", {"schema": "s", "model_config": 2})
    assert outcome.value == "s/2/False"


def test_passing_a_class_instead_of_an_instance() -> None:
    class Thing:
        def run(self, x: int) -> int:
            return x

    with pytest.raises(ConfigurationError, match="pass an instance"):
        toolsafe.tool(Thing)


def test_unknown_tool_options_are_rejected() -> None:
    def f(x: int) -> int:
        return x

    with pytest.raises(ConfigurationError, match="unknown tool option 'timout'"):
        toolsafe.tool(timout=3)(f)


# --------------------------------------------------------------------------- class-based tools


class SearchArgs(BaseModel):
    text: str = Field(description="What to look for.")
    limit: int = 10


class MismatchedSearch:
    name = "search"
    description = "Search the index."
    args_schema = SearchArgs

    def _run(self, query: str, limit: int = 10) -> str:
        return query


def test_schema_field_and_run_parameter_names_must_match() -> None:
    problems = problems_of(MismatchedSearch())
    assert problems == [
        "args_schema declares 'text' but the run method has no parameter 'text' "
        "(did you mean 'query'?)",
        "the run method requires 'query' but args_schema does not declare it "
        "(did you mean 'text'?)",
    ]
    with pytest.raises(ConfigurationError) as info:
        toolsafe.tool(MismatchedSearch())
    assert info.value.subject == "search"


class RequiredArgs(BaseModel):
    text: str
    limit: int


class DefaultsDisagree:
    name = "defaults"
    args_schema = RequiredArgs

    def _run(self, text: str = "", *, limit: int) -> str:
        return text


class OptionalArgs(BaseModel):
    text: str
    limit: int = 5


class RequiredInCode:
    name = "required"
    args_schema = OptionalArgs

    def _run(self, text: str, limit: int) -> str:
        return text


def test_required_versus_default_both_ways() -> None:
    # The schema stricter than the code is harmless (every call passes the field): a warning.
    message = "'text' is required in args_schema but has a default in the run method"
    with pytest.warns(UserWarning, match="'text' is required in args_schema"):
        lenient = toolsafe.tool(DefaultsDisagree())
    assert lenient.warnings == (message,)
    assert Runtime([lenient]).call("defaults", {"text": "hi", "limit": 2}).value == "hi"
    # The other way round too: the run method gets the schema's default.
    with pytest.warns(UserWarning, match="'limit' is optional in args_schema"):
        required = toolsafe.tool(RequiredInCode())
    assert required.warnings == (
        "'limit' is optional in args_schema but required by the run method "
        "(the schema's default is passed)",
    )
    assert Runtime([required]).call("required", {"text": "a"}).value == "a"


def test_contract_warn_is_the_opt_out_for_code_you_cannot_edit() -> None:
    with pytest.warns(UserWarning) as record:
        tool = toolsafe.tool(MismatchedSearch(), contract="warn")
    assert [str(w.message) for w in record] == [
        f"toolsafe: tool 'search': {m}" for m in tool.warnings
    ]
    assert len(tool.warnings) == 2 and "declares 'text' but" in tool.warnings[0]
    crashed = Runtime([tool]).call("search", {"text": "a"})  # the mismatch, hit: structured
    assert crashed.error is not None and crashed.error.type == "TypeError"
    with pytest.raises(ConfigurationError, match="contract='loose'"):
        toolsafe.tool(MismatchedSearch(), contract="loose")


class TypedArgs(BaseModel):
    count: int
    ratio: float


class TypesDisagree:
    name = "types"
    args_schema = TypedArgs

    def _run(self, count: str, ratio: float) -> str:
        return count


def test_simple_types_must_agree() -> None:
    assert problems_of(TypesDisagree()) == [
        "'count' is int in args_schema but str in the run method"
    ]


class SocketArgs(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    host: str
    sock: socket.socket


class EverythingWrong:
    name = "broken"
    args_schema = SocketArgs

    def _run(self, host: str = "", *, conn: socket.socket, query: str) -> str:
        return host


def test_all_class_tool_problems_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        toolsafe.tool(EverythingWrong())
    problems = info.value.problems
    assert len(problems) == 4, problems  # 'host' required vs defaulted is only a warning
    text = "\n".join(problems)
    assert "args_schema field 'sock' has type socket" in text
    assert "args_schema declares 'sock' but the run method has no parameter 'sock'" in text
    assert "the run method requires 'conn'" in text
    assert "the run method requires 'query'" in text
    assert str(info.value).startswith("broken: 4 problems:")


class KwargsTool:
    """Reads whatever the schema declares through **kwargs (a common framework pattern)."""

    name = "kw"
    args_schema = SearchArgs

    def _run(self, *args: Any, **kwargs: Any) -> str:
        return f"{kwargs['text']}:{kwargs['limit']}"


def test_kwargs_run_method_with_a_schema_is_fine() -> None:
    tool = toolsafe.tool(KwargsTool())
    assert tool.json_schema["properties"]["text"]["description"] == "What to look for."
    assert Runtime([tool]).call("kw", {"text": "q"}).value == "q:10"


class UntypedRun:
    name = "untyped"
    args_schema = SearchArgs

    def _run(self, text, limit=10):  # type: ignore[no-untyped-def]
        return f"{text}:{limit}"


def test_unannotated_run_parameters_take_types_from_the_schema() -> None:
    tool = toolsafe.tool(UntypedRun())
    assert Runtime([tool]).call("untyped", {"text": "q", "limit": 2}).value == "q:2"
    with pytest.raises(toolsafe.InvalidArguments):
        tool.validate({"text": "q", "limit": "2"})


class NoSchemaTool:
    """Counts words.

    Args:
        text: The text to count.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def run(self, text: str, minimum: int = 1) -> int:
        return sum(1 for word in text.split() if len(word) >= minimum)


def test_class_tool_without_schema_uses_the_run_signature() -> None:
    tool = toolsafe.tool(NoSchemaTool())
    assert tool.name == "no_schema_tool"
    assert tool.description == "Counts words."
    assert tool.json_schema["properties"]["text"]["description"] == "The text to count."
    assert Runtime([tool]).call("no_schema_tool", {"text": "a bb ccc", "minimum": 2}).value == 2


class NoSchemaBadRun:
    def run(self, text, *rest: Any, **options: Any) -> str:  # type: ignore[no-untyped-def]
        return ""


def test_class_tool_without_schema_needs_an_expressible_run_signature() -> None:
    problems = problems_of(NoSchemaBadRun())
    assert len(problems) == 3
    assert any("'text' has no type annotation" in p for p in problems)
    assert any("'*rest'" in p for p in problems)
    assert any("'**options'" in p for p in problems)


def test_no_run_method() -> None:
    class Nothing:
        name = "nothing"

    with pytest.raises(ConfigurationError, match="no run method found"):
        toolsafe.tool(Nothing())


class StrictSchemaTool:
    name = "strict"
    args_schema = SearchArgs

    def _run(self, text: str, limit: int = 10) -> str:
        return text


def test_a_users_args_schema_is_made_strict_without_changing_it() -> None:
    tool = toolsafe.tool(StrictSchemaTool())
    with pytest.raises(toolsafe.InvalidArguments) as info:
        tool.validate({"text": "q", "extra": 1, "limit": "3"})
    assert sorted(d["field"] for d in info.value.details) == ["extra", "limit"]
    assert SearchArgs.model_validate({"text": "q", "extra": 1}).text == "q"  # untouched
    assert SearchArgs.model_config.get("extra") is None


def test_from_schema_validator_only() -> None:
    tool = Tool.from_schema({"name": "v", "parameters": {"type": "object", "properties": {}}})
    assert not tool.runnable
    with pytest.raises(ConfigurationError, match="only validates"):
        tool()
