"""Fixed: an unknown id raises a specific error; nothing else is caught.

The agent (or toolsafe, which turns it into a structured, non-retryable error)
learns exactly what went wrong, and the traceback stays in the logs.

    toolsafe doctor examples/fixed/swallowed_errors.py
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

#: The ids the schema admits: the model (and the doctor's generated calls) stay in the
#: domain, so a call with a made-up id fails validation before it reaches the code.
CustomerId = Annotated[int, Field(ge=1, le=3, description="A customer id (1-3 in this demo).")]

_CUSTOMERS = {
    1: {"name": "Ada Lovelace", "balance": 1200.0},
    2: {"name": "Alan Turing", "balance": -35.5},
    3: {"name": "Grace Hopper", "balance": 0.0},
}


def customer_balance(customer_id: CustomerId) -> str:
    """Return the account balance of a customer, by customer id."""
    customer = _CUSTOMERS.get(customer_id)
    if customer is None:
        raise LookupError(f"no customer with id {customer_id} (known ids: 1, 2, 3)")
    return f"{customer['name']}: {customer['balance']:.2f} EUR"
