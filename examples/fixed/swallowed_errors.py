"""Fixed: an unknown id raises a specific error; nothing else is caught.

The agent (or toolsafe, which turns it into a structured, non-retryable error)
learns exactly what went wrong, and the traceback stays in the logs.

    toolsafe doctor examples/fixed/swallowed_errors.py
"""

from __future__ import annotations

_CUSTOMERS = {
    1: {"name": "Ada Lovelace", "balance": 1200.0},
    2: {"name": "Alan Turing", "balance": -35.5},
    3: {"name": "Grace Hopper", "balance": 0.0},
}


def customer_balance(customer_id: int) -> str:
    """Return the account balance of a customer, by customer id."""
    customer = _CUSTOMERS.get(customer_id)
    if customer is None:
        raise LookupError(f"no customer with id {customer_id} (known ids: 1, 2, 3)")
    return f"{customer['name']}: {customer['balance']:.2f} EUR"
