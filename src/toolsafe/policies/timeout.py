"""Time limits: how long one attempt may run, and how long the whole call may take.

``timeout=`` seconds per attempt (the tool's, else the runtime's, else
``DEFAULT_TIMEOUT``); 0 or ``inf`` means no limit. ``deadline=`` seconds for the
whole call, retries and waits included (None: only the attempt timeouts bound
it). An attempt never runs past the deadline: its limit is the smaller of the
two (``attempt_limit``), and the concurrency step sizes its lease from the same
figure. The backend enforces the limit and raises ``AttemptTimeout``.

This step is the innermost policy: it runs once per attempt, after the attempt
got its concurrency slot (time spent waiting for the slot is not the body's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from toolsafe._pipeline import Handler, PipelineEnv, Result
from toolsafe.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from toolsafe._call import CallContext
    from toolsafe._tool import Tool

__all__ = ["DEFAULT_TIMEOUT", "Timeout", "TimeoutPolicy", "as_timeout", "attempt_limit"]

#: Seconds one attempt may run when neither the tool nor the runtime says.
DEFAULT_TIMEOUT = 30.0


def _seconds_problem(option: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return f"{option}={value!r}: expected seconds (a number >= 0)"
    return None


@dataclass(frozen=True, slots=True)
class Timeout:
    """``attempt``: seconds per attempt (None: no limit); ``deadline``: seconds per call
    (None: none)."""

    attempt: float | None = DEFAULT_TIMEOUT
    deadline: float | None = None

    def __post_init__(self) -> None:
        problems = [
            p
            for p in (
                _seconds_problem("timeout", self.attempt),
                _seconds_problem("deadline", self.deadline),
            )
            if p is not None
        ]
        if problems:
            raise ConfigurationError(problems)


def as_timeout(timeout: Any, deadline: Any = None) -> Timeout:
    """Read ``timeout=`` and ``deadline=`` (seconds; None: the default / no deadline;
    0 or inf: no attempt limit)."""
    problems = [
        p
        for p in (_seconds_problem("timeout", timeout), _seconds_problem("deadline", deadline))
        if p is not None
    ]
    if problems:
        raise ConfigurationError(problems)
    seconds = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    attempt = None if seconds <= 0 or math.isinf(seconds) else seconds
    return Timeout(attempt, None if deadline is None else float(deadline))


def attempt_limit(timeout: float | None, remaining: float | None) -> float | None:
    """Seconds an attempt may run: ``timeout`` (None: none), cut to the ``remaining``
    seconds of the call (``CallContext.remaining``; None: no deadline). Not clamped at
    0: a negative figure tells the backend there is no time left."""
    if remaining is None:
        return timeout
    if timeout is None or remaining < timeout:
        return remaining
    return timeout


class TimeoutPolicy:
    """Sets ``ctx.attempt_timeout`` for the backend step, once per attempt."""

    name = "timeout"
    level: Literal["attempt"] = "attempt"

    def __init__(self, options: Timeout) -> None:
        self.options = options

    def wrap(self, inner: Handler, *, tool: Tool, env: PipelineEnv) -> Handler:
        seconds = self.options.attempt
        now = env.clock.now

        def timed(ctx: CallContext) -> Awaitable[Result]:
            # A plain function (no coroutine of its own): this runs on every attempt.
            if ctx.deadline is None:
                ctx.attempt_timeout = seconds
            else:
                ctx.attempt_timeout = attempt_limit(seconds, ctx.remaining(now()))
            return inner(ctx)

        return timed
