"""OpenAI tool calls through the runtime: dicts and the real SDK's objects, Chat and Responses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

import toolsafe
from toolsafe.errors import parse_tool_error
from toolsafe.integrations.openai import (
    aexecute_tool_calls,
    execute_tool_calls,
    read_tool_calls,
)


@toolsafe.tool
def add(a: int, b: int = 0) -> int:
    """Add two integers."""
    return a + b


@toolsafe.tool(name="billing.refund")
def refund(order_id: str) -> str:
    """Refund an order."""
    return f"refunded {order_id}"


@toolsafe.tool
def crash(reason: str) -> str:
    """Always fails."""
    raise ValueError(reason)


@pytest.fixture
def runtime() -> Any:
    with toolsafe.Runtime([add, refund, crash]) as rt:
        yield rt


def _chat_call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def _assistant(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": list(calls)}


MESSAGE = _assistant(
    _chat_call("c1", "add", {"a": 2, "b": 3}),
    _chat_call("c2", "billing_refund", {"order_id": "A7"}),
    _chat_call("c3", "add", '{"a": "2"}'),
    _chat_call("c4", "crash", {"reason": "bad row"}),
    _chat_call("c5", "ad", {"a": 1}),
)


def _check_chat_replies(replies: list[dict[str, Any]]) -> None:
    assert [r["role"] for r in replies] == ["tool"] * 5
    assert [r["tool_call_id"] for r in replies] == ["c1", "c2", "c3", "c4", "c5"]
    assert replies[0]["content"] == "5"
    assert replies[1]["content"] == "refunded A7"  # the exported name maps back
    errors = [parse_tool_error(r["content"]) for r in replies[2:]]
    assert [e.type for e in errors if e] == ["InvalidArguments", "ValueError", "UnknownTool"]
    assert [e.call_id for e in errors if e] == ["c3", "c4", "c5"]
    assert errors[2] is not None and errors[2].details["suggestion"] == "add"


def test_chat_message_dict(runtime: toolsafe.Runtime) -> None:
    _check_chat_replies(execute_tool_calls(runtime, MESSAGE))


async def test_chat_message_dict_async(runtime: toolsafe.Runtime) -> None:
    _check_chat_replies(await aexecute_tool_calls(runtime, MESSAGE))


def test_chat_sdk_objects(runtime: toolsafe.Runtime) -> None:
    from openai.types.chat import ChatCompletion, ChatCompletionMessage

    message = ChatCompletionMessage.model_validate(MESSAGE)
    _check_chat_replies(execute_tool_calls(runtime, message))
    completion = ChatCompletion.model_validate(
        {
            "id": "cc-1",
            "object": "chat.completion",
            "created": 0,
            "model": "scripted",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": MESSAGE}],
        }
    )
    _check_chat_replies(execute_tool_calls(runtime, completion))
    _check_chat_replies(execute_tool_calls(runtime, message.tool_calls))


def test_a_message_without_tool_calls_needs_nothing(runtime: toolsafe.Runtime) -> None:
    assert execute_tool_calls(runtime, {"role": "assistant", "content": "hi"}) == []
    assert (
        execute_tool_calls(runtime, {"role": "assistant", "content": "hi", "tool_calls": None})
        == []
    )


def test_unreadable_input_is_a_type_error(runtime: toolsafe.Runtime) -> None:
    with pytest.raises(TypeError, match="cannot read OpenAI tool calls"):
        execute_tool_calls(runtime, 42)


def test_custom_tool_calls_get_the_raw_input(runtime: toolsafe.Runtime) -> None:
    message = _assistant(
        {"id": "x1", "type": "custom", "custom": {"name": "add", "input": '{"a": 1, "b": 1}'}}
    )
    assert execute_tool_calls(runtime, message) == [
        {"role": "tool", "tool_call_id": "x1", "content": "2"}
    ]


RESPONSE_OUTPUT = [
    {"type": "reasoning", "id": "rs_1", "summary": []},
    {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "r1",
        "name": "add",
        "arguments": '{"a": 1, "b": 2}',
    },
    {
        "type": "function_call",
        "id": "fc_2",
        "call_id": "r2",
        "name": "billing_refund",
        "arguments": '{"order_id": 7}',
    },
    {
        "type": "custom_tool_call",
        "id": "ct_1",
        "call_id": "r3",
        "name": "add",
        "input": '{"a": 4}',
    },
]


def _check_responses_items(items: list[dict[str, Any]]) -> None:
    assert [i["type"] for i in items] == [
        "function_call_output",
        "function_call_output",
        "custom_tool_call_output",
    ]
    assert [i["call_id"] for i in items] == ["r1", "r2", "r3"]
    assert items[0]["output"] == "3"
    error = parse_tool_error(items[1]["output"])
    assert error is not None and error.type == "InvalidArguments"
    assert error.details[0]["field"] == "order_id"
    assert items[2]["output"] == "4"


def test_responses_dicts(runtime: toolsafe.Runtime) -> None:
    _check_responses_items(
        execute_tool_calls(runtime, {"object": "response", "output": RESPONSE_OUTPUT})
    )
    _check_responses_items(execute_tool_calls(runtime, RESPONSE_OUTPUT))
    assert execute_tool_calls(runtime, RESPONSE_OUTPUT[1]) == [
        {"type": "function_call_output", "call_id": "r1", "output": "3"}
    ]


async def test_responses_sdk_object_async(runtime: toolsafe.Runtime) -> None:
    from openai.types.responses import Response

    response = Response.model_validate(
        {
            "id": "resp_1",
            "object": "response",
            "created_at": 0,
            "model": "scripted",
            "output": RESPONSE_OUTPUT,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
    )
    _check_responses_items(await aexecute_tool_calls(runtime, response))
    assert [c.id for c in read_tool_calls(response)] == ["r1", "r2", "r3"]


def test_calls_run_concurrently_and_answer_in_model_order() -> None:
    """Each call waits for the next one to finish first: only concurrency completes them."""
    done = [threading.Event() for _ in range(4)]

    @toolsafe.tool(timeout=10)
    def step(i: int) -> str:
        """Finish after call i + 1 has finished (the last one finishes at once)."""
        if i + 1 < len(done) and not done[i + 1].wait(5):
            raise TimeoutError(f"call {i + 1} never ran alongside call {i}")
        done[i].set()
        return f"step {i}"

    with toolsafe.Runtime([step]) as runtime:
        message = _assistant(*(_chat_call(f"s{i}", "step", {"i": i}) for i in range(4)))
        replies = execute_tool_calls(runtime, message)
    assert [r["content"] for r in replies] == ["step 0", "step 1", "step 2", "step 3"]
    assert [r["tool_call_id"] for r in replies] == ["s0", "s1", "s2", "s3"]


def test_calls_respect_the_runtime_concurrency_limit() -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}
    gate = threading.Event()

    @toolsafe.tool
    def work(i: int) -> int:
        """Count calls in flight."""
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            if state["now"] == 2:
                gate.set()
        gate.wait(5)  # hold until two are in flight, so the limit is really tested
        with lock:
            state["now"] -= 1
        return i

    with toolsafe.Runtime([work], max_concurrency=2) as runtime:
        message = _assistant(*(_chat_call(f"w{i}", "work", {"i": i}) for i in range(12)))
        replies = execute_tool_calls(runtime, message)
    assert [r["content"] for r in replies] == [str(i) for i in range(12)]
    assert state["peak"] == 2


# --------------------------------------------------------------------------- round trip


class ScriptedChatModel:
    """A scripted model behind the real SDK's HTTP layer: checks what it is sent, each turn."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        turn = len(self.requests)
        if turn == 1:
            message = _assistant(
                _chat_call("t1", "add", {"a": "2", "b": 2}),
                _chat_call("t2", "billing_refund", {"order_id": "A1"}),
            )
        elif turn == 2:
            message = _assistant(_chat_call("t3", "add", {"a": 2, "b": 2}))
        else:
            message = {"role": "assistant", "content": "2 + 2 = 4 and A1 is refunded."}
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        return httpx.Response(
            200,
            json={
                "id": f"cc-{turn}",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": finish, "message": message}],
            },
        )


