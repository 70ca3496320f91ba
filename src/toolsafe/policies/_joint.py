"""Joined store steps: one round trip before a call and one after, on a store that ``joins``.

A tool with a breaker, a rate limit and a concurrency limit (and maybe an
idempotency key) would ask a shared store (Redis) one question per policy, each a
round trip. On a store whose ``joins`` is true the ``JointPolicy``, just outside the
first of those policies, asks ``Store.admit`` once (``toolsafe.stores._joined``) and
leaves the answers in ``ctx.state[JOINED]``; each policy takes its own answer from
there instead of asking, and asks on its own when there is none (a retry's attempt,
a slot that was not free, a token it had to wait for). Ends are gathered the same
way: a successful attempt leaves its slots to give back, the breaker its count, and
the step that opened the joint settles them in one ``Store.settle``. The
idempotency step, when it comes right before, opens the joint itself, so its claim
and its record ride along. On other stores (the in-memory one) the joint is not in
the chain and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from toolsafe._log import logger
from toolsafe._pipeline import Handler, PipelineEnv, Result
from toolsafe.policies.rejections import store_failure
from toolsafe.stores._base import STEP_BUDGET, step_budget
from toolsafe.stores._joined import Admit, Admitted, Settle

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool
    from toolsafe.stores._base import (
        Breaker,
        BreakerAdmission,
        BreakerRecord,
        BreakerVerdict,
        Grant,
        Store,
    )
    from toolsafe.stores._once import FinalStatus

__all__ = ["JOINED", "Joined", "Joint", "JointPolicy", "joins"]

#: ``ctx.state`` key of the call's ``Joined`` while the joint is open.
JOINED = "toolsafe.joined"


def joins(store: Store) -> bool:
    """Does ``store`` want its steps joined?"""
    return store.joins


class Joint:
    """What one tool's policies ask a joining store; each policy sets its part when it
    wraps (on such a store), the joint asks them all at once."""

    __slots__ = ("breaker", "rate", "slots", "timeout")

    def __init__(self, timeout: float | None = None) -> None:
        self.breaker: tuple[str, Breaker] | None = None
        #: key, rate, burst, the call's longest wait for a token.
        self.rate: tuple[str, float, int, Callable[[CallContext], float | None]] | None = None
        #: the limits, and the lease of a slot for this call's attempt.
        self.slots: tuple[tuple[tuple[str, int], ...], Callable[[CallContext], float]] | None = None
        #: The attempt timeout: bounds the admission step like the policies' own.
        self.timeout = timeout

    def plan(self, ctx: CallContext, once: tuple[str, str, float, float] | None) -> Admit:
        rate, slots = self.rate, self.slots
        return Admit(
            once,
            self.breaker,
            None if rate is None else (rate[0], rate[1], rate[2], rate[3](ctx)),
            () if slots is None else slots[0],
            0.0 if slots is None else slots[1](ctx),
        )

    async def open(
        self,
        store: Store,
        ctx: CallContext,
        now: float,
        once: tuple[str, str, float, float] | None = None,
    ) -> tuple[Joined, Admitted]:
        """Ask ``store.admit`` and open the call's joint (raises when the store fails)."""
        plan = self.plan(ctx, once)
        outer = STEP_BUDGET.get()
        STEP_BUDGET.set(step_budget(self.timeout, ctx.remaining(now)))
        try:
            admitted = await store.admit(plan)
        finally:
            STEP_BUDGET.set(outer)  # not reset(): it may resume in another Context
        joined = Joined(admitted, plan.slots)
        ctx.state[JOINED] = joined
        return joined, admitted


class Joined:
    """One call's answers from ``admit``, each taken once by its policy, and the ends
    the policies left for ``settle``."""

    __slots__ = ("admission", "grant", "leases", "on_record", "record", "releases")

    def __init__(self, admitted: Admitted, slots: tuple[tuple[str, int], ...]) -> None:
        self.admission: BreakerAdmission | None = admitted.breaker
        self.grant: Grant | None = admitted.grant
        #: Slots taken for the first attempt, by key (a later attempt takes its own).
        self.leases = dict(zip((key for key, _ in slots), admitted.leases, strict=False))
        self.releases: list[tuple[str, str]] = []
        self.record: tuple[str, Breaker, BreakerVerdict, bool] | None = None
        #: Told the breaker's answer to ``record`` (its state change events).
        self.on_record: Callable[[BreakerRecord], None] | None = None

    async def close(
        self,
        store: Store,
        ctx: CallContext,
        finish: tuple[str, str, FinalStatus, Any, float] | None = None,
    ) -> None:
        """Settle what the call left (and slots it never used) in one step. Raises only
        when ``finish`` could not be recorded."""
        if ctx.state.get(JOINED) is self:
            del ctx.state[JOINED]
        releases = self.releases + list(self.leases.items())
        self.leases = {}
        if not releases and self.record is None and finish is None:
            return
        plan = Settle(tuple(releases), self.record, finish)
        if finish is not None:
            record = await store.settle(plan)
        else:
            try:
                record = await store.settle(plan)
            except Exception:  # bookkeeping only: leases expire, the result stands
                logger.debug("settling %s failed", ctx.call_id, exc_info=True)
                return
        if record is not None and self.on_record is not None:
            self.on_record(record)


def joined_of(ctx: CallContext) -> Joined | None:
    """The call's open joint, if any."""
    found = ctx.state.get(JOINED)
    return found if isinstance(found, Joined) else None


class JointPolicy:
    """Opens the joint (``Store.admit``) before the first policy it serves and settles it
    after; not in the chain on a store that does not join."""

    name = "joint"
    level: Literal["call"] = "call"

    def __init__(self, joint: Joint) -> None:
        self.joint = joint

    def wrap(self, inner: Handler, *, tool: Tool, env: PipelineEnv) -> Handler:
        store = env.store
        if not joins(store):
            return inner
        joint = self.joint
        clock = env.clock
        name = tool.name

        async def joined(ctx: CallContext) -> Result:
            if JOINED in ctx.state:  # opened by the idempotency step, which settles it
                return await inner(ctx)
            try:
                call, _ = await joint.open(store, ctx, clock.now())
            except Exception as exc:
                return Result(error=store_failure(exc, name, ctx.call_id))
            try:
                return await inner(ctx)
            finally:
                await call.close(store, ctx)

        return joined
