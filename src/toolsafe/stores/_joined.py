"""Joined steps: all of a call's admission decisions in one store step, its releases in
another (``Store.admit`` / ``Store.settle``).

A call guarded by a breaker, a rate limit and a concurrency limit (and maybe an
idempotency key) asks a shared store five to seven questions, one round trip each.
Joined, it asks two: ``admit`` (claim the key, ask the breaker, take a token, take
the slots, in that order, stopping at the first "no") and ``settle`` (give the
slots back, count the outcome, record how the call ended). Each is still one
atomic step on the store's side (one Lua script on Redis).

``admit`` stops where the call cannot go on at once, and takes nothing after that
point: a key held by another call, a refusing breaker, a token that must be waited
for (reserved, like ``take``), a slot that is not free. The policies then carry on
from the answer as they would have with their own steps (wait for the token, queue
for the slot), so the semantics are those of the separate steps.

The defaults here run the separate steps one after the other (the in-memory store
keeps them: its steps never leave the process); a server store overrides both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from toolsafe.stores._base import (
        Breaker,
        BreakerAdmission,
        BreakerRecord,
        BreakerVerdict,
        Grant,
        Store,
    )
    from toolsafe.stores._once import FinalStatus, OnceAnswer

__all__ = ["Admit", "Admitted", "Settle", "admit_in_steps", "settle_in_steps"]


@dataclass(frozen=True, slots=True)
class Admit:
    """What a call asks for before it starts, asked in this order (None: not asked)."""

    #: An idempotency claim: record key, owner, lease s, ttl s (``Store.once_begin``).
    once: tuple[str, str, float, float] | None = None
    #: A breaker verdict: key, breaker (``Store.breaker_admit``).
    breaker: tuple[str, Breaker] | None = None
    #: A token: key, rate, burst, max wait s (``Store.take``).
    rate: tuple[str, float, int, float | None] | None = None
    #: Slots, taken in order without waiting: (key, limit) each (``Store.acquire``).
    slots: tuple[tuple[str, int], ...] = ()
    #: The slots' lease (seconds).
    lease_s: float = 0.0


class Admitted(NamedTuple):
    """Answer of ``admit``: each answer, or None where it stopped before asking."""

    once: OnceAnswer | None
    breaker: BreakerAdmission | None
    grant: Grant | None
    #: The leases taken, one per slot in ``Admit.slots`` order (maybe fewer: the first
    #: slot that was not free, and those after it, were not taken).
    leases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Settle:
    """What a call gives back and records when it ends (None / empty: nothing)."""

    #: Slots to give back: (key, lease) each (``Store.release``).
    releases: tuple[tuple[str, str], ...] = ()
    #: An outcome to count: key, breaker, verdict, probe (``Store.breaker_record``).
    record: tuple[str, Breaker, BreakerVerdict, bool] | None = None
    #: How a keyed call ended: record key, owner, status, payload, ttl s
    #: (``Store.once_finish``).
    finish: tuple[str, str, FinalStatus, Any, float] | None = None


async def admit_in_steps(store: Store, plan: Admit) -> Admitted:
    """``admit`` as the separate steps, one after the other."""
    once = admission = grant = None
    if plan.once is not None:
        key, owner, lease_s, ttl_s = plan.once
        once = store.once_begin_now(key, owner, lease_s, ttl_s)
        if once is None:
            once = await store.once_begin(key, owner, lease_s, ttl_s)
        if once.status != "run":
            return Admitted(once, None, None, ())
    if plan.breaker is not None:
        name, spec = plan.breaker
        admission = store.admit_now(name, spec)
        if admission is None:
            admission = await store.breaker_admit(name, spec)
        if not admission.allowed:
            return Admitted(once, admission, None, ())
    if plan.rate is not None:
        name, rate, burst, max_wait = plan.rate
        grant = store.take_now(name, rate, burst, max_wait)
        if grant is None:
            grant = await store.take(name, rate, burst, max_wait_s=max_wait)
        if not grant.ok or grant.wait_s > 0:
            return Admitted(once, admission, grant, ())
    leases: list[str] = []
    for name, limit in plan.slots:
        lease = store.try_acquire(name, limit, plan.lease_s)
        if lease is None:
            lease = await store.acquire(name, limit, lease_s=plan.lease_s, wait_s=0)
        if lease is None:
            break
        leases.append(lease)
    return Admitted(once, admission, grant, tuple(leases))


async def settle_in_steps(store: Store, plan: Settle) -> BreakerRecord | None:
    """``settle`` as the separate steps, one after the other. A failed release or
    record is skipped (a lease expires on its own); a failed finish raises."""
    for name, lease in plan.releases:
        try:
            if store.shared:
                await store.release(name, lease)
            else:
                store.release_threadsafe(name, lease)
        except Exception:
            pass
    record = None
    if plan.record is not None:
        name, spec, verdict, probe = plan.record
        try:
            record = store.record_now(name, spec, verdict, probe)
            if record is None:
                record = await store.breaker_record(name, spec, verdict, probe=probe)
        except Exception:
            record = None
    if plan.finish is not None:
        key, owner, status, payload, ttl_s = plan.finish
        if not store.once_finish_now(key, owner, status, payload, ttl_s):
            await store.once_finish(key, owner, status, payload, ttl_s)
    return record
