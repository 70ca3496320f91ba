"""Policies: composable, ordered steps of the call pipeline (first added = outermost).

Order (DESIGN.md)::

    cache ─ breaker ─ rate limit ─ retry ┐
                                         └ per attempt: concurrency slot ─ timeout ─ backend

Each policy is built once per tool, at registration, from the tool's options
(falling back to the runtime's); a policy that is off is not in the chain at all.
The timeout and the backend form the innermost step, owned by the runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from toolsafe._pipeline import Handler, Policy, Result
from toolsafe.errors import ConfigurationError
from toolsafe.policies.cache import Cache, CachePolicy, as_cache
from toolsafe.policies.circuit_breaker import Breaker, BreakerPolicy, as_breaker
from toolsafe.policies.limits import ConcurrencyLimitPolicy, as_limit
from toolsafe.policies.rate_limit import Rate, RateLimitPolicy, as_rate
from toolsafe.policies.rejections import GLOBAL_KEY, is_rejection
from toolsafe.policies.retry import Retry, RetryPolicy, as_retry
from toolsafe.policies.timeout import attempt_timeout

if TYPE_CHECKING:
    from toolsafe._tool import Tool, ToolOptions

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


def _parsed(tool: Tool, options: ToolOptions) -> dict[str, Any]:
    """Every policy option of ``tool`` (``options``: resolved) read and checked.

    Raises ConfigurationError naming every problem."""
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
            out[option] = read(getattr(options, option))
        except ConfigurationError as exc:
            problems.extend(exc.problems)
        except TypeError as exc:  # e.g. Retry(**{"bogus": 1})
            problems.append(f"{option}=: {exc}")
    for option in ("timeout", "deadline"):
        value = getattr(options, option)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
        ):
            problems.append(f"{option}={value!r}: expected seconds (a number >= 0)")
    for option in ("max_output_chars", "max_output_tokens"):
        value = getattr(options, option)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            problems.append(f"{option}={value!r}: expected a positive int")
    summarizer = options.summarizer
    if summarizer is not None and not callable(summarizer):
        problems.append(f"summarizer={summarizer!r}: expected a callable (text[, budget]) -> str")
    upstream = options.upstream
    if upstream is not None and (
        not isinstance(upstream, str) or not upstream or upstream == GLOBAL_KEY
    ):
        problems.append(f"upstream={upstream!r}: expected a non-empty name other than '*'")
    if problems:
        raise ConfigurationError(problems)
    out["key"] = upstream or tool.name
    return out


def policy_problems(
    tool: Tool, options: ToolOptions, peers: Sequence[tuple[Tool, ToolOptions]] = ()
) -> list[str]:
    """Everything wrong with ``tool``'s policy options (resolved), found at registration.

    Tools sharing an upstream share its breaker, rate limit and concurrency limit,
    so they must not configure them differently: ``peers`` are the other tools of
    the runtime (registered or pending), each with its resolved options.
    """
    try:
        mine = _parsed(tool, options)
    except ConfigurationError as exc:
        return list(exc.problems)
    problems: list[str] = []
    upstream = options.upstream
    if upstream is None:
        return problems
    for other, other_options in peers:
        if other.name == tool.name or other_options.upstream != upstream:
            continue
        try:
            theirs = _parsed(other, other_options)
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


def build_policies(
    tool: Tool, options: ToolOptions, *, max_in_flight: int | None = None
) -> tuple[list[Policy], list[Policy]]:
    """The call-level and attempt-level policies for ``tool`` (``options``: resolved),
    outermost first. ``max_in_flight``: the runtime-wide limit on attempts in flight."""
    parsed = _parsed(tool, options)
    key: str = parsed["key"]
    call: list[Policy] = []
    if parsed["cache"] is not None:
        call.append(CachePolicy(parsed["cache"]))
    if parsed["breaker"] is not None:
        call.append(BreakerPolicy(parsed["breaker"], key))
    if parsed["rate"] is not None:
        call.append(RateLimitPolicy(parsed["rate"], key))
    if parsed["retry"] is not None:
        call.append(RetryPolicy(parsed["retry"], idempotent=bool(options.idempotent)))
    limits: list[tuple[str, int]] = []
    if parsed["concurrency"] is not None:
        limits.append((key, parsed["concurrency"]))
    everything = as_limit(max_in_flight, "max_in_flight")
    if everything is not None:
        limits.append((GLOBAL_KEY, everything))
    attempt: list[Policy] = []
    if limits:
        attempt.append(ConcurrencyLimitPolicy(limits, timeout=attempt_timeout(options)))
    return call, attempt
