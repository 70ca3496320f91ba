"""Retries outside the agent loop: exponential backoff with full jitter, within the deadline.

Only retryable errors are retried (the classification of ``toolsafe.errors``);
validation errors never reach this step. Between attempts the policy sleeps
``Retry.backoff(n)``, at least the upstream's Retry-After, and never past the
call's deadline: a retry that could not start before the deadline is not made,
and the call ends with the last real error (whose ``attempts`` says how many
were made).

**Idempotency.** Retrying repeats the tool's side effects, so it is opt-in per
tool: ``@tool(idempotent=True)`` (or ``Runtime(idempotent=True)``) retries every
retryable error. A tool that does not say is treated as *not* idempotent and is
retried only when its body certainly did not run: a rejection (no slot, no
worker free before the attempt's timeout). A timeout, a dropped connection or a
5xx after the body started is returned, not retried: the request may have been
applied.

This step wraps the attempts (the concurrency slot, the timeout and the
backend): the breaker and the rate limit outside it count the call once.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from toolsafe import testing
from toolsafe._pipeline import Handler, PipelineEnv, Result
from toolsafe.errors import ConfigurationError, ToolError
from toolsafe.observe import events as ev
from toolsafe.policies.rejections import is_rejection

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool

__all__ = ["Retry", "RetryPolicy", "RetryScheduled", "RetryStopped", "as_retry"]

Jitter = Literal["full", "none"]
StopReason = Literal["attempts", "deadline", "not_idempotent", "retry_after"]


@dataclass(frozen=True, slots=True)
class Retry:
    """How a call is retried.

    ``attempts``: the most attempts in all (1 = no retry). The wait before retry
    ``n`` (1 = the first) is ``min(max_backoff, initial * multiplier ** (n - 1))``;
    with ``jitter="full"`` a uniform draw between 0 and that (spreads a crowd of
    retries out), with ``"none"`` exactly that. A Retry-After from the upstream
    is a floor on the wait; one longer than ``max_retry_after`` ends the call
    with its error (which carries ``retry_after_s``) instead of a long sleep.
    """

    attempts: int = 3
    initial: float = 0.1
    max_backoff: float = 5.0
    multiplier: float = 2.0
    jitter: Jitter = "full"
    max_retry_after: float = 60.0
    #: Source of the jitter draw in [0, 1) (inject a seeded one for reproducible runs).
    rng: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.attempts, int) or self.attempts < 1:
            problems.append(f"Retry(attempts={self.attempts!r}): must be an int >= 1")
        for name in ("initial", "max_backoff", "max_retry_after"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                problems.append(f"Retry({name}={value!r}): must be a number >= 0")
        if not isinstance(self.multiplier, (int, float)) or self.multiplier < 1:
            problems.append(f"Retry(multiplier={self.multiplier!r}): must be >= 1")
        if self.jitter not in ("full", "none"):
            problems.append(f"Retry(jitter={self.jitter!r}): must be 'full' or 'none'")
        if problems:
            raise ConfigurationError(problems)

    def cap(self, retry: int) -> float:
        """The longest wait before retry number ``retry`` (1 = the first retry)."""
        try:
            grown = self.initial * self.multiplier ** (retry - 1)
        except OverflowError:
            return float(self.max_backoff)
        return float(min(self.max_backoff, grown))

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry``: jittered below ``cap(retry)``."""
        cap = self.cap(retry)
        return cap * self.rng() if self.jitter == "full" else cap


def as_retry(value: Any) -> Retry | None:
    """Read the ``retry=`` option: a Retry, an attempt count, True (defaults), False/None."""
    if value is None or value is False:
        return None
    if isinstance(value, Retry):
        return value if value.attempts > 1 else None
    if value is True:
        return Retry()
    if isinstance(value, int):
        if value < 1:
            raise ConfigurationError([f"retry={value!r}: the attempt count must be >= 1"])
        return Retry(attempts=value) if value > 1 else None
    if isinstance(value, dict):
        made = Retry(**value)
        return made if made.attempts > 1 else None
    raise ConfigurationError(
        [f"retry={value!r}: expected toolsafe.Retry(...), an attempt count, True or False"]
    )