def test_round_trip_with_the_sdk_client_and_a_scripted_model(runtime: toolsafe.Runtime) -> None:
    openai = pytest.importorskip("openai")
    model = ScriptedChatModel()
    client = openai.OpenAI(
        api_key="sk-test",
        base_url="http://scripted.invalid/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(model)),
        max_retries=0,
    )
    tools = [t.to_openai() for t in runtime.tools]
    messages: list[Any] = [{"role": "user", "content": "What is 2 + 2? Also refund A1."}]
    for _ in range(5):
        completion = client.chat.completions.create(
            model="scripted", messages=messages, tools=tools
        )
        message = completion.choices[0].message
        messages.append(message.model_dump(exclude_none=True))
        if not message.tool_calls:
            break
        messages.extend(execute_tool_calls(runtime, message))

    assert messages[-1]["content"] == "2 + 2 = 4 and A1 is refunded."
    assert len(model.requests) == 3
    assert [t["function"]["name"] for t in model.requests[0]["tools"]] == [
        "add",
        "billing_refund",
        "crash",
    ]
    second = [m for m in model.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in second] == ["t1", "t2"]
    error = parse_tool_error(second[0]["content"])
    assert error is not None and error.type == "InvalidArguments"
    assert second[1]["content"] == "refunded A1"
    third = [m for m in model.requests[2]["messages"] if m["role"] == "tool"]
    assert third[-1] == {"role": "tool", "tool_call_id": "t3", "content": "4"}


