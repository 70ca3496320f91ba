"""Circuit breaker: stop calling an upstream that keeps failing, and find out when it is back.

Closed: calls go through and their outcomes are counted. The circuit opens after
``failures`` consecutive failures, or when at least ``failure_rate`` of the calls
within the last ``window`` seconds failed (once ``min_calls`` calls were seen).
Open: calls fail at once with a retryable ``CircuitOpen`` error whose
``retry_after_s`` says when probing starts. After ``cooldown`` seconds it is
half-open: ``probes`` calls at a time go through; that many successes close it,
one failure opens it again.

Only transient failures count: retryable errors, timeouts included (a tool that
keeps hanging soon fails fast instead of taking a worker per call). The model's
bad arguments never reach this step; non-retryable errors (a 404, a bug in the
tool) and the pipeline's own rejections count neither way.

The breaker belongs to the tool, or to its ``upstream=`` name so that several
tools calling one API share it. Its state lives in the runtime's store. It sits
outside the retry step: a call counts once, with its final outcome.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from toolsafe._log import logger
from toolsafe._pipeline import Handler, PipelineEnv, Result
from toolsafe.errors import ConfigurationError
from toolsafe.observe import events as ev
from toolsafe.policies._joint import Joint, joined_of, joins
from toolsafe.policies.rejections import circuit_open, is_rejection, store_failure
from toolsafe.stores._base import (
    ADMIT_CLOSED,
    RECORD_CLOSED,
    STEP_BUDGET,
    Breaker,
    BreakerAdmission,
    BreakerRecord,
    BreakerState,
    BreakerVerdict,
    step_budget,
)

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool

__all__ = [
    "Breaker",
    "BreakerPolicy",
    "BreakerRejected",
    "BreakerStateChanged",
    "as_breaker",
    "breaker_outcome",
]


def as_breaker(value: Any) -> Breaker | None:
    """Read the ``breaker=`` option: a Breaker, a failure count, True (defaults), False/None."""
    if value is None or value is False:
        return None
    if isinstance(value, Breaker):
        return value
    if value is True:
        return Breaker()
    if isinstance(value, int):
        return Breaker(failures=value)
    if isinstance(value, dict):
        return Breaker(**value)
    raise ConfigurationError(
        [f"breaker={value!r}: expected toolsafe.Breaker(...), a failure count, True or False"]
    )


def breaker_outcome(result: Result) -> BreakerVerdict:
    """What a call's result means to a breaker."""
    error = result.error
    if error is None:
        return "success"
    if error.retryable and not is_rejection(error):
        return "failure"
    return "ignore"


@dataclass(frozen=True, slots=True)
class BreakerStateChanged(ev.Event):
    """The breaker of ``key`` moved from ``previous`` to ``state``."""

    key: str = ""
    previous: BreakerState = "closed"
    state: BreakerState = "closed"


@dataclass(frozen=True, slots=True)
class BreakerRejected(ev.Event):
    """A call was refused because the breaker of ``key`` is open."""

    key: str = ""
    state: BreakerState = "open"
    retry_after_s: float = 0.0


