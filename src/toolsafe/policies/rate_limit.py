"""Rate limits: a token bucket per tool or upstream, waiting within the deadline or refusing.

``Rate(per_second=20, burst=5)``: tokens come at ``per_second``, at most ``burst``
are saved up, each call takes one. Over any span of ``t`` seconds at most
``per_second * t + burst`` calls start. A call that finds the bucket empty gets
the next token *reserved* and sleeps until it is due, if that is before its
deadline (and within ``max_wait``); otherwise it fails at once with a retryable
``RateLimited`` error whose ``retry_after_s`` says when capacity comes back.

Shorthand: ``rate="20/s"``, ``"100/min"``, ``"5000/h"`` (burst 1 second's worth,
at least 1), or a number of calls per second.

The limit counts calls, not attempts: it sits outside the retry step (retries
are paced by backoff and Retry-After instead).
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from toolsafe import testing
from toolsafe._pipeline import Handler, PipelineEnv, Result
from toolsafe.errors import ConfigurationError
from toolsafe.observe import events as ev
from toolsafe.policies._joint import Joint, joined_of, joins
from toolsafe.policies.rejections import rate_limited, store_failure
from toolsafe.stores._base import GRANTED, STEP_BUDGET, Grant, step_budget

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool

__all__ = ["Rate", "RateLimitPolicy", "RateLimitRejected", "RateLimitWaited", "as_rate"]

_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
}
_SHORTHAND = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*$")


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket: ``per_second`` tokens a second, up to ``burst`` saved.

    ``burst`` defaults to one second's worth (at least 1). ``max_wait``: the
    longest a call waits for a token (None: as long as its deadline allows).
    """

    per_second: float
    burst: int | None = None
    max_wait: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.per_second, (int, float)) or not self.per_second > 0:
            problems.append(f"Rate(per_second={self.per_second!r}): must be a number > 0")
        elif math.isinf(self.per_second):
            problems.append("Rate(per_second=inf): leave rate= unset for no limit")
        if self.burst is not None and (not isinstance(self.burst, int) or self.burst < 1):
            problems.append(f"Rate(burst={self.burst!r}): must be an int >= 1")
        if self.max_wait is not None and self.max_wait < 0:
            problems.append(f"Rate(max_wait={self.max_wait!r}): must be >= 0")
        if problems:
            raise ConfigurationError(problems)

    @property
    def capacity(self) -> int:
        """The bucket size: ``burst``, or one second's worth of tokens (at least 1)."""
        if self.burst is not None:
            return self.burst
        return max(1, int(self.per_second))

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"20/s"``, ``"100/min"``, ``"5000/hour"``, ``"10/5s"`` (10 per 5 seconds)."""
        match = _SHORTHAND.match(text.lower())
        unit = _UNITS.get(match.group(3)) if match else None
        if match is None or unit is None:
            raise ConfigurationError(
                [f"rate={text!r}: expected a shorthand like '20/s', '100/min' or '5000/h'"]
            )
        count = float(match.group(1))
        span = float(match.group(2) or 1.0) * unit
        if span <= 0 or count <= 0:
            raise ConfigurationError([f"rate={text!r}: count and period must be > 0"])
        return cls(per_second=count / span)


def as_rate(value: Any) -> Rate | None:
    """Read the ``rate=`` option: a Rate, a shorthand string, calls per second, or None."""
    if value is None or value is False:
        return None
    if isinstance(value, Rate):
        return value
    if isinstance(value, str):
        return Rate.parse(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Rate(per_second=float(value))
    if isinstance(value, dict):
        return Rate(**value)
    raise ConfigurationError(
        [f"rate={value!r}: expected toolsafe.Rate(...), a string like '20/s', or a number"]
    )


@dataclass(frozen=True, slots=True)
class RateLimitWaited(ev.Event):
    """The call waited ``wait_s`` seconds for its token."""

    key: str = ""
    wait_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RateLimitRejected(ev.Event):
    """The call was refused: no token before its deadline."""

    key: str = ""
    retry_after_s: float = 0.0


class RateLimitPolicy:
    name = "rate_limit"
    level: Literal["call"] = "call"

    def __init__(
        self, options: Rate, key: str, *, timeout: float | None = None, joint: Joint | None = None
    ) -> None:
        self.options = options
        self.key = key
        self.timeout = timeout  # the attempt timeout: bounds the store step (STEP_BUDGET)
        self.joint = joint  # asks the store with the tool's other steps (``_joint``)

    def wrap(self, inner: Handler, *, tool: Tool, env: PipelineEnv) -> Handler:
        key = self.key
        rate = float(self.options.per_second)
        burst = self.options.capacity
        max_wait = self.options.max_wait
        store = env.store
        clock = env.clock
        listeners = env.listeners
        name = tool.name
        state = testing.STATE
        take_now = store.take_now
        timeout = self.timeout

        def bound_for(ctx: CallContext) -> float | None:
            remaining = None if ctx.deadline is None else ctx.remaining(clock.now())
            if remaining is None:
                return max_wait
            remaining = max(0.0, remaining)
            return remaining if max_wait is None or remaining < max_wait else max_wait

        async def after(ctx: CallContext, grant: Grant) -> Result:
            if not grant.ok:
                if listeners:
                    ev.emit(
                        listeners,
                        RateLimitRejected(ctx.call_id, name, clock.now(), key, grant.wait_s),
                    )
                return Result(error=rate_limited(name, ctx.call_id, key, grant.wait_s))
            if grant.wait_s > 0.0 and not state.active:
                if listeners:
                    ev.emit(
                        listeners,
                        RateLimitWaited(ctx.call_id, name, clock.now(), key, grant.wait_s),
                    )
                await clock.sleep(grant.wait_s)
            return await inner(ctx)

        async def limited(ctx: CallContext) -> Result:
            outer = STEP_BUDGET.get()
            STEP_BUDGET.set(step_budget(timeout, ctx.remaining(clock.now())))
            try:
                grant = await store.take(key, rate, burst, max_wait_s=bound_for(ctx))
            except Exception as exc:
                return Result(error=store_failure(exc, name, ctx.call_id))
            finally:
                STEP_BUDGET.set(outer)  # not reset(): it may resume in another Context
            return await after(ctx, grant)

        def limited_now(ctx: CallContext) -> Awaitable[Result]:
            """A plain function: a call granted at once (the in-memory store answers
            ``take_now``) goes straight on to the next step, with no coroutine of its
            own; only a wait, a refusal or a store that must be awaited needs one."""
            grant = take_now(key, rate, burst, bound_for(ctx))
            if grant is GRANTED:
                return inner(ctx)
            if grant is None:
                return limited(ctx)
            return after(ctx, grant)

        if self.joint is None or not joins(store):
            return limited_now
        self.joint.rate = (key, rate, burst, bound_for)

        def limited_joined(ctx: CallContext) -> Awaitable[Result]:
            """The token came with the call's joined admission (``_joint``)."""
            call = joined_of(ctx)
            grant = None if call is None else call.grant
            if call is None or grant is None:
                return limited(ctx)
            call.grant = None
            if grant is GRANTED:
                return inner(ctx)
            return after(ctx, grant)

        return limited_joined
