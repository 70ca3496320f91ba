"""Anthropic tool use through the runtime: dicts and the real SDK's objects, and a round trip."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import toolsafe
from toolsafe.errors import parse_tool_error
from toolsafe.integrations.anthropic import aexecute_tool_use, execute_tool_use, read_tool_use


@toolsafe.tool
def get_weather(city: str, unit: str = "celsius") -> dict[str, Any]:
    """Current weather for a city."""
    return {"city": city, "temp": 21, "unit": unit}


@toolsafe.tool(name="crm.lookup")
def lookup(customer_id: str) -> str:
    """Look a customer up."""
    if customer_id == "gone":
        raise FileNotFoundError(f"no customer {customer_id}")
    return f"customer {customer_id}"


@pytest.fixture
def runtime() -> Any:
    with toolsafe.Runtime([get_weather, lookup]) as rt:
        yield rt


MESSAGE = {
    "role": "assistant",
    "content": [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "tu_1", "name": "get_weather", "input": {"city": "Oslo"}},
        {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {"query": "x"}},
        {"type": "tool_use", "id": "tu_2", "name": "crm_lookup", "input": {"customer_id": "gone"}},
        {"type": "tool_use", "id": "tu_3", "name": "get_weather", "input": {"city": 5}},
        {"type": "tool_use", "id": "tu_4", "name": "crm_lookup", "input": {"customer_id": "c9"}},
    ],
}


def _check(blocks: list[dict[str, Any]]) -> None:
    assert [b["type"] for b in blocks] == ["tool_result"] * 4
    assert [b["tool_use_id"] for b in blocks] == ["tu_1", "tu_2", "tu_3", "tu_4"]
    assert json.loads(blocks[0]["content"]) == {"city": "Oslo", "temp": 21, "unit": "celsius"}
    assert "is_error" not in blocks[0]
    assert [b.get("is_error", False) for b in blocks] == [False, True, True, False]
    not_found = parse_tool_error(blocks[1]["content"])
    assert not_found is not None
    assert (not_found.type, not_found.retryable, not_found.tool) == (
        "FileNotFoundError",
        False,
        "crm.lookup",
    )
    invalid = parse_tool_error(blocks[2]["content"])
    assert invalid is not None and invalid.details[0]["field"] == "city"
    assert blocks[3]["content"] == "customer c9"


def test_message_dict(runtime: toolsafe.Runtime) -> None:
    _check(execute_tool_use(runtime, MESSAGE))


async def test_message_dict_async(runtime: toolsafe.Runtime) -> None:
    _check(await aexecute_tool_use(runtime, MESSAGE))


def test_sdk_message_object(runtime: toolsafe.Runtime) -> None:
    from anthropic.types import Message

    message = Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "scripted",
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
            "content": [b for b in MESSAGE["content"] if b["type"] != "server_tool_use"],
        }
    )
    _check(execute_tool_use(runtime, message))
    _check(execute_tool_use(runtime, message.content))
    assert [c.name for c in read_tool_use(message)] == [
        "get_weather",
        "crm_lookup",
        "get_weather",
        "crm_lookup",
    ]


def test_text_only_messages_need_nothing(runtime: toolsafe.Runtime) -> None:
    assert execute_tool_use(runtime, {"role": "assistant", "content": "Hello."}) == []
    assert (
        execute_tool_use(runtime, {"role": "assistant", "content": [{"type": "text", "text": "x"}]})
        == []
    )
    with pytest.raises(TypeError, match="cannot read Anthropic tool use"):
        execute_tool_use(runtime, object())


def test_tool_use_runs_concurrently_in_model_order() -> None:
    barrier = threading.Barrier(3, timeout=5)

    @toolsafe.tool(timeout=10)
    def meet(i: int) -> int:
        """Returns once all three calls are in flight together."""
        barrier.wait()
        return i

    blocks = [
        {"type": "tool_use", "id": f"m{i}", "name": "meet", "input": {"i": i}} for i in range(3)
    ]
    with toolsafe.Runtime([meet]) as runtime:
        results = execute_tool_use(runtime, {"role": "assistant", "content": blocks})
    assert [(r["tool_use_id"], r["content"], r.get("is_error")) for r in results] == [
        ("m0", "0", None),
        ("m1", "1", None),
        ("m2", "2", None),
    ]


def _http() -> Any:
    """The HTTP package the installed anthropic SDK is built on (httpx2, or httpx before it)."""
    import anthropic

    base = next(
        c
        for c in anthropic.DefaultHttpxClient.__mro__
        if c.__name__ == "Client" and not c.__module__.startswith("anthropic")
    )
    return importlib.import_module(base.__module__.split(".")[0])


class ScriptedClaude:
    """A scripted model behind the real SDK's HTTP layer."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: Any) -> Any:

        body = json.loads(request.content)
        self.requests.append(body)
        turn = len(self.requests)
        if turn == 1:
            content: list[dict[str, Any]] = [
                {
                    "type": "tool_use",
                    "id": "a1",
                    "name": "crm_lookup",
                    "input": {"customer_id": "gone"},
                },
                {"type": "tool_use", "id": "a2", "name": "get_weather", "input": {"city": "Rome"}},
            ]
        elif turn == 2:
            content = [
                {
                    "type": "tool_use",
                    "id": "a3",
                    "name": "crm_lookup",
                    "input": {"customer_id": "c1"},
                }
            ]
        else:
            content = [{"type": "text", "text": "Done."}]
        return _http().Response(
            200,
            json={
                "id": f"msg_{turn}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": "tool_use" if turn < 3 else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 1},
            },
        )


