"""Policies: composable, ordered steps of the call pipeline (first added = outermost).

Order (DESIGN.md)::

    cache ─ breaker ─ rate limit ─ retry ┐
                                         └ per attempt: concurrency slot ─ timeout ─ backend

Each policy is built once per tool, at registration, from the tool's options
(falling back to the runtime's); a policy that is off is not in the chain at all.
The timeout and the backend form the innermost step, owned by the runtime.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from toolsafe.errors import ConfigurationError
from toolsafe.policies._base import Handler, Policy, Result
from toolsafe.policies.cache import Cache, CachePolicy, as_cache
from toolsafe.policies.circuit_breaker import Breaker, BreakerPolicy, as_breaker
from toolsafe.policies.limits import ConcurrencyLimitPolicy, as_limit
from toolsafe.policies.rate_limit import Rate, RateLimitPolicy, as_rate
from toolsafe.policies.rejections import GLOBAL_KEY, is_rejection
from toolsafe.policies.retry import Retry, RetryPolicy, as_retry

if TYPE_CHECKING:
    from toolsafe._runtime import Runtime
    from toolsafe._tool import Tool

__all__ = [
    "Breaker",
    "Cache",
    "Handler",
    "Policy",
    "Rate",
    "Result",
    "Retry",
    "build_policies",
    "is_rejection",
    "policy_problems",
]

#: Options whose state is shared by every tool naming the same upstream.
_SHARED = ("breaker", "rate", "concurrency")


def _parsed(tool: Tool, runtime: Runtime) -> dict[str, Any]:
    """Every policy option of ``tool`` read and checked (raises ConfigurationError)."""
    problems: list[str] = []
    out: dict[str, Any] = {}
    readers: dict[str, Callable[[Any], Any]] = {
        "retry": as_retry,
        "breaker": as_breaker,
        "rate": as_rate,
        "cache": as_cache,
        "concurrency": as_limit,
    }
    for option, read in readers.items():
        try:
            out[option] = read(runtime.option(tool, option))
        except ConfigurationError as exc:
            problems.extend(exc.problems)
        except TypeError as exc:  # e.g. Retry(**{"bogus": 1})
            problems.append(f"{option}=: {exc}")
    for option in ("timeout", "deadline"):
        value = runtime.option(tool, option)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
        ):
            problems.append(f"{option}={value!r}: expected seconds (a number >= 0)")
    for option in ("max_output_chars", "max_output_tokens"):
        value = runtime.option(tool, option)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            problems.append(f"{option}={value!r}: expected a positive int")
    summarizer = runtime.option(tool, "summarizer")
    if summarizer is not None and not callable(summarizer):
        problems.append(f"summarizer={summarizer!r}: expected a callable (text[, budget]) -> str")
    upstream = runtime.option(tool, "upstream")
    if upstream is not None and (
        not isinstance(upstream, str) or not upstream or upstream == GLOBAL_KEY
    ):
        problems.append(f"upstream={upstream!r}: expected a non-empty name other than '*'")
    if problems:
        raise ConfigurationError(problems)
    out["key"] = upstream or tool.name
    return out


def policy_problems(tool: Tool, runtime: Runtime, pending: Sequence[Tool] = ()) -> list[str]:
    """Everything wrong with ``tool``'s policy options, found at registration.

    Tools sharing an upstream share its breaker, rate limit and concurrency limit,
    so they must not configure them differently.
    """
    try:
        mine = _parsed(tool, runtime)
    except ConfigurationError as exc:
        return list(exc.problems)
    problems: list[str] = []
    upstream = runtime.option(tool, "upstream")
    if upstream is None:
        return problems
    others = [t for t in [*runtime.tools, *pending] if t.name != tool.name]
    for other in others:
        if runtime.option(other, "upstream") != upstream:
            continue
        try:
            theirs = _parsed(other, runtime)
        except ConfigurationError:
            continue
        for option in _SHARED:
            if (
                mine[option] is not None
                and theirs[option] is not None
                and mine[option] != theirs[option]
            ):
                problems.append(
                    f"{option}= differs from tool '{other.name}' on the same upstream "
                    f"'{upstream}' ({mine[option]!r} vs {theirs[option]!r}); tools of one "
                    "upstream share it, so give them the same value"
                )
    return problems


def _attempt_timeout(tool: Tool, runtime: Runtime) -> float | None:
    from toolsafe._runtime import DEFAULT_TIMEOUT

    value = runtime.option(tool, "timeout")
    seconds = DEFAULT_TIMEOUT if value is None else float(value)
    return None if seconds <= 0 or math.isinf(seconds) else seconds


def build_policies(tool: Tool, runtime: Runtime) -> tuple[list[Policy], list[Policy]]:
    """The call-level and attempt-level policies for ``tool``, outermost first."""
    options = _parsed(tool, runtime)
    key: str = options["key"]
    call: list[Policy] = []
    if options["cache"] is not None:
        call.append(CachePolicy(options["cache"]))
    if options["breaker"] is not None:
        call.append(BreakerPolicy(options["breaker"], key))
    if options["rate"] is not None:
        call.append(RateLimitPolicy(options["rate"], key))
    if options["retry"] is not None:
        idempotent = bool(runtime.option(tool, "idempotent"))
        call.append(RetryPolicy(options["retry"], idempotent=idempotent))
    limits: list[tuple[str, int]] = []
    if options["concurrency"] is not None:
        limits.append((key, options["concurrency"]))
    everything = as_limit(getattr(runtime, "max_in_flight", None), "max_in_flight")
    if everything is not None:
        limits.append((GLOBAL_KEY, everything))
    attempt: list[Policy] = []
    if limits:
        attempt.append(ConcurrencyLimitPolicy(limits, timeout=_attempt_timeout(tool, runtime)))
    return call, attempt
