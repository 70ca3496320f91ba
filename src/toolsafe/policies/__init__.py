"""Policies: composable, ordered steps of the call pipeline (first added = outermost).

Order (docs/architecture.md)::

    validation ─ budget ─ cache ─ usage limit ─ breaker ─ rate limit ─ retry ┐
                                         per attempt: concurrency slot ─ timeout ┴ backend

Each policy is built once per tool, at registration, from the tool's options
resolved against the runtime's (``toolsafe._pipeline.resolve_options``); a policy
that is off is not in the chain at all. Every policy has the same shape: a frozen
options class that reports every problem at once, an ``as_x`` reader of the
option, its events beside it, and ``XPolicy.wrap(inner, tool=, env=)``. The
innermost step, which runs one attempt on the backend, is the runtime's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from toolsafe._pipeline import Handler, Policy, Result
from toolsafe.errors import ConfigurationError
from toolsafe.policies._joint import Joint, JointPolicy
from toolsafe.policies.budget import BudgetPolicy, as_budget
from toolsafe.policies.cache import Cache, CachePolicy, as_cache
from toolsafe.policies.circuit_breaker import Breaker, BreakerPolicy, as_breaker
from toolsafe.policies.concurrency import ConcurrencyPolicy, as_concurrency
from toolsafe.policies.idempotency import IdempotencyPolicy, as_idempotency
from toolsafe.policies.rate_limit import Rate, RateLimitPolicy, as_rate
from toolsafe.policies.rejections import GLOBAL_KEY, is_rejection
from toolsafe.policies.retry import Retry, RetryPolicy, as_retry
from toolsafe.policies.timeout import DEFAULT_TIMEOUT, TimeoutPolicy, as_timeout
from toolsafe.policies.usage import UsageLimitPolicy, as_usage
from toolsafe.policies.validation import ValidationPolicy, as_validation

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

#: Options holding one value, each read by its policy's ``as_x``.
_READERS: dict[str, Callable[[Any], Any]] = {
    "retry": as_retry,
    "breaker": as_breaker,
    "rate": as_rate,
    "cache": as_cache,
    "concurrency": as_concurrency,
    "max_calls": as_usage,
}


def _parsed(tool: Tool, options: ToolOptions) -> dict[str, Any]:
    """Every policy option of ``tool`` (``options``: resolved) read and checked.

    Raises ConfigurationError naming every problem."""
    problems: list[str] = []
    out: dict[str, Any] = {}
    for option, read in _READERS.items():
        try:
            out[option] = read(getattr(options, option))
        except ConfigurationError as exc:
            problems.extend(exc.problems)
        except TypeError as exc:  # e.g. Retry(**{"bogus": 1})
            problems.append(f"{option}=: {exc}")
    for option, read_all in (
        ("timeout", lambda: as_timeout(options.timeout, options.deadline)),
        ("budget", lambda: as_budget(options)),
        ("validation", lambda: as_validation(options)),
        ("idempotency", lambda: as_idempotency(options, tool)),
    ):
        try:
            out[option] = read_all()
        except ConfigurationError as exc:
            problems.extend(exc.problems)
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


def keyed_policy(once: Any, timeout: Any, joint: Joint | None = None) -> Policy:
    """The idempotency step: in every chain of a tool with a key source of its own,
    and in the chain the runtime uses for calls that bring a key (``acall(key=)``).
    ``joint``: the tool's joined store steps, when this step comes right before them."""
    wait = timeout.deadline or timeout.attempt or DEFAULT_TIMEOUT
    return IdempotencyPolicy(replace(once, wait_s=float(wait)), joint)


def _adjacent_joint(call: Sequence[Policy]) -> Joint | None:
    """The chain's joint, when nothing that may answer without it (a cache, a usage
    limit) sits between the idempotency step and it."""
    if any(isinstance(p, (CachePolicy, UsageLimitPolicy)) for p in call):
        return None
    found = next((p for p in call if isinstance(p, JointPolicy)), None)
    return None if found is None else found.joint


def with_keyed_step(
    tool: Tool, options: ToolOptions, call: Sequence[Policy]
) -> list[Policy] | None:
    """``call`` with the idempotency step added after validation and the budget, or
    None when it already has one."""
    if any(isinstance(p, IdempotencyPolicy) for p in call):
        return None
    parsed = _parsed(tool, options)
    steps = list(call)
    at = next(
        (i for i, p in enumerate(steps) if not isinstance(p, (ValidationPolicy, BudgetPolicy))),
        len(steps),
    )
    steps.insert(at, keyed_policy(parsed["idempotency"], parsed["timeout"], _adjacent_joint(call)))
    return steps


def build_policies(
    tool: Tool, options: ToolOptions, *, max_in_flight: int | None = None
) -> tuple[list[Policy], list[Policy]]:
    """The call-level and attempt-level policies for ``tool`` (``options``: resolved),
    outermost first. ``max_in_flight``: the runtime-wide limit on attempts in flight."""
    parsed = _parsed(tool, options)
    key: str = parsed["key"]
    timeout = parsed["timeout"]
    limits: list[tuple[str, int]] = []
    if parsed["concurrency"] is not None:
        limits.append((key, parsed["concurrency"].limit))
    everything = as_concurrency(max_in_flight, "max_in_flight")
    if everything is not None:
        limits.append((GLOBAL_KEY, everything.limit))
    # The store steps of the breaker, the rate limit and the slots, joined on a store
    # that joins them (``_joint``): one round trip before the call, one after.
    joint = None
    if parsed["breaker"] is not None or parsed["rate"] is not None or limits:
        joint = Joint(timeout.attempt)
    call: list[Policy] = [ValidationPolicy(parsed["validation"])]
    if parsed["budget"] is not None:
        call.append(BudgetPolicy(parsed["budget"]))
    once = parsed["idempotency"]
    if once.key is not None or once.keyed or once.reconcile is not None:
        near = parsed["cache"] is None and parsed["max_calls"] is None
        call.append(keyed_policy(once, timeout, joint if near else None))
    if parsed["cache"] is not None:
        call.append(CachePolicy(parsed["cache"]))
    if parsed["max_calls"] is not None:  # after the cache: a cached answer uses nothing
        call.append(UsageLimitPolicy(parsed["max_calls"]))
    if joint is not None:
        call.append(JointPolicy(joint))
    if parsed["breaker"] is not None:
        breaker = parsed["breaker"]
        call.append(
            BreakerPolicy(breaker, breaker.key or key, timeout=timeout.attempt, joint=joint)
        )
    if parsed["rate"] is not None:
        call.append(RateLimitPolicy(parsed["rate"], key, timeout=timeout.attempt, joint=joint))
    if parsed["retry"] is not None:
        call.append(
            RetryPolicy(
                parsed["retry"],
                idempotent=options.idempotent is True,
                keyed=options.idempotent == "keyed",
            )
        )
    attempt: list[Policy] = []
    if limits:
        attempt.append(ConcurrencyPolicy(limits, timeout=timeout.attempt, joint=joint))
    if timeout.attempt is not None or timeout.deadline is not None:
        attempt.append(TimeoutPolicy(timeout))
    return call, attempt
