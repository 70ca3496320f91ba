"""Exactly once across a fleet: 4 processes sharing Redis never charge an order twice.

A fake payments upstream (``_payments.py``) counts every charge; worker processes
(``_payer.py``) deliver charges through a Runtime on a RedisStore, with duplicates,
concurrent duplicates and re-deliveries, as agents re-send calls.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("redis")

from _payments import Payments, charge_tools
from _procs import go, report, start

import _redis
import toolsafe
from toolsafe.policies import idempotency
from toolsafe.stores.redis import RedisStore

redis_url = _redis.redis_url
redis_prefix = _redis.redis_prefix

PAYER = Path(__file__).with_name("_payer.py")


@pytest.fixture
def payments() -> Any:
    upstream = Payments()
    yield upstream
    upstream.close()


def _deliveries(orders: list[str], times: int, procs: int, seed: int) -> list[list[str]]:
    """Each order ``times`` times, shuffled and dealt to ``procs`` processes."""
    all_of = [o for o in orders for _ in range(times)]
    random.Random(seed).shuffle(all_of)
    return [all_of[i::procs] for i in range(procs)]


def test_a_thousand_deliveries_of_a_hundred_charges_from_four_processes(
    payments: Payments, redis_url: str, redis_prefix: str, terminal_summary: list[str]
) -> None:
    orders = [f"order-{i}" for i in range(100)]
    shares = _deliveries(orders, 10, 4, seed=7)
    # A generous attempt timeout: on a loaded machine a charge that times out after it
    # started is (rightly) an unknown outcome, and this test counts successes.
    cfg = {"redis_url": redis_url, "prefix": redis_prefix, "base": payments.base, "timeout": 30}
    procs = [
        start(PAYER, {**cfg, "mode": "pay", "tool": "charge", "orders": share, "callers": 16})
        for share in shares
    ]
    go(*procs)
    outcomes = [o for p in procs for o in report(p, timeout=120)["outcomes"]]

    assert len(outcomes) == 1000
    missing = [o for o in outcomes if payments.charges[o["order"]] != 1]
    assert not missing, (missing[:5], Counter(o["error"] for o in outcomes))
    assert dict(payments.charges) == {o: 1 for o in orders}  # exactly 100 charges
    assert all(o["ok"] for o in outcomes), Counter(o["error"] for o in outcomes)
    texts: dict[str, set[str]] = defaultdict(set)
    for o in outcomes:
        texts[o["order"]].add(o["text"])
    # Every duplicate got the first call's recorded result, whichever process asked.
    assert all(len(t) == 1 for t in texts.values())
    assert {json.loads(next(iter(t)))["charge_id"] for t in texts.values()} == set(
        payments.ids.values()
    )
    replayed = sum(o["replayed"] for o in outcomes)
    assert replayed == 900
    terminal_summary.append(
        f"exactly once: 1000 deliveries of 100 charges from 4 processes: "
        f"{sum(payments.charges.values())} charges, {replayed} replayed"
    )


def test_a_holder_killed_mid_charge_never_leads_to_a_second_charge(
    payments: Payments, redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "SHARED_LEASE_S", 1.0)
    cfg = {"redis_url": redis_url, "prefix": redis_prefix, "base": payments.base, "lease_s": 1.0}
    for tool, order in (("charge", "slow-a"), ("charge_r", "slow-b")):
        holder = start(PAYER, {**cfg, "mode": "hang", "tool": tool, "orders": [order]})
        go(holder)
        give_up = time.monotonic() + 20
        while payments.charges[order] == 0:  # the upstream booked it, then hangs
            assert time.monotonic() < give_up, "the holder never reached the upstream"
            time.sleep(0.02)
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)

        store = RedisStore(redis_url, prefix=redis_prefix)
        runtime = toolsafe.Runtime(charge_tools(payments.base), store=store)
        try:
            # The dead holder's lease is still running: the duplicate waits for it (its
            # attempt timeout, 2 s), sees it run out, and gets the unknown outcome, or,
            # with reconcile, what the upstream says happened.
            for retry in (
                runtime.call(tool, {"order_id": order}),
                runtime.call(tool, {"order_id": order}),
            ):
                if tool == "charge":
                    assert retry.error is not None and retry.error.type == "OutcomeUnknown"
                    assert not retry.error.retryable and retry.replayed
                else:
                    assert retry.ok and retry.replayed, retry.text
                    assert retry.value == {"order": order, "charge_id": payments.ids[order]}
        finally:
            runtime.close()
            store.close()
        assert payments.charges[order] == 1


def test_redis_restarted_mid_run_fails_closed_and_charges_nothing_twice(
    payments: Payments, terminal_summary: list[str]
) -> None:
    server = _redis.RedisServer(durable=True).start()
    try:
        orders = [f"r-{i}" for i in range(60)]
        shares = _deliveries(orders, 4, 2, seed=3)
        cfg = {
            "redis_url": server.url,
            "prefix": "once:",
            "base": payments.base,
            "lease_s": 1.0,
            "op_timeout": 0.3,
        }
        procs = [
            start(
                PAYER,
                {
                    **cfg,
                    "mode": "pay",
                    "tool": "charge",
                    "orders": s,
                    "callers": 8,
                    "spread_s": 3.0,
                },
            )
            for s in shares
        ]
        go(*procs)
        time.sleep(1.2)
        server.kill()  # SIGKILL mid-run; the append-only file has every acknowledged write
        time.sleep(0.5)
        server.start()
        outcomes = [o for p in procs for o in report(p, timeout=120)["outcomes"]]
        assert max(payments.charges.values()) == 1, payments.charges
        kinds = Counter("ok" if o["ok"] else o["error"] for o in outcomes)
        assert set(kinds) <= {"ok", "StoreUnavailable", "OutcomeUnknown", "DuplicateInFlight"}
        assert kinds["StoreUnavailable"] > 0, kinds  # the restart was felt

        # Every order delivered once more after the restart: still no second charge.
        time.sleep(1.2)  # leases of calls cut off by the outage run out
        store = RedisStore(server.url, prefix="once:")
        runtime = toolsafe.Runtime(charge_tools(payments.base), store=store)
        try:
            again = runtime.call_many([("charge", {"order_id": o}) for o in orders])
        finally:
            runtime.close()
            store.close()
        assert max(payments.charges.values()) == 1, payments.charges
        after = Counter("ok" if o.ok else o.error.type for o in again if o.error or o.ok)
        assert set(after) <= {"ok", "OutcomeUnknown"}
        terminal_summary.append(
            f"exactly once, Redis killed mid-run: {dict(kinds)}; redelivered after: "
            f"{dict(after)}; most charges of one order: {max(payments.charges.values())}"
        )
    finally:
        server.close()
