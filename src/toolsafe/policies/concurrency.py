"""Concurrency limits (bulkheads): at most N attempts of a tool, an upstream, or all tools at once.

``concurrency=N`` on a tool limits that tool, or its ``upstream=`` (shared by
every tool naming it); ``Runtime(max_in_flight=N)`` limits all tools together.
Each attempt takes a slot (its own first, then the global one) before it starts
and gives it back when it ends, so a backoff sleep between retries holds none.
A call that finds every slot taken waits for one, first come first served, up
to its deadline (or, with no deadline, its attempt timeout); then it gets a
retryable ``ConcurrencyLimited`` error and the tool never ran.

A sync tool stuck past its timeout keeps its slot until its thread really
returns (the limit holds inside the tool), or until the slot's lease expires
(the attempt's timeout plus ``LEASE_GRACE``): a slot cannot leak for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from toolsafe._pipeline import LINGERING, Handler, PipelineEnv, Result
from toolsafe.errors import ConfigurationError
from toolsafe.observe import events as ev
from toolsafe.policies._joint import Joint, joined_of, joins
from toolsafe.policies.rejections import concurrency_limited, store_failure
from toolsafe.policies.timeout import attempt_limit

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool
    from toolsafe.stores._base import Store

__all__ = [
    "LEASE_GRACE",
    "LEASE_S",
    "SHARED_LEASE_S",
    "Concurrency",
    "ConcurrencyPolicy",
    "ConcurrencyRejected",
    "SlotWaited",
    "as_concurrency",
]

#: Lease of a slot whose attempt has no time limit; renewed while the attempt runs.
LEASE_S = 60.0
#: Added to an attempt's time limit to make its lease (a stuck holder frees it then).
LEASE_GRACE = 30.0
#: On a shared store (Redis) leases are short and renewed while the attempt runs, so a
#: process killed while holding slots frees them within this many seconds, not after
#: its whole timeout. (A sync attempt abandoned past its timeout stops renewing: its
#: slot comes back at most this long after the call returned.)
SHARED_LEASE_S = 10.0


@dataclass(frozen=True, slots=True)
class Concurrency:
    """At most ``limit`` attempts at once (of a tool, an upstream, or all tools)."""

    limit: int

    def __post_init__(self) -> None:
        limit = self.limit
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigurationError([f"Concurrency(limit={limit!r}): must be an int >= 1"])

    def __repr__(self) -> str:  # shown in "differs from tool ..." problems
        return str(self.limit)


def as_concurrency(value: Any, option: str = "concurrency") -> Concurrency | None:
    """Read ``concurrency=`` / ``max_in_flight=``: a positive int (or a Concurrency), or
    None/0/False for no limit."""
    if value is None or value is False or value == 0:
        return None
    if isinstance(value, Concurrency):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError([f"{option}={value!r}: expected a positive int"])
    return Concurrency(value)


@dataclass(frozen=True, slots=True)
class SlotWaited(ev.Event):
    """The attempt waited ``waited_s`` seconds for a slot of ``key`` and got it."""

    key: str = ""
    waited_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ConcurrencyRejected(ev.Event):
    """No slot of ``key`` came within the call's time; the attempt did not start."""

    key: str = ""
    limit: int = 0
    waited_s: float = 0.0


