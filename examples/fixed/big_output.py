"""Fixed: the export returns one page of compact orders and says how to get more.

The model asks for what it needs (``limit``/``offset``), and each answer stays a
few kilobytes however many orders the customer has.

    toolsafe doctor examples/fixed/big_output.py
"""

from __future__ import annotations

import json

from langchain_core.tools import tool

_ORDER_COUNT = 10_000
_MAX_PAGE = 50


@tool
def export_orders(customer_id: int, limit: int = 20, offset: int = 0) -> str:
    """Export one page of a customer's orders as JSON (at most 50 per page).

    Args:
        customer_id: The customer.
        limit: Orders per page (1 to 50).
        offset: Index of the first order to return.
    """
    limit = max(1, min(limit, _MAX_PAGE))
    offset = max(0, offset)
    page = [
        {"order": n, "status": "delivered", "item": "water bottle 750 ml"}
        for n in range(offset, min(offset + limit, _ORDER_COUNT))
    ]
    following = offset + limit if offset + limit < _ORDER_COUNT else None
    return json.dumps(
        {"customer": customer_id, "total": _ORDER_COUNT, "orders": page, "next_offset": following}
    )
