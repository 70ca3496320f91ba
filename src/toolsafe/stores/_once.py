"""Idempotency records: what a store keeps so a keyed call runs its body at most once.

One record per key, in one of these states (a store applies each transition in
one atomic step; the in-memory store with ``begin``/``finish`` below, a server
store with a script that does the same):

==========  ====================================================================
pending     a call holds the key and its body may be running; ``owner`` and a
            lease that the holder renews while it runs
done        the body finished with a result (``value``, in its JSON form)
failed      the body ran and raised an error that says it did not succeed
            (``error``, the ToolError's dict): duplicates get the same error
unknown     nobody can say whether the body's effect happened: it timed out
            after it started, its worker crashed, it raised a transient error
            mid-way, or its holder died (the lease ran out while pending)
==========  ====================================================================

A key with no record is free: the first ``begin`` makes it pending and answers
``run``. A failure that certainly did not run the body (a rejection) ``clear``\\s
the record, so the next call runs. ``done``, ``failed`` and ``unknown`` records
last ``ttl`` seconds. A pending record whose lease ran out turns ``unknown`` at
the next ``begin``; ``unknown`` turns back into free only by ``clear`` (a tool's
``reconcile`` found that the effect did not happen) or by its TTL.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

__all__ = ["LOST_HOLDER", "OnceAnswer", "OnceStatus", "begin", "finish"]

OnceStatus = Literal["run", "in_flight", "done", "failed", "unknown"]
FinalStatus = Literal["done", "failed", "unknown", "clear"]


class OnceAnswer(NamedTuple):
    """Answer of ``Store.once_begin``: what the caller should do, and the record's
    payload (``value`` for done, ``error`` for failed and unknown, else None)."""

    status: OnceStatus
    payload: Any = None


RUN = OnceAnswer("run")
IN_FLIGHT = OnceAnswer("in_flight")

#: The cause recorded when a pending claim's lease ran out: its holder died or lost
#: the store before it could record how the call ended.
LOST_HOLDER: dict[str, Any] = {
    "type": "HolderLost",
    "message": "the call that held this key stopped answering before it recorded how it "
    "ended (its process died or lost the store)",
}


def begin(
    record: dict[str, Any] | None, owner: str, now: float, lease_s: float
) -> tuple[dict[str, Any] | None, OnceAnswer]:
    """The record after a ``begin`` by ``owner`` at ``now``, and the answer.

    The returned record is the one to store (None: leave it as it is)."""
    if record is None:
        return {"s": "pending", "owner": owner, "until": now + lease_s}, RUN
    state = record["s"]
    if state == "pending":
        if record["until"] > now:
            return None, IN_FLIGHT
        lost = dict(LOST_HOLDER)
        return {"s": "unknown", "error": lost}, OnceAnswer("unknown", lost)
    if state == "done":
        return None, OnceAnswer("done", record.get("value"))
    return None, OnceAnswer(state, record.get("error"))


def finish(
    record: dict[str, Any] | None, owner: str, status: FinalStatus, payload: Any
) -> dict[str, Any] | None:
    """The record after ``owner`` reports ``status`` (None: delete it).

    The holder's report is kept when it still holds the key, or when the key went
    ``unknown`` meanwhile (the holder now knows better). A ``clear`` of an unknown
    record by anyone (a reconcile that found no effect) frees the key. Finished
    records (done, failed) are never overwritten."""
    if status == "clear":
        if record is None or record["s"] in ("unknown",) or record.get("owner") == owner:
            return None
        return record
    if record is not None and record["s"] in ("done", "failed"):
        return record
    if record is not None and record["s"] == "pending" and record.get("owner") != owner:
        return record
    key = "value" if status == "done" else "error"
    return {"s": status, key: payload}