def test_round_trip_with_the_sdk_client_and_a_scripted_model(runtime: toolsafe.Runtime) -> None:
    anthropic = pytest.importorskip("anthropic")
    http = _http()
    model = ScriptedClaude()
    client = anthropic.Anthropic(
        api_key="sk-test",
        base_url="http://scripted.invalid",
        http_client=http.Client(transport=http.MockTransport(model)),
        max_retries=0,
    )
    tools = [t.to_anthropic() for t in runtime.tools]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Weather in Rome, and who is c1?"}
    ]
    for _ in range(5):
        reply = client.messages.create(
            model="scripted", max_tokens=256, messages=messages, tools=tools
        )
        messages.append(
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in reply.content],
            }
        )
        if reply.stop_reason != "tool_use":
            break
        messages.append({"role": "user", "content": execute_tool_use(runtime, reply)})

    assert messages[-1]["content"][0]["text"] == "Done."
    assert len(model.requests) == 3
    assert [t["name"] for t in model.requests[0]["tools"]] == ["get_weather", "crm_lookup"]
    first_results = model.requests[1]["messages"][2]["content"]
    assert [r["tool_use_id"] for r in first_results] == ["a1", "a2"]
    assert first_results[0]["is_error"] is True
    assert parse_tool_error(first_results[0]["content"]).type == "FileNotFoundError"  # type: ignore[union-attr]
    assert json.loads(first_results[1]["content"])["city"] == "Rome"
    assert model.requests[2]["messages"][4]["content"] == [
        {"type": "tool_result", "tool_use_id": "a3", "content": "customer c1"}
    ]


# --------------------------------------------------------------------------- docs and example

ROOT = Path(__file__).resolve().parents[2]


def test_docs_page_runs() -> None:
    """Every ```python block of docs/anthropic.md runs (in order); ```py blocks compile."""
    text = (ROOT / "docs" / "anthropic.md").read_text()
    for block in re.findall(r"```py\n(.*?)```", text, re.S):
        compile(block, "docs/anthropic.md", "exec")
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    code += "\nimport json\nprint(json.dumps(results))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout.splitlines()[-1])
    assert results[0] == {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": '{"id":"c-1","name":"Ada"}',
    }
    assert results[1]["is_error"] is True
    assert parse_tool_error(results[1]["content"]).type == "FileNotFoundError"  # type: ignore[union-attr]
    assert "examples/anthropic_quickstart.py" in text


def test_quickstart_example_runs_offline() -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")
    }
    out = subprocess.run(
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            str(ROOT / "examples" / "anthropic_quickstart.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("tool toolu_1 (is_error): Error executing tool: ")
    assert parse_tool_error(lines[0].split(": ", 1)[1]).type == "FileNotFoundError"  # type: ignore[union-attr]
    assert lines[1:] == [
        'tool toolu_2: {"id":"c-42","name":"Ada","plan":"pro"}',
        "tool toolu_3: ticket T-1 opened for c-42: refund",
        "model: Ada (c-42) now has ticket T-1.",
    ]


def test_hostile_blocks_each_get_an_answer() -> None:
    """Huge ints, NaN, lone surrogates, deep input: every block answered (issue 12)."""
    deep: Any = "x"
    for _ in range(5000):
        deep = {"d": deep}
    inputs = [
        {"city": 10**5000},
        {"city": "Paris", "unit": float("nan")},
        {"city": "Par\udcffis"},
        {"city": deep},
        {"city": "Paris", "unit": "kelvin"},
    ]
    blocks = [
        {"type": "tool_use", "id": f"t{i}", "name": "get_weather", "input": value}
        for i, value in enumerate(inputs)
    ]
    with toolsafe.Runtime([get_weather]) as rt:
        results = execute_tool_use(rt, {"content": blocks})
    assert [r.get("is_error", False) for r in results] == [True, True, True, True, False]
    for result in results:
        result["content"].encode("utf-8")
        if result.get("is_error"):
            assert parse_tool_error(result["content"]).type == "InvalidArguments"  # type: ignore[union-attr]
