"""Exactly once: a keyed call runs its tool's body at most once, on the memory store and on Redis."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import _redis
import toolsafe
from toolsafe import FakeClock, Retry, Runtime, parse_tool_error
from toolsafe.integrations.openai import execute_tool_calls
from toolsafe.stores.redis import RedisStore

redis_url = _redis.redis_url
redis_prefix = _redis.redis_prefix


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield None  # the runtime's own MemoryStore
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    shared = RedisStore(url, prefix=prefix)
    yield shared
    await shared.aclose()


class Ledger:
    """A payments upstream stand-in: counts every charge the body makes."""

    def __init__(self) -> None:
        self.charges: list[str] = []
        self.lock = threading.Lock()

    def charge(self, order_id: str) -> int:
        with self.lock:
            self.charges.append(order_id)
            return len(self.charges)


def _charge_tool(ledger: Ledger, **options: Any) -> toolsafe.Tool:
    @toolsafe.tool(idempotency_key=lambda a: a["order_id"], **options)
    def charge(order_id: str, amount: int) -> dict[str, Any]:
        """Charge a card for an order."""
        n = ledger.charge(order_id)
        time.sleep(0.02)
        return {"order": order_id, "amount": amount, "charge": n}

    return charge


async def test_a_duplicate_gets_the_recorded_result(store: Any) -> None:
    ledger = Ledger()
    runtime = Runtime([_charge_tool(ledger)], store=store)
    first = await runtime.acall("charge", {"order_id": "A", "amount": 5})
    again = await runtime.acall("charge", {"order_id": "A", "amount": 7})  # args rewritten
    assert first.ok and not first.replayed
    assert again.ok and again.replayed
    assert again.text == first.text == '{"order":"A","amount":5,"charge":1}'
    assert again.attempts == 0
    assert ledger.charges == ["A"]
    other = await runtime.acall("charge", {"order_id": "B", "amount": 1})
    assert not other.replayed and ledger.charges == ["A", "B"]


async def test_concurrent_duplicates_wait_for_the_first(store: Any) -> None:
    ledger = Ledger()
    runtime = Runtime([_charge_tool(ledger)], store=store)
    outcomes = await runtime.acall_many([("charge", {"order_id": "C", "amount": 3})] * 50)
    assert ledger.charges == ["C"]
    assert {o.text for o in outcomes} == {'{"order":"C","amount":3,"charge":1}'}
    assert sum(not o.replayed for o in outcomes) == 1


async def test_a_caller_key_dedupes_any_tool(store: Any) -> None:
    runs: list[int] = []

    @toolsafe.tool
    def send_email(to: str) -> str:
        """Send an email."""
        runs.append(1)
        return f"sent to {to}"

    runtime = Runtime([send_email], store=store)
    a = await runtime.acall("send_email", {"to": "x@example.com"}, key="msg-1")
    b = await runtime.acall("send_email", {"to": "x@example.com"}, key="msg-1")
    c = await runtime.acall("send_email", {"to": "x@example.com"})  # no key: it runs
    assert (a.replayed, b.replayed, c.replayed) == (False, True, False)
    assert len(runs) == 2
    sync = runtime.call("send_email", {"to": "x@example.com"}, key="msg-1")
    assert sync.replayed and len(runs) == 2
    batch = runtime.call_many([toolsafe.ToolCall(None, "send_email", {"to": "y"}, key="msg-1")])
    assert batch[0].replayed and batch[0].text == "sent to x@example.com"


async def test_a_failure_after_the_body_ran_is_replayed_not_rerun(store: Any) -> None:
    ledger = Ledger()

    @toolsafe.tool(idempotency_key=lambda a: a["order_id"])
    def refund(order_id: str) -> str:
        """Charges, then fails (the card network answered late)."""
        ledger.charge(order_id)
        raise RuntimeError("refund failed after it was booked")

    runtime = Runtime([refund], store=store)
    outcomes = [await runtime.acall("refund", {"order_id": "R"}) for _ in range(6)]
    assert ledger.charges == ["R"]
    errors = [parse_tool_error(o.text) for o in outcomes]
    assert all(e is not None and e.type == "RuntimeError" for e in errors)
    assert [o.replayed for o in outcomes] == [False] + [True] * 5


async def test_a_rejection_frees_the_key(store: Any) -> None:
    ledger = Ledger()
    gate = threading.Event()

    @toolsafe.tool(upstream="bank", concurrency=1, timeout=5)
    def hold(x: int) -> int:
        """Holds the bank's only slot."""
        gate.wait(5)
        return x

    charge = _charge_tool(ledger, upstream="bank", concurrency=1, deadline=0.2)
    runtime = Runtime([hold, charge], store=store)
    holder = asyncio.ensure_future(runtime.acall("hold", {"x": 1}))
    await asyncio.sleep(0.05)
    refused = await runtime.acall("charge", {"order_id": "D", "amount": 1})
    assert refused.error is not None and refused.error.type == "ConcurrencyLimited"
    gate.set()
    await holder
    ran = await runtime.acall("charge", {"order_id": "D", "amount": 1})
    assert ran.ok and not ran.replayed and ledger.charges == ["D"]


