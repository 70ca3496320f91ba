"""toolsafe in an Anthropic tool-use loop (Messages API).

With ``ANTHROPIC_API_KEY`` set this talks to the real API; without it, a scripted
model answers through the same SDK client (offline), so the loop below is
exactly what you would write either way.

    python examples/anthropic_quickstart.py
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any

import anthropic

import toolsafe
from toolsafe.integrations.anthropic import execute_tool_use

# The HTTP package this SDK is built on: httpx2 for recent releases, httpx before.
# Ask the SDK (its default client's base class) rather than guess from what is
# importable: another package may have installed httpx2 beside an older SDK.
_CLIENT_BASE = next(
    c
    for c in anthropic.DefaultHttpxClient.__mro__
    if c.__name__ == "Client" and not c.__module__.startswith("anthropic")
)
http: Any = importlib.import_module(_CLIENT_BASE.__module__.split(".")[0])


@toolsafe.tool
def lookup_customer(customer_id: str) -> dict[str, Any]:
    """Find a customer by id."""
    if not customer_id.startswith("c-"):
        raise FileNotFoundError(f"no customer {customer_id!r}")
    return {"id": customer_id, "name": "Ada", "plan": "pro"}


@toolsafe.tool(timeout=5)
def open_ticket(customer_id: str, subject: str) -> str:
    """Open a support ticket."""
    return f"ticket T-1 opened for {customer_id}: {subject}"


def scripted_model(request: http.Request) -> http.Response:
    """Stands in for the API offline: uses tools, then answers from their results."""
    body = json.loads(request.content)
    turn = sum(m["role"] == "assistant" for m in body["messages"])
    content: list[dict[str, Any]]
    if turn == 0:
        content = [
            {"type": "text", "text": "Looking that up."},
            _use("toolu_1", "lookup_customer", {"customer_id": "42"}),
            _use("toolu_2", "lookup_customer", {"customer_id": "c-42"}),
        ]
    elif turn == 1:
        content = [_use("toolu_3", "open_ticket", {"customer_id": "c-42", "subject": "refund"})]
    else:
        content = [{"type": "text", "text": "Ada (c-42) now has ticket T-1."}]
    return http.Response(
        200,
        json={
            "id": f"msg_{turn}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": "tool_use" if turn < 2 else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        },
    )


def _use(block_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": block_id, "name": name, "input": arguments}


def make_client() -> anthropic.Anthropic:
    if os.environ.get("ANTHROPIC_API_KEY"):
        return anthropic.Anthropic()
    return anthropic.Anthropic(
        api_key="offline",
        base_url="http://scripted.invalid",
        http_client=http.Client(transport=http.MockTransport(scripted_model)),
    )


def main() -> None:
    client = make_client()
    model = os.environ.get("ANTHROPIC_MODEL", "claude-sonnet-4-6")
    with toolsafe.Runtime([lookup_customer, open_ticket]) as runtime:
        tools = [t.to_anthropic() for t in runtime.tools]
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": "Customer 42 wants a refund; open a ticket."}
        ]
        for _ in range(6):
            reply = client.messages.create(
                model=model, max_tokens=1024, messages=messages, tools=tools
            )
            messages.append({"role": "assistant", "content": reply.content})
            if reply.stop_reason != "tool_use":
                break
            results = execute_tool_use(runtime, reply)
            for block in results:
                flag = " (is_error)" if block.get("is_error") else ""
                print(f"tool {block['tool_use_id']}{flag}: {block['content']}")
            messages.append({"role": "user", "content": results})
        print(f"model: {reply.content[-1].text}")  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
