"""Pydantic AI adapter, proven with a real Agent driven by FunctionModel (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip(
    "pydantic_ai", reason="needs the pydantic-ai extra (make test runs it in .venv-latest)"
)

from _agent_tools import AgentTools, fresh
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

import toolsafe
from toolsafe import Runtime, parse_tool_error
from toolsafe.integrations.pydantic_ai import ToolsafeToolset


class Script:
    """A model that plays scripted turns and keeps what each tool call got back."""

    def __init__(self, *turns: list[ToolCallPart] | str) -> None:
        self.turns = list(turns)
        self.returns: dict[str, Any] = {}
        self.outcomes: dict[str, str] = {}
        self.tool_defs: list[Any] = []

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.tool_defs = list(info.function_tools)
        for part in messages[-1].parts:
            call_id = getattr(part, "tool_call_id", None)
            if call_id and getattr(part, "part_kind", "") != "tool-call":
                self.returns[call_id] = part.content
                self.outcomes[call_id] = getattr(part, "outcome", "")
        turn = self.turns.pop(0)
        if isinstance(turn, str):
            return ModelResponse(parts=[TextPart(turn)])
        return ModelResponse(parts=list(turn))


@pytest.fixture
def agent_tools() -> Iterator[AgentTools]:
    yield from fresh()


def _run(agent: Agent[Any, Any], mode: str) -> Any:
    if mode == "sync":
        return agent.run_sync("go")
    return asyncio.run(agent.run("go"))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_turns_parallel_calls_hang_retry_and_trim(agent_tools: AgentTools, mode: str) -> None:
    script = Script(
        [ToolCallPart("add", {"a": 2, "b": 3}, tool_call_id="t1")],
        [
            ToolCallPart("explode", {"reason": "this"}, tool_call_id="p2"),
            ToolCallPart("hang", {"query": "q"}, tool_call_id="p3"),
            ToolCallPart("flaky", {"n": 4}, tool_call_id="p4"),
            ToolCallPart("dump", {"size": 10_000_000}, tool_call_id="p5"),
            ToolCallPart("add", {"a": 5}, tool_call_id="p1"),
        ],
        "all done",
    )
    toolset = ToolsafeToolset(agent_tools.tools(), listeners=[agent_tools.listener])
    result = _run(Agent(FunctionModel(script), toolsets=[toolset]), mode)

    assert result.output == "all done"
    got = script.returns
    assert got["t1"] == "5" and got["p1"] == "5"
    failed = parse_tool_error(got["p2"])
    assert failed is not None and failed.type == "ValueError" and not failed.retryable
    hung = parse_tool_error(got["p3"])
    assert hung is not None and hung.type == "TimeoutError" and hung.retryable
    assert not agent_tools.hung_finished.is_set()  # answered while the body still blocks
    assert got["p4"] == "40" and agent_tools.flaky_calls == 3
    assert agent_tools.retry_delays == [0.01, 0.02]
    assert len(got["p5"]) <= 4000 and toolsafe.TRIM_MARKER in got["p5"]
    # The model is shown the closed schema: unknown keys refused.
    add_def = next(d for d in script.tool_defs if d.name == "add")
    assert add_def.parameters_json_schema["additionalProperties"] is False
    assert add_def.parameters_json_schema["required"] == ["a"]


def test_invalid_arguments_use_pydantic_ais_retry_prompt(agent_tools: AgentTools) -> None:
    script = Script(
        [ToolCallPart("add", {"a": "seven"}, tool_call_id="bad")],
        [ToolCallPart("add", '{"a": 1', tool_call_id="truncated")],
        [ToolCallPart("add", {"a": 7}, tool_call_id="good")],
        "fixed",
    )
    agent = Agent(FunctionModel(script), toolsets=[ToolsafeToolset(agent_tools.tools())])
    assert agent.run_sync("go").output == "fixed"
    assert script.outcomes["bad"] == "retried"
    assert "a: expected integer" in str(script.returns["bad"])
    assert "Call 'add' again" in str(script.returns["bad"])
    assert script.outcomes["truncated"] == "retried"
    assert "truncated" in str(script.returns["truncated"])
    assert script.returns["good"] == "7"


def test_retry_budget_for_invalid_arguments_is_pydantic_ais(agent_tools: AgentTools) -> None:
    from pydantic_ai.exceptions import UnexpectedModelBehavior

    bad = [ToolCallPart("add", {"a": "x"}, tool_call_id=f"b{i}") for i in range(4)]
    script = Script(*([call] for call in bad), "never")
    agent = Agent(
        FunctionModel(script), toolsets=[ToolsafeToolset(agent_tools.tools(), max_retries=2)]
    )
    with pytest.raises(UnexpectedModelBehavior, match="exceeded max retries"):
        agent.run_sync("go")


def test_toolset_shares_a_runtime(agent_tools: AgentTools) -> None:
    runtime = Runtime(agent_tools.tools())
    toolset = ToolsafeToolset(["add"], runtime)
    assert toolset.runtime is runtime and [t.name for t in toolset.tools] == ["add"]
    assert [t.name for t in ToolsafeToolset(runtime).tools] == [
        "add",
        "explode",
        "hang",
        "flaky",
        "dump",
    ]
