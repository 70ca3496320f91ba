"""Shared set-up for framework integration tests.

CrewAI: offline (no telemetry, tracing or version check), a scripted LLM whose
replies depend only on the messages it receives (one LLM object is shared by
every crew copy), and a crew factory. CrewAI is imported lazily so that other
integrations' tests run without it; CrewAI tests skip with a clear reason.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

# CrewAI reads these when it is imported and when a crew starts: keep it offline.
# Not OTEL_SDK_DISABLED: it is process-wide and would silence the OpenTelemetry SDK
# that tests/observe checks (CREWAI_DISABLE_TELEMETRY is CrewAI's own opt-out).
for _name, _value in {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "CREWAI_DISABLE_VERSION_CHECK": "true",
    "CREWAI_TESTING": "true",
}.items():
    os.environ.setdefault(_name, _value)

CREWAI_MISSING = "needs the crewai extra: pip install 'toolsafe[crewai]'"

_DIRECTIVE = re.compile(r"(CALL|ARGS|FIX)<(.*?)>")


def parse_args_directive(text: str) -> dict[str, Any]:
    """``key=abc;n=3`` -> ``{"key": "abc", "n": 3}`` (values read as JSON when they are JSON).

    Task descriptions cannot hold JSON braces (CrewAI interpolates ``{name}``).
    """
    out: dict[str, Any] = {}
    for part in filter(None, text.split(";")):
        name, _, raw = part.partition("=")
        try:
            out[name] = json.loads(raw)
        except ValueError:
            out[name] = raw
    return out


def _scripted_llm_class() -> type[Any]:
    from crewai.llms.base_llm import BaseLLM

    from toolsafe import parse_tool_error

    class ScriptedLLM(BaseLLM):
        """A model whose replies depend only on the messages it is given.

        The task says what to do: ``CALL<tool> ARGS<k=v;...>`` (first call) and
        optionally ``FIX<k=v;...>``: the arguments to send again after a
        field-level ``InvalidArguments`` error. After a tool result the model
        answers ``ANSWER: <result>``. ``native`` picks function calling (True) or
        the ReAct text protocol (False).
        """

        native: bool = True

        def model_post_init(self, context: Any) -> None:
            super().model_post_init(context)
            self._log_lock = threading.Lock()
            self.received: list[list[dict[str, Any]]] = []

        def supports_function_calling(self) -> bool:
            return self.native

        def call(  # type: ignore[override]
            self,
            messages: Any,
            tools: Any = None,
            callbacks: Any = None,
            available_functions: Any = None,
            from_task: Any = None,
            from_agent: Any = None,
            response_model: Any = None,
            **kwargs: Any,
        ) -> Any:
            if isinstance(messages, str):
                messages = [{"role": "user", "content": messages}]
            with self._log_lock:
                self.received.append([dict(m) for m in messages])
            task = " ".join(str(m.get("content")) for m in messages if m.get("role") == "user")
            directives = dict(_DIRECTIVE.findall(task))
            results = self.tool_results(messages)
            if not results:
                return self._call(directives["CALL"], parse_args_directive(directives["ARGS"]), 1)
            error = parse_tool_error(results[-1].splitlines()[0])
            if (
                error is not None
                and error.type == "InvalidArguments"
                and "FIX" in directives
                and len(results) == 1
            ):
                return self._call(directives["CALL"], parse_args_directive(directives["FIX"]), 2)
            return self._final(f"ANSWER: {results[-1]}")

        async def acall(self, messages: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            return self.call(messages, *args, **kwargs)

        def tool_results(self, messages: list[dict[str, Any]]) -> list[str]:
            """What the tools answered so far, in order, as the model sees it."""
            if self.native:
                return [str(m.get("content")) for m in messages if m.get("role") == "tool"]
            out = []
            for m in messages:
                content = str(m.get("content"))
                if m.get("role") == "assistant" and "\nObservation:" in content:
                    observed = content.split("\nObservation:", 1)[1].strip()
                    # CrewAI may append its tool list after a blank line ("remember format").
                    out.append(observed.split("\n\nYou ONLY have access", 1)[0])
            return out

        def _call(self, tool: str, args: dict[str, Any], n: int) -> Any:
            if self.native:
                return [
                    {
                        "id": f"call_{n}",
                        "type": "function",
                        "function": {"name": tool, "arguments": json.dumps(args)},
                    }
                ]
            return f"Thought: I need the tool.\nAction: {tool}\nAction Input: {json.dumps(args)}"

        def _final(self, text: str) -> str:
            if self.native:
                return text
            return f"Thought: I now know the final answer\nFinal Answer: {text}"

    return ScriptedLLM


@pytest.fixture(scope="session")
def scripted_llm_class() -> type[Any]:
    pytest.importorskip("crewai", reason=CREWAI_MISSING)
    return _scripted_llm_class()


@pytest.fixture
def make_crew(scripted_llm_class: type[Any]) -> Callable[..., Any]:
    """``make_crew(tools, task, native=True)``: a one-agent, one-task Crew on a scripted LLM."""
    from crewai import Agent, Crew, Task

    def make(tools: list[Any], task: str, *, native: bool = True, max_iter: int = 6) -> Any:
        llm = scripted_llm_class(model="scripted-model", native=native)
        agent = Agent(
            role="Researcher",
            goal="Answer with what the tool returns",
            backstory="Uses tools exactly as told.",
            llm=llm,
            tools=tools,
            max_iter=max_iter,
            verbose=False,
        )
        job = Task(description=task, expected_output="The tool's answer", agent=agent)
        return Crew(agents=[agent], tasks=[job], verbose=False)

    return make
