"""toolsafe in an OpenAI tool-calling loop (Chat Completions).

With ``OPENAI_API_KEY`` set this talks to the real API; without it, a scripted
model answers through the same SDK client (offline), so the loop below is
exactly what you would write either way.

    python examples/openai_quickstart.py
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import openai

import toolsafe
from toolsafe.integrations.openai import execute_tool_calls


@toolsafe.tool(timeout=5)
def get_weather(city: str, unit: str = "celsius") -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: The city name.
        unit: celsius or fahrenheit.
    """
    return {"city": city, "temp": 21 if unit == "celsius" else 70, "unit": unit}


@toolsafe.tool(name="orders.refund")
def refund(order_id: str, amount: float) -> str:
    """Refund part or all of an order."""
    if amount <= 0:
        raise toolsafe.ToolFailure("amount must be positive", hint="Ask the user for the amount.")
    return f"refunded {amount:.2f} on {order_id}"


def scripted_model(request: httpx.Request) -> httpx.Response:
    """Stands in for the API offline: asks for tools, then answers from their results."""
    body = json.loads(request.content)
    results = [m for m in body["messages"] if m["role"] == "tool"]
    if not results:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                _call("call_1", "get_weather", {"city": "Paris"}),
                _call("call_2", "orders_refund", {"order_id": "A-17", "amount": "12"}),
            ],
        }
    elif len(results) == 2:
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [_call("call_3", "orders_refund", {"order_id": "A-17", "amount": 12.0})],
        }
    else:
        message = {"role": "assistant", "content": "Paris is 21°C and A-17 got 12.00 back."}
    return httpx.Response(
        200,
        json={
            "id": "scripted",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
        },
    )


def _call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def make_client() -> openai.OpenAI:
    if os.environ.get("OPENAI_API_KEY"):
        return openai.OpenAI()
    transport = httpx.MockTransport(scripted_model)
    return openai.OpenAI(
        api_key="offline",
        base_url="http://scripted.invalid/v1",
        http_client=httpx.Client(transport=transport),
    )


def main() -> None:
    client = make_client()
    model = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
    with toolsafe.Runtime([get_weather, refund]) as runtime:
        tools = [t.to_openai() for t in runtime.tools]
        messages: list[Any] = [
            {"role": "user", "content": "Weather in Paris? And refund 12 on order A-17."}
        ]
        for _ in range(6):
            reply = client.chat.completions.create(model=model, messages=messages, tools=tools)
            message = reply.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            if not message.tool_calls:
                break
            for result in execute_tool_calls(runtime, message):
                print(f"tool {result['tool_call_id']}: {result['content']}")
                messages.append(result)
        print(f"model: {messages[-1]['content']}")


if __name__ == "__main__":
    main()
