"""CrewAI + toolsafe: harden a shared, stateful tool and run 20 crews at once.

    pip install 'toolsafe[crewai]'
    python examples/crewai_quickstart.py

Runs offline: ``DemoLLM`` stands in for a real model (use ``LLM(model=...)`` in
your code). The tool keeps ``last_sku`` on ``self``, the classic bug: CrewAI
shares one tool instance between every crew copy and thread, so concurrent crews
read each other's SKU. ``harden`` gives each call its own copy of the tool, a
timeout, strict validation and structured errors, in one line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any

from crewai import Agent, Crew, Task
from crewai.llms.base_llm import BaseLLM
from crewai.tools import BaseTool

from toolsafe.integrations.crewai import harden


class StockTool(BaseTool):
    name: str = "check_stock"
    description: str = "How many units of a SKU are in stock."
    last_sku: str = ""  # state on the shared instance

    def _run(self, sku: str) -> str:
        self.last_sku = sku
        time.sleep(0.05)  # the warehouse API; meanwhile another crew writes last_sku
        return f"{self.last_sku}: {sum(map(ord, self.last_sku)) % 97} units"


class DemoLLM(BaseLLM):
    """Stand-in model: asks check_stock about the SKU in its task, then reports the answer."""

    def supports_function_calling(self) -> bool:
        return True

    def call(self, messages: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        results = [m["content"] for m in messages if m.get("role") == "tool"]
        if results:
            return results[-1]
        task = " ".join(str(m["content"]) for m in messages if m.get("role") == "user")
        sku = re.findall(r"SKU-\d+", task)[0]
        arguments = json.dumps({"sku": sku})
        return [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "check_stock", "arguments": arguments},
            }
        ]


def stock_crew(tools: list[BaseTool]) -> Crew:
    clerk = Agent(
        role="Stock clerk",
        goal="Report stock levels exactly",
        backstory="Answers from the warehouse system only.",
        llm=DemoLLM(model="demo"),
        tools=tools,
    )
    task = Task(
        description="How many units of {sku} are in stock?",
        expected_output="The stock line",
        agent=clerk,
    )
    return Crew(agents=[clerk], tasks=[task])


async def mixed_up(tools: list[BaseTool], skus: list[str]) -> int:
    """Run one crew per SKU concurrently; count answers about another crew's SKU."""
    outputs = await stock_crew(tools).kickoff_for_each_async([{"sku": s} for s in skus])
    return sum(not out.raw.startswith(f"{sku}:") for out, sku in zip(outputs, skus, strict=True))


def main() -> None:
    logging.getLogger("crewai").setLevel(logging.ERROR)  # quiet the demo model's token estimates
    skus = [f"SKU-{i:03d}" for i in range(20)]
    print(
        "plain tool:    answers about another crew's SKU:",
        asyncio.run(mixed_up([StockTool()], skus)),
    )

    tools = harden([StockTool()], timeout=5)  # the one line that changes
    print("hardened tool: answers about another crew's SKU:", asyncio.run(mixed_up(tools, skus)))

    # What an agent sees when it sends a wrong argument: a structured, field-level error.
    print("bad arguments: ", tools[0].run(sku=42).message)


if __name__ == "__main__":
    main()
