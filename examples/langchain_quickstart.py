"""toolsafe in a LangGraph agent: parallel tool calls where one fails never sink the others.

Runs offline: a scripted model node stands in for the chat model, so the graph,
the ``ToolNode`` and the tools are the real thing. With a real model, replace
``scripted_model`` by ``model.bind_tools(tools)`` and nothing else changes.

    python examples/langchain_quickstart.py
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool as langchain_tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

import toolsafe
from toolsafe.integrations.langchain import from_langchain, to_langchain


@toolsafe.tool(timeout=2)
def get_weather(city: str, unit: str = "celsius") -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: The city name.
        unit: celsius or fahrenheit.
    """
    return {"city": city, "temp": 21 if unit == "celsius" else 70, "unit": unit}


@toolsafe.tool
def get_stock(symbol: str) -> float:
    """Latest price of a stock symbol."""
    raise ConnectionResetError("quotes upstream reset the connection")


@langchain_tool
def slow_search(query: str) -> str:
    """An existing LangChain tool whose upstream hangs."""
    time.sleep(5)
    return f"results for {query}"


# The existing LangChain tool gets toolsafe's timeout without being edited.
runtime = toolsafe.Runtime([get_weather, get_stock, from_langchain(slow_search, timeout=0.3)])
tools = to_langchain(runtime)

SCRIPT = [
    AIMessage(
        "",
        tool_calls=[
            {"id": "call_1", "name": "get_weather", "args": {"city": "Oslo"}},
            {"id": "call_2", "name": "get_stock", "args": {"symbol": "ACME"}},
            {"id": "call_3", "name": "slow_search", "args": {"query": "oslo events"}},
            {"id": "call_4", "name": "get_weather", "args": {"city": 42}},
        ],
    ),
    AIMessage("Oslo is at 21°C; quotes and search are down for now, I'll retry later."),
]


def scripted_model(state: MessagesState) -> dict[str, Any]:
    """Stands in for a chat model: one scripted reply per turn."""
    turn = sum(isinstance(m, AIMessage) for m in state["messages"])
    return {"messages": [SCRIPT[turn]]}


def route(state: MessagesState) -> str:
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else END


def build_graph() -> Any:
    graph = StateGraph(MessagesState)
    graph.add_node("model", scripted_model)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, ["tools", END])
    graph.add_edge("tools", "model")
    return graph.compile()


def main() -> None:
    result = build_graph().invoke({"messages": [HumanMessage("Weather, ACME price, events?")]})
    for message in result["messages"]:
        if isinstance(message, ToolMessage):
            print(f"tool {message.tool_call_id} [{message.status}]: {message.content}")
        elif isinstance(message, AIMessage) and message.content:
            print(f"model: {message.content}")
    runtime.close()


if __name__ == "__main__":
    main()