async def test_a_timeout_after_the_body_started_is_an_unknown_outcome(store: Any) -> None:
    ledger = Ledger()
    release = threading.Event()

    @toolsafe.tool(idempotency_key=lambda a: a["order_id"], timeout=0.1)
    def slow_charge(order_id: str) -> str:
        """Charges, then the upstream hangs."""
        ledger.charge(order_id)
        release.wait(5)
        return "ok"

    runtime = Runtime([slow_charge], store=store)
    try:
        first = await runtime.acall("slow_charge", {"order_id": "E"})
        assert first.error is not None and first.error.type == "TimeoutError"
        again = await runtime.acall("slow_charge", {"order_id": "E"})
        assert again.replayed and again.error is not None
        assert again.error.type == "OutcomeUnknown" and not again.error.retryable
        assert again.error.details["idempotency_key"] == "E"
        assert ledger.charges == ["E"]
    finally:
        release.set()


async def test_reconcile_settles_an_unknown_outcome(store: Any) -> None:
    ledger = Ledger()
    release = threading.Event()
    asked: list[dict[str, Any]] = []

    def reconcile(arguments: dict[str, Any], ctx: toolsafe.CallContext) -> Any:
        asked.append(arguments)
        booked = arguments["order_id"] in ledger.charges
        return {"order": arguments["order_id"], "reconciled": True} if booked else None

    @toolsafe.tool(idempotency_key=lambda a: a["order_id"], timeout=0.1, reconcile=reconcile)
    def slow_charge(order_id: str, book: bool) -> str:
        """Books (or not), then hangs."""
        if book:
            ledger.charge(order_id)
        release.wait(5)
        return "ok"

    runtime = Runtime([slow_charge], store=store)
    try:
        await runtime.acall("slow_charge", {"order_id": "F", "book": True})
        settled = await runtime.acall("slow_charge", {"order_id": "F", "book": True})
        assert settled.ok and settled.replayed
        assert settled.value == {"order": "F", "reconciled": True}
        replay = await runtime.acall("slow_charge", {"order_id": "F", "book": True})
        assert replay.value == settled.value and len(asked) == 1
        # Not booked: reconcile says it did not happen, so the call runs again.
        await runtime.acall("slow_charge", {"order_id": "G", "book": False})
        release.set()
        rerun = await runtime.acall("slow_charge", {"order_id": "G", "book": False})
        assert rerun.ok and not rerun.replayed and rerun.value == "ok"
    finally:
        release.set()
    assert ledger.charges == ["F"]


