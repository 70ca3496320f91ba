"""OpenAI Agents SDK adapter, proven with a real Agent and Runner driven by the SDK's ScriptedModel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip(
    "agents", reason="needs the openai-agents extra (make test runs it in .venv-latest)"
)

from _agent_tools import AgentTools, fresh
from agents import Agent, FunctionTool, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call

import toolsafe
from toolsafe import Retry, Runtime, parse_tool_error
from toolsafe.integrations.openai_agents import from_openai_agents, to_openai_agents

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def _no_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")


def _outputs(result: Any) -> dict[str, Any]:
    """Tool outputs the model was sent, by call id."""
    return {
        item.raw_item["call_id"]: item.output
        for item in result.new_items
        if type(item).__name__ == "ToolCallOutputItem"
    }


@pytest.fixture
def agent_tools() -> Iterator[AgentTools]:
    yield from fresh()


def _run(agent: Agent[Any], mode: str) -> Any:
    if mode == "sync":
        return Runner.run_sync(agent, "go")
    return asyncio.run(Runner.run(agent, "go"))


def test_exported_schema_is_toolsafes_strict_export(agent_tools: AgentTools) -> None:
    tools = to_openai_agents(agent_tools.tools())
    assert [t.name for t in tools] == ["add", "explode", "hang", "flaky", "dump"]
    add = tools[0]
    assert isinstance(add, FunctionTool)
    assert add.strict_json_schema is True
    assert add.params_json_schema == {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "description": "The first number."},
            "b": {"type": ["integer", "null"], "description": "The second number."},
        },
        "required": ["a", "b"],
        "additionalProperties": False,
    }
    assert add.description.startswith("Add two integers.")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_turns_parallel_calls_hang_retry_and_trim(agent_tools: AgentTools, mode: str) -> None:
    tools = to_openai_agents(agent_tools.tools(), listeners=[agent_tools.listener])
    model = ScriptedModel(
        [
            [function_call("add", {"a": 2, "b": 3}, call_id="t1")],
            [  # parallel calls: one fails, one hangs, the siblings still answer
                function_call("add", {"a": 5, "b": None}, call_id="p1"),
                function_call("explode", {"reason": "this"}, call_id="p2"),
                function_call("hang", {"query": "q"}, call_id="p3"),
                function_call("flaky", {"n": 4}, call_id="p4"),
                function_call("dump", {"size": 10_000_000}, call_id="p5"),
                function_call("add", {"a": "seven"}, call_id="p6"),
            ],
            [assistant_message("all done")],
        ]
    )
    agent = Agent(name="calc", model=model, tools=tools)
    result = _run(agent, mode)

    assert result.final_output == "all done"
    out = _outputs(result)
    assert out["t1"] == "5"
    assert out["p1"] == "5"
    failed = parse_tool_error(out["p2"])
    assert failed is not None and failed.type == "ValueError" and not failed.retryable
    assert "cannot handle this" in failed.message
    # The hung sync tool answered at its timeout while its body was still blocked.
    hung = parse_tool_error(out["p3"])
    assert hung is not None and hung.type == "TimeoutError" and hung.retryable
    assert not agent_tools.hung_finished.is_set()
    # The transient failure was retried with backoff (waits 0.01 then 0.02 s) and answered.
    assert out["p4"] == "40"
    assert agent_tools.flaky_calls == 3
    assert agent_tools.retry_delays == [0.01, 0.02]
    # 10 MB never reached the model.
    assert len(out["p5"]) <= 4000
    assert toolsafe.TRIM_MARKER in out["p5"]
    # Validation details reach the model untouched.
    invalid = parse_tool_error(out["p6"])
    assert invalid is not None and invalid.type == "InvalidArguments"
    assert invalid.details and invalid.details[0]["field"] == "a"
    assert invalid.call_id == "p6"  # the SDK's tool_call_id is the call id


def test_malformed_json_gets_toolsafes_message(agent_tools: AgentTools) -> None:
    tools = to_openai_agents(agent_tools.tools())
    model = ScriptedModel(
        [[function_call("add", '{"a": 1', call_id="m1")], [assistant_message("ok")]]
    )
    result = Runner.run_sync(Agent(name="calc", model=model, tools=tools), "go")
    error = parse_tool_error(_outputs(result)["m1"])
    assert error is not None and error.type == "InvalidArguments"
    assert "truncated" in error.message


def test_one_runtime_shared_with_other_adapters(agent_tools: AgentTools) -> None:
    runtime = Runtime(agent_tools.tools())
    tools = to_openai_agents(["add", "flaky"], runtime)
    assert [t.name for t in tools] == ["add", "flaky"]
    assert to_openai_agents(runtime)[0].name == "add"
    with pytest.raises(toolsafe.ConfigurationError, match="runtime option"):
        to_openai_agents(["add"], runtime, listeners=[])


def test_from_openai_agents_puts_an_sdk_tool_under_toolsafe() -> None:
    calls = {"n": 0}

    @function_tool
    def lookup(city: str) -> str:
        """Look up the weather for a city."""
        calls["n"] += 1
        if calls["n"] < 2:
            raise TimeoutError("upstream timed out")
        return f"sunny in {city}"

    @function_tool
    def broken(x: int) -> str:
        """Always fails."""
        raise KeyError("missing")

    wrapped = from_openai_agents(lookup, retry=Retry(2, initial=0, jitter="none"), idempotent=True)
    runtime = Runtime([wrapped, from_openai_agents(broken)])
    outcome = runtime.call("lookup", {"city": "Oslo"})
    assert outcome.ok, outcome.text
    assert outcome.value == "sunny in Oslo" and outcome.attempts == 2
    # The SDK's own formatter is off on toolsafe's copy: the exception is classified.
    failed = runtime.call("broken", {"x": 1})
    assert failed.error is not None and failed.error.type == "KeyError"
    assert not failed.error.retryable
    # toolsafe validates against the tool's own schema before the SDK runs.
    invalid = runtime.call("lookup", {"town": "Oslo"})
    assert invalid.error is not None and invalid.error.type == "InvalidArguments"
    assert calls["n"] == 2
    # The original FunctionTool keeps its own behaviour.
    assert lookup._use_default_failure_error_function is True
    # And the wrapped tool can go back to an agent.
    again = to_openai_agents([wrapped], runtime)[0]
    assert again.name == "lookup"
