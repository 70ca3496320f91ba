"""The langchain-tests standard suites for tools, run against a toolsafe tool."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("langchain_tests")

from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

import toolsafe
from toolsafe.integrations.langchain import to_langchain

pytestmark = pytest.mark.langchain


@toolsafe.tool(timeout=5)
def search_orders(customer: str, status: str = "open", limit: int = 10) -> list[dict[str, Any]]:
    """Find a customer's orders.

    Args:
        customer: The customer's id.
        status: Only orders in this state.
        limit: At most this many orders.
    """
    return [{"customer": customer, "status": status, "n": i} for i in range(min(limit, 3))]


_RUNTIME = toolsafe.Runtime([search_orders])
_TOOL = to_langchain(search_orders, _RUNTIME)
_EXAMPLE = {"customer": "c-42", "status": "shipped", "limit": 2}


class TestToolsafeToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> BaseTool:
        return _TOOL

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return dict(_EXAMPLE)


class TestToolsafeToolIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> BaseTool:
        return _TOOL

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return dict(_EXAMPLE)


def test_the_standard_example_really_ran_through_the_runtime() -> None:
    """The suites only check shapes; check the content they saw is the tool's result."""
    message = _TOOL.invoke({"type": "tool_call", "id": "123", "name": _TOOL.name, "args": _EXAMPLE})
    assert message.status == "success"
    assert message.content == (
        '[{"customer":"c-42","status":"shipped","n":0},{"customer":"c-42","status":"shipped","n":1}]'
    )