class ScriptedResponsesModel:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        turn = len(self.requests)
        if turn == 1:
            output: list[dict[str, Any]] = [
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "call_id": "call_a",
                    "name": "crash",
                    "arguments": '{"reason": "disk full"}',
                    "status": "completed",
                }
            ]
        else:
            output = [
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [
                        {"type": "output_text", "text": "The tool failed.", "annotations": []}
                    ],
                }
            ]
        return httpx.Response(
            200,
            json={
                "id": f"resp_{turn}",
                "object": "response",
                "created_at": 0,
                "model": body["model"],
                "output": output,
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": body.get("tools", []),
                "status": "completed",
            },
        )


async def test_responses_round_trip_with_the_async_sdk_client(runtime: toolsafe.Runtime) -> None:
    openai = pytest.importorskip("openai")
    model = ScriptedResponsesModel()
    client = openai.AsyncOpenAI(
        api_key="sk-test",
        base_url="http://scripted.invalid/v1",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(model)),
        max_retries=0,
    )
    tools = [t.to_openai_responses() for t in runtime.tools]
    items: list[Any] = [{"role": "user", "content": "Run crash."}]
    response = await client.responses.create(model="scripted", input=items, tools=tools)
    items += [item.model_dump(exclude_none=True) for item in response.output]
    items += await aexecute_tool_calls(runtime, response)
    final = await client.responses.create(model="scripted", input=items, tools=tools)

    assert final.output_text == "The tool failed."
    sent = model.requests[1]["input"]
    output = next(i for i in sent if i.get("type") == "function_call_output")
    assert output["call_id"] == "call_a"
    error = parse_tool_error(output["output"])
    assert error is not None and (error.type, error.message) == ("ValueError", "disk full")
    assert model.requests[0]["tools"][0]["name"] == "add"


def test_the_adapter_imports_no_sdk() -> None:
    code = (
        "import sys, toolsafe.integrations.openai, toolsafe.integrations.anthropic;"
        "print(sorted(m for m in ('openai', 'anthropic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- docs and example

ROOT = Path(__file__).resolve().parents[2]


def _offline_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}


def test_docs_page_runs() -> None:
    """Every ```python block of docs/openai.md runs (in order); ```py blocks compile."""
    text = (ROOT / "docs" / "openai.md").read_text()
    for block in re.findall(r"```py\n(.*?)```", text, re.S):
        compile(block, "docs/openai.md", "exec")
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert first == (
        "{'role': 'tool', 'tool_call_id': 'call_1', "
        """'content': '{"city":"Paris","temp":21,"unit":"celsius"}'}"""
    )
    assert "'tool_call_id': 'call_2'" in second and '"type": "InvalidArguments"' in second
    assert "examples/openai_quickstart.py" in text


def test_quickstart_example_runs_offline() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "openai_quickstart.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=_offline_env(),
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == 'tool call_1: {"city":"Paris","temp":21,"unit":"celsius"}'
    error = parse_tool_error(lines[1].split(": ", 1)[1])
    assert error is not None and error.details[0]["field"] == "amount"
    assert lines[2:] == [
        "tool call_3: refunded 12.00 on A-17",
        "model: Paris is 21°C and A-17 got 12.00 back.",
    ]


class _StrRaises:
    def __str__(self) -> str:
        raise RuntimeError("no str")


class _PropertyRaises:
    type = "function"

    @property
    def function(self) -> Any:
        raise RuntimeError("no function")


def test_hostile_calls_in_a_message_each_get_an_answer() -> None:
    """One broken or hostile call never loses the others (issue 12)."""
    message = {
        "role": "assistant",
        "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": _StrRaises(), "arguments": "{}"}},
            {"id": "b", "function": {"name": "add", "arguments": '{"a": ' + "9" * 5000 + "}"}},
            {"id": "c", "function": {"name": "add", "arguments": "[" * 100_000}},
            {"id": "d", "function": {"name": "add", "arguments": '{"a": 2.0, "b": 3}'}},
            _PropertyRaises(),
        ],
    }
    with toolsafe.Runtime([add]) as rt:
        replies = execute_tool_calls(rt, message)
    assert [r["tool_call_id"] for r in replies[:4]] == ["a", "b", "c", "d"]
    assert len(replies) == 5
    kinds = [getattr(parse_tool_error(r["content"]), "type", "ok") for r in replies]
    assert kinds == ["UnknownTool", "InvalidArguments", "InvalidArguments", "ok", "UnknownTool"]
    assert replies[3]["content"] == "5"