class ConcurrencyPolicy:
    """Holds one slot of each of ``limits`` (``(key, limit)``, taken in that order).

    ``timeout``: the attempt timeout (``Timeout.attempt``), which sizes the leases
    and, with no deadline, bounds the wait for a slot.
    """

    name = "concurrency"
    level: Literal["attempt"] = "attempt"

    def __init__(
        self, limits: list[tuple[str, int]], *, timeout: float | None, joint: Joint | None = None
    ) -> None:
        self.limits = limits
        self.timeout = timeout
        self.joint = joint  # asks the store with the tool's other steps (``_joint``)

    def wrap(self, inner: Handler, *, tool: Tool, env: PipelineEnv) -> Handler:
        limits = tuple(self.limits)
        store = env.store
        clock = env.clock
        listeners = env.listeners
        name = tool.name
        timeout = self.timeout if self.timeout is not None and math.isfinite(self.timeout) else None
        # Slots are taken with ``try_acquire`` first: the in-memory store hands a free
        # one out synchronously, with no coroutine hop; a shared store always waits.
        try_acquire = store.try_acquire
        shared = store.shared
        release_any_thread: Callable[[str, str], None] = store.release_threadsafe

        async def release_all(held: list[tuple[str, str]]) -> None:
            for key, lease in held:
                if not shared:
                    release_any_thread(key, lease)
                else:
                    with contextlib.suppress(Exception):  # an unreleased lease expires
                        await store.release(key, lease)

        async def take(ctx: CallContext, key: str, limit: int, lease_s: float) -> str | None:
            lease = try_acquire(key, limit, lease_s)
            if lease is not None:
                return lease
            began = clock.now()
            remaining = ctx.remaining(began)
            wait = timeout if remaining is None else max(0.0, remaining)
            lease = await store.acquire(key, limit, lease_s=lease_s, wait_s=wait)
            waited = clock.now() - began
            if lease is None:
                if listeners:
                    ev.emit(
                        listeners,
                        ConcurrencyRejected(ctx.call_id, name, clock.now(), key, limit, waited),
                    )
            elif listeners and waited > 0:
                ev.emit(listeners, SlotWaited(ctx.call_id, name, clock.now(), key, waited))
            return lease

        def lease_for(ctx: CallContext) -> tuple[float | None, float]:
            """The attempt's time limit (None: none) and the lease that covers it."""
            remaining = ctx.remaining(clock.now())
            limit_s = attempt_limit(timeout, None if remaining is None else max(0.0, remaining))
            return limit_s, (LEASE_S if limit_s is None else limit_s + LEASE_GRACE)

        def shared_lease(ctx: CallContext) -> float:
            """The lease ``slotted`` takes a slot for (for the joined admission)."""
            lease_s = lease_for(ctx)[1]
            return SHARED_LEASE_S if shared and lease_s > SHARED_LEASE_S else lease_s

        joint = self.joint if self.joint is not None and joins(store) else None
        if joint is not None:
            joint.slots = (limits, shared_lease)

        async def slotted(ctx: CallContext) -> Result:
            limit_s, lease_s = lease_for(ctx)
            renew = limit_s is None
            if shared and lease_s > SHARED_LEASE_S:
                lease_s, renew = SHARED_LEASE_S, True
            held: list[tuple[str, str]] = []
            # Slots taken with the call's joined admission (its first attempt only).
            call = joined_of(ctx) if joint is not None else None
            taken = call.leases if call is not None else None
            for key, limit in limits:
                try:
                    lease = taken.pop(key, None) if taken else None
                    if lease is None:
                        lease = await take(ctx, key, limit, lease_s)
                except Exception as exc:
                    ctx.attempt += 1
                    await release_all(held)
                    return Result(error=store_failure(exc, name, ctx.call_id))
                if lease is None:  # a rejected attempt is still an attempt
                    ctx.attempt += 1
                    await release_all(held)
                    waited = limit_s if limit_s is not None else 0.0
                    return Result(error=concurrency_limited(name, ctx.call_id, key, limit, waited))
                held.append((key, lease))
            renewer = None
            if renew:
                renewer = asyncio.ensure_future(_renew(store, held, lease_s))
            ok = False
            try:
                result = await inner(ctx)
                ok = result.error is None
                return result
            finally:
                if renewer is not None:
                    renewer.cancel()
                linger = ctx.state.pop(LINGERING, None)
                if linger is not None:  # the body still runs: free the slots when it returns
                    linger(lambda: _release_from_thread(release_any_thread, held))
                elif ok and call is not None:  # a success is not retried: settle them joined
                    call.releases.extend(held)
                else:
                    await release_all(held)

        if shared or len(limits) != 1 or timeout is None:
            return slotted
        ((only_key, only_limit),) = limits

        async def slotted_fast(ctx: CallContext) -> Result:
            """One limit on the in-memory store, a slot free: no coroutine but the body's."""
            lease_s = timeout + LEASE_GRACE
            if ctx.deadline is not None:
                lease_s = lease_for(ctx)[1]
            lease = try_acquire(only_key, only_limit, lease_s)
            if lease is None:
                return await slotted(ctx)  # wait for a slot, or be refused
            try:
                return await inner(ctx)
            finally:
                linger = ctx.state.pop(LINGERING, None) if ctx.state else None
                if linger is not None:
                    linger(lambda: _release_from_thread(release_any_thread, [(only_key, lease)]))
                else:
                    release_any_thread(only_key, lease)

        return slotted_fast


def _release_from_thread(release: Callable[[str, str], None], held: list[tuple[str, str]]) -> None:
    for key, lease in held:
        try:
            release(key, lease)
        except Exception:  # the store is gone (runtime closed): the lease expires anyway
            pass


async def _renew(store: Store, held: list[tuple[str, str]], lease_s: float) -> None:
    """Keep the leases of an attempt with no time limit alive while it runs.

    The pause is real time, not the runtime clock's: the body being guarded runs in
    real time, and a ``FakeClock``'s sleep moves time forward, so a renewer sleeping
    on it would race the test's clock ahead. The store measures the lease itself on
    its own clock (the runtime's for the in-memory store, the server's for Redis).
    """
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            await asyncio.sleep(lease_s / 3)
            for key, lease in held:
                with contextlib.suppress(Exception):
                    await store.renew(key, lease, lease_s)