async def test_keyed_upstream_forwards_the_key_and_retries_after_start(store: Any) -> None:
    seen: list[str | None] = []

    @toolsafe.tool(
        idempotent="keyed",
        idempotency_key="call_id",
        retry=Retry(3, initial=0, jitter="none"),
        timeout=0.2,
    )
    async def pay(order_id: str, ctx: toolsafe.CallContext) -> str:
        """Forwards ctx.idempotency_key as the upstream's Idempotency-Key header."""
        seen.append(ctx.idempotency_key)
        if len(seen) < 3:
            raise ConnectionResetError("reset after the request was sent")
        return "paid"

    runtime = Runtime([pay], store=store)
    outcome = await runtime.acall("pay", {"order_id": "H"}, call_id="tool-call-7")
    assert outcome.ok and outcome.attempts == 3
    assert seen == ["tool-call-7"] * 3
    replay = await runtime.acall("pay", {"order_id": "H"}, call_id="tool-call-7")
    assert replay.replayed and len(seen) == 3
    # Without a key from the framework the retry stays the safe one (not after start).
    seen.clear()
    unkeyed = await runtime.acall("pay", {"order_id": "H"})
    assert unkeyed.error is not None and len(seen) == 1


async def test_in_flight_duplicate_gives_up_at_its_deadline(store: Any) -> None:
    release = threading.Event()

    @toolsafe.tool(idempotency_key=lambda a: a["order_id"], timeout=5)
    def slow(order_id: str) -> str:
        """Takes its time."""
        release.wait(5)
        return "done"

    runtime = Runtime([slow], store=store)
    first = asyncio.ensure_future(runtime.acall("slow", {"order_id": "I"}))
    await asyncio.sleep(0.05)
    quick = Runtime([slow.with_options(deadline=0.2)], store=runtime.store)
    dup = await quick.acall("slow", {"order_id": "I"})
    assert dup.error is not None and dup.error.type == "DuplicateInFlight" and dup.error.retryable
    release.set()
    assert (await first).ok
    after = await quick.acall("slow", {"order_id": "I"})
    assert after.replayed and after.value == "done"


def test_openai_tool_call_ids_are_keys_for_call_id_tools() -> None:
    ledger = Ledger()

    @toolsafe.tool(idempotency_key="call_id")
    def book(order_id: str) -> str:
        """Book an order."""
        ledger.charge(order_id)
        return "booked"

    runtime = Runtime([book])
    message = {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "book", "arguments": '{"order_id": "J"}'},
            }
        ],
    }
    execute_tool_calls(runtime, message)
    resent = execute_tool_calls(runtime, message)  # the model re-sent the same call
    assert resent[0]["content"] == "booked" and ledger.charges == ["J"]
    # A call with no framework id has no key: it runs.
    runtime.call("book", {"order_id": "J"})
    assert ledger.charges == ["J", "J"]


def test_records_expire_after_their_ttl() -> None:
    clock = FakeClock()
    ledger = Ledger()
    runtime = Runtime([_charge_tool(ledger, idempotency_ttl=60)], clock=clock)
    runtime.call("charge", {"order_id": "K", "amount": 1})
    assert runtime.call("charge", {"order_id": "K", "amount": 1}).replayed
    clock.advance(61)
    assert not runtime.call("charge", {"order_id": "K", "amount": 1}).replayed
    assert ledger.charges == ["K", "K"]


def test_bad_options_are_reported_at_definition() -> None:
    def body(x: int) -> int:
        """A tool."""
        return x

    bad = toolsafe.tool(body, idempotency_key="order", idempotency_ttl=-1, idempotent="maybe")
    with pytest.raises(toolsafe.ConfigurationError) as caught:
        Runtime([bad])
    text = str(caught.value)
    for expected in ("idempotent='maybe'", "idempotency_key='order'", "idempotency_ttl=-1"):
        assert expected in text


def test_retry_without_idempotent_warns_once_at_definition() -> None:
    with pytest.warns(UserWarning, match="not declared idempotent"):

        @toolsafe.tool(retry=3)
        def fetch(x: int) -> int:
            """Fetch."""
            return x

    assert any("idempotent=True" in w for w in fetch.warnings)


def test_the_docs_example_runs() -> None:
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "exactly-once.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, str(page), "exec"), {})


def test_a_keyed_tool_called_without_a_key_just_runs() -> None:
    runs: list[int] = []

    @toolsafe.tool(idempotent="keyed")
    def post(x: int) -> int:
        """Posts."""
        runs.append(x)
        return x

    runtime = Runtime([post])
    assert [runtime.call("post", {"x": 1}).replayed for _ in range(2)] == [False, False]
    assert runs == [1, 1]
