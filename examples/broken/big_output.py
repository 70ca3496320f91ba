"""Broken: a LangChain tool that returns a 10 MB JSON document.

Every order goes back to the model: about 2.6 million tokens, far past any
context window. The call "works"; the agent run does not.

    toolsafe doctor examples/broken/big_output.py
"""

from __future__ import annotations

import functools
import json

from langchain_core.tools import tool

_ITEM = "Stainless steel water bottle, 750 ml, double-walled, keeps drinks cold. " * 14


@functools.cache
def _orders_json() -> str:
    """Every order as JSON, as the nightly export writes it (about 10 MB)."""
    return json.dumps([{"order": n, "status": "delivered", "item": _ITEM} for n in range(10_000)])


@tool
def export_orders(customer_id: int) -> str:
    """Export a customer's orders as JSON, for the agent to analyse."""
    return f'{{"customer": {customer_id}, "orders": {_orders_json()}}}'