@dataclass(frozen=True, slots=True)
class RetryScheduled(ev.Event):
    """Attempt ``attempt`` failed with ``error``; the next starts after ``delay`` seconds."""

    attempt: int = 0
    delay: float = 0.0
    #: The jitter's upper bound for this retry (grows with each retry up to max_backoff).
    backoff_cap: float = 0.0
    error: ToolError | None = None


@dataclass(frozen=True, slots=True)
class RetryStopped(ev.Event):
    """A retryable error that will not be retried, and why."""

    attempt: int = 0
    reason: StopReason = "attempts"
    error: ToolError | None = None


class RetryPolicy:
    name = "retry"
    level: Literal["call"] = "call"

    def __init__(self, options: Retry, *, idempotent: bool, keyed: bool = False) -> None:
        self.options = options
        self.idempotent = idempotent
        #: ``idempotent="keyed"``: a call that carries an idempotency key is as safe to
        #: repeat as an idempotent one (its upstream deduplicates by the key).
        self.keyed = keyed

    def wrap(self, inner: Handler, *, tool: Tool, env: PipelineEnv) -> Handler:
        again = self.again(inner, tool=tool, env=env)

        async def retrying(ctx: CallContext) -> Result:
            result = await inner(ctx)
            if result.error is None:
                return result
            return await again(ctx, result)

        return retrying

    def again(
        self, inner: Handler, *, tool: Tool, env: PipelineEnv
    ) -> Callable[[CallContext, Result], Awaitable[Result]]:
        """The step after a failed first attempt: ``again(ctx, result)`` retries through
        ``inner`` while the rules allow (the express lane calls it after its attempt)."""
        options = self.options
        idempotent = self.idempotent
        keyed = self.keyed
        clock = env.clock
        listeners = env.listeners
        name = tool.name
        state = testing.STATE

        async def again(ctx: CallContext, result: Result) -> Result:
            made = 1  # attempts made by this loop (an attempt rejected before it began counts)
            while True:
                error = result.error
                assert error is not None
                if not error.retryable:
                    return result
                stop: StopReason | None = None
                attempts = options.attempts
                if state.active and state.attempts < attempts:
                    attempts = state.attempts
                if (
                    not idempotent
                    and not (keyed and ctx.idempotency_key is not None)
                    and not is_rejection(error)
                ):
                    stop = "not_idempotent"
                elif made >= attempts:
                    stop = "attempts"
                cap = options.cap(made)
                delay = options.backoff(made)
                after = error.retry_after_s
                if stop is None and after is not None:
                    if after > options.max_retry_after:
                        stop = "retry_after"
                    elif after > delay:
                        delay = after
                if state.active:
                    delay = 0.0
                if stop is None and ctx.deadline is not None:
                    remaining = ctx.remaining(clock.now())
                    if remaining is not None and remaining <= delay:
                        stop = "deadline"
                if stop is not None:
                    if listeners:
                        ev.emit(
                            listeners,
                            RetryStopped(ctx.call_id, name, clock.now(), made, stop, error),
                        )
                    return result
                if listeners:
                    ev.emit(
                        listeners,
                        RetryScheduled(ctx.call_id, name, clock.now(), made, delay, cap, error),
                    )
                await clock.sleep(delay)
                remaining = ctx.remaining(clock.now())
                if remaining is not None and remaining <= 0:
                    if listeners:
                        ev.emit(
                            listeners,
                            RetryStopped(ctx.call_id, name, clock.now(), made, "deadline", error),
                        )
                    return result
                result = await inner(ctx)
                made += 1
                if result.error is None:
                    return result

        return again