class BreakerPolicy:
    name = "breaker"
    level: Literal["call"] = "call"

    def __init__(
        self,
        options: Breaker,
        key: str,
        *,
        timeout: float | None = None,
        joint: Joint | None = None,
    ) -> None:
        self.options = options
        self.key = key
        self.timeout = timeout  # the attempt timeout: bounds the store steps (STEP_BUDGET)
        self.joint = joint  # asks the store with the tool's other steps (``_joint``)

    def wrap(self, inner: Handler, *, tool: Tool, env: PipelineEnv) -> Handler:
        breaker = self.options
        key = self.key
        store = env.store
        clock = env.clock
        listeners = env.listeners
        name = tool.name
        # The in-memory store answers admit_now/record_now at once: no coroutine hop.
        admit_now = store.admit_now
        record_now = store.record_now
        timeout = self.timeout

        changed, record = self.recorder(tool=tool, env=env)

        def refuse(ctx: CallContext, admission: BreakerAdmission) -> Result:
            if admission.changed:
                changed(ctx, "open", admission.state)
            if listeners:
                ev.emit(
                    listeners,
                    BreakerRejected(
                        ctx.call_id,
                        name,
                        clock.now(),
                        key,
                        admission.state,
                        admission.retry_after_s,
                    ),
                )
            return Result(
                error=circuit_open(name, ctx.call_id, key, admission.retry_after_s, admission.state)
            )

        async def through(ctx: CallContext, admission: BreakerAdmission) -> Result:
            """Run a call the breaker let through (not in the closed state's short path)."""
            if admission.changed:
                changed(ctx, "open", admission.state)
            try:
                return await inner(ctx)
            except BaseException:
                if admission.probe:  # a cancelled probe must not hold the half-open gate
                    with contextlib.suppress(Exception):
                        await store.breaker_record(key, breaker, "ignore", probe=True)
                raise

        async def guarded(ctx: CallContext) -> Result:
            admission = admit_now(key, breaker)
            if admission is ADMIT_CLOSED:  # the common case, kept short
                result = await inner(ctx)
                rec = record_now(key, breaker, breaker_outcome(result), False)
                if rec is RECORD_CLOSED:
                    return result
                return await record(ctx, result, False, rec)
            if admission is None:
                outer = STEP_BUDGET.get()
                STEP_BUDGET.set(step_budget(timeout, ctx.remaining(clock.now())))
                try:
                    admission = await store.breaker_admit(key, breaker)
                except Exception as exc:
                    return Result(error=store_failure(exc, name, ctx.call_id))
                finally:
                    STEP_BUDGET.set(outer)  # not reset(): it may resume in another Context
            if not admission.allowed:
                return refuse(ctx, admission)
            probe = admission.probe
            result = await through(ctx, admission)
            rec = record_now(key, breaker, breaker_outcome(result), probe)
            return await record(ctx, result, probe, rec)

        if self.joint is None or not joins(store):
            return guarded
        self.joint.breaker = (key, breaker)

        async def guarded_joined(ctx: CallContext) -> Result:
            """The verdict came with the call's joined admission; the count goes with
            its joined settle (``_joint``)."""
            call = joined_of(ctx)
            admission = None if call is None else call.admission
            if call is None or admission is None:
                return await guarded(ctx)
            call.admission = None
            if not admission.allowed:
                return refuse(ctx, admission)
            probe = admission.probe
            result = await through(ctx, admission)
            call.record = (key, breaker, breaker_outcome(result), probe)

            def told(rec: BreakerRecord) -> None:
                if rec.state != rec.previous:
                    changed(ctx, rec.previous, rec.state)

            call.on_record = told
            return result

        return guarded_joined

    def recorder(
        self, *, tool: Tool, env: PipelineEnv
    ) -> tuple[
        Callable[[CallContext, BreakerState, BreakerState], None],
        Callable[[CallContext, Result, bool, BreakerRecord | None], Awaitable[Result]],
    ]:
        """``changed`` (announce a state change) and ``record(ctx, result, probe, rec)``:
        count ``result`` (``rec``: what ``record_now`` answered, None: ask the store).
        The express lane (``toolsafe._express``) records through it too."""
        breaker = self.options
        key = self.key
        store = env.store
        clock = env.clock
        listeners = env.listeners
        name = tool.name
        timeout = self.timeout

        def changed(ctx: CallContext, previous: BreakerState, state: BreakerState) -> None:
            if listeners:
                ev.emit(
                    listeners,
                    BreakerStateChanged(ctx.call_id, name, clock.now(), key, previous, state),
                )

        async def record(
            ctx: CallContext, result: Result, probe: bool, rec: BreakerRecord | None
        ) -> Result:
            """Count ``result`` (``rec``: what ``record_now`` answered) and report a change."""
            if rec is None:
                verdict = breaker_outcome(result)
                outer = STEP_BUDGET.get()
                STEP_BUDGET.set(step_budget(timeout, ctx.remaining(clock.now())))
                try:
                    rec = await store.breaker_record(key, breaker, verdict, probe=probe)
                except Exception:  # bookkeeping only: the call's result stands
                    logger.debug("breaker record for %s failed", key, exc_info=True)
                    return result
                finally:
                    STEP_BUDGET.set(outer)  # not reset(): it may resume in another Context
            if rec is not RECORD_CLOSED and rec.state != rec.previous:
                changed(ctx, rec.previous, rec.state)
            return result

        return changed, record
