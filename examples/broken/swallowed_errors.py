"""Broken: a tool that swallows every exception and returns a string instead.

The agent receives "Error: something went wrong" as a *successful* result: it
cannot tell a typo in the id from a database outage, retries what can never
work, and the real cause (here a KeyError) is gone from every log.

    toolsafe doctor examples/broken/swallowed_errors.py
"""

from __future__ import annotations

_CUSTOMERS = {
    1: {"name": "Ada Lovelace", "balance": 1200.0},
    2: {"name": "Alan Turing", "balance": -35.5},
    3: {"name": "Grace Hopper", "balance": 0.0},
}


def customer_balance(customer_id: int) -> str:
    """Return the account balance of a customer, by customer id."""
    try:
        customer = _CUSTOMERS[customer_id]
        return f"{customer['name']}: {customer['balance']:.2f} EUR"
    except:
        return "Error: something went wrong"
