"""Exactly once on a real CrewAI crew: a tool that fails after charging charges once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

pytest.importorskip("crewai", reason="needs the crewai extra: pip install 'toolsafe[crewai]'")

from crewai.tools import BaseTool

from toolsafe import parse_tool_error
from toolsafe.integrations.crewai import harden

pytestmark = [
    pytest.mark.crewai,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:crewai.*"),
]

TASK = "Charge the order. CALL<pay> ARGS<order_id=o-7;amount=500>"


class Ledger:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.charges: list[str] = []


LEDGER = Ledger()


class Pay(BaseTool):
    """Books the charge, then fails: the card network answered after the booking."""

    name: str = "pay"
    description: str = "Charge a customer for an order."

    def _run(self, order_id: str, amount: int) -> str:
        with LEDGER.lock:
            LEDGER.charges.append(order_id)
        raise RuntimeError(f"payment gateway error after booking {order_id}")


@pytest.fixture(autouse=True)
def _fresh_ledger() -> Any:
    LEDGER.charges = []
    yield


def test_plain_crewai_react_charges_six_times(make_crew: Any) -> None:
    make_crew([Pay()], TASK, native=False).kickoff()
    assert LEDGER.charges == ["o-7"] * 6  # CrewAI re-runs a raising tool (2 x 3 rounds)


def test_hardened_with_a_key_charges_once_even_when_the_step_is_re_run(make_crew: Any) -> None:
    tool = harden(Pay(), idempotency_key=lambda args: args["order_id"])
    first = make_crew([tool], TASK, native=False).kickoff()
    assert LEDGER.charges == ["o-7"]
    # The agent step is retried (a new crew for the same order, as after a crash).
    second = make_crew([tool], TASK, native=False).kickoff()
    assert LEDGER.charges == ["o-7"]
    for out in (first, second):
        error = parse_tool_error(out.raw.removeprefix("ANSWER: ").splitlines()[0])
        assert error is not None and error.type == "RuntimeError" and not error.retryable
    # Without a key, harden stops CrewAI's own re-runs but not the retried step.
    LEDGER.charges = []
    unkeyed = harden(Pay())
    make_crew([unkeyed], TASK, native=False).kickoff()
    make_crew([unkeyed], TASK, native=False).kickoff()
    assert LEDGER.charges == ["o-7", "o-7"]
