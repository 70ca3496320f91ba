"""The store interface: the state that calls share (slots, tokens, breakers, cached results).

A store is chosen once, at runtime construction; policies do not know which one
they have. Every method is **one atomic step** on the store's side, so a store
backed by a server (Redis, with one Lua script per method) has no
read-modify-write race between processes:

==============================  ============================================================
``acquire`` / ``release``       a concurrency slot, held as a *lease* that expires, so a
``renew``                       holder that dies cannot leak it; a long call renews it
``take``                        one token of a token bucket: granted now, granted after a
                                wait (the token is reserved for the caller), or refused
``breaker_admit``               read the breaker's state and, in half-open, claim a probe
``breaker_record``              record an outcome and read the (possibly new) state
``cache_get`` / ``cache_set``   a cached result with a TTL
``once_begin`` / ``once_renew``  an idempotency record: claim a key, or read what the call
``once_finish``                 that holds it did; keep it alive; record how it ended
                                (``toolsafe.stores._once`` has the states)
``admit`` / ``settle``          several of the above joined: all of a call's admission
                                decisions in one step, its releases in another
                                (``toolsafe.stores._joined``); used when ``joins``
==============================  ============================================================

Times crossing the interface are *durations* (seconds to wait, seconds a lease
lasts), never absolute times: the store measures time with its own clock (a
server's clock for a shared store), so callers on different machines agree.

A store backed by a server bounds every step in time: by its own limit, and by
``STEP_BUDGET`` when the step's caller set one (its share of the attempt); a step
with no answer within that is unanswered (``StoreUnavailable``, or the store's
fallback), never a verdict.

Keys are the tool or upstream name; each family of state lives in its own
namespace inside the store, so ``"search"`` the slot key and ``"search"`` the
breaker key never collide.
"""

from __future__ import annotations

import abc
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from toolsafe.errors import ConfigurationError
from toolsafe.stores._joined import Admit, Admitted, Settle, admit_in_steps, settle_in_steps
from toolsafe.stores._once import FinalStatus, OnceAnswer

__all__ = [
    "ADMIT_CLOSED",
    "GRANTED",
    "RECORD_CLOSED",
    "STEP_BUDGET",
    "Breaker",
    "BreakerAdmission",
    "BreakerRecord",
    "BreakerState",
    "BreakerVerdict",
    "Grant",
    "Store",
    "step_budget",
]

#: Seconds the current store step may wait for a shared store (None: the store's own
#: bound). Policies set it around a call-level step (a token, a breaker verdict) to the
#: call's share: the attempt's timeout or what is left of the deadline, whichever is
#: less. A context variable, not a parameter, so stores written against the interface
#: before it keep working; stores that never wait ignore it.
STEP_BUDGET: ContextVar[float | None] = ContextVar("toolsafe_store_step_budget", default=None)


def step_budget(attempt_timeout: float | None, remaining: float | None) -> float | None:
    """A step's share: the attempt's timeout or the deadline's ``remaining``, the lesser."""
    if remaining is None:
        return attempt_timeout
    remaining = max(0.0, remaining)
    return remaining if attempt_timeout is None or remaining < attempt_timeout else attempt_timeout


BreakerState = Literal["closed", "open", "half_open"]
#: What a finished call means to a breaker. ``ignore``: neither (a rejection, a bad request).
BreakerVerdict = Literal["success", "failure", "ignore"]


@dataclass(frozen=True, slots=True)
class Breaker:
    """When a circuit opens and how it recovers (``toolsafe.Breaker``; the semantics are
    in ``toolsafe.policies.circuit_breaker``).

    Passed with every breaker step, so a store keeps only counters, never
    configuration. ``failures`` and ``failure_rate`` may be combined (either opens
    it); set one to None to use only the other.
    """

    #: Consecutive counted failures that open the circuit (None: not used).
    failures: int | None = 5
    #: Fraction of failed calls within ``window`` that opens it (None: not used).
    failure_rate: float | None = None
    #: Seconds over which the failure rate is measured.
    window: float = 60.0
    #: Calls needed within ``window`` before the failure rate is judged.
    min_calls: int = 10
    #: Seconds the circuit stays open before letting probes through.
    cooldown: float = 30.0
    #: Probe calls let through at once in half-open; that many successes close it.
    probes: int = 1
    #: The circuit's name: tools giving the same one share a circuit and nothing else
    #: (``upstream=`` shares rate and concurrency limits too). None: the tool's
    #: ``upstream=``, else its name. ``toolsafe proxy`` gives one per upstream server.
    key: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.failures is None and self.failure_rate is None:
            problems.append("Breaker: set failures=, failure_rate= or both")
        if self.failures is not None and (not isinstance(self.failures, int) or self.failures < 1):
            problems.append(f"Breaker(failures={self.failures!r}): must be an int >= 1")
        if self.failure_rate is not None and not 0 < self.failure_rate <= 1:
            problems.append(f"Breaker(failure_rate={self.failure_rate!r}): must be in (0, 1]")
        if self.window <= 0:
            problems.append(f"Breaker(window={self.window!r}): must be > 0")
        if self.min_calls < 1:
            problems.append(f"Breaker(min_calls={self.min_calls!r}): must be >= 1")
        if self.cooldown < 0:
            problems.append(f"Breaker(cooldown={self.cooldown!r}): must be >= 0")
        if self.probes < 1:
            problems.append(f"Breaker(probes={self.probes!r}): must be >= 1")
        if problems:
            raise ConfigurationError(problems)


class Grant(NamedTuple):
    """Answer of ``take``.

    ``ok`` and ``wait_s == 0``: go now. ``ok`` and ``wait_s > 0``: a token is
    reserved for you; wait that long, then go (do not ask again). Not ``ok``: no
    token was taken; one could be had in ``wait_s`` seconds (the Retry-After).
    """

    ok: bool
    wait_s: float


GRANTED = Grant(True, 0.0)


class BreakerAdmission(NamedTuple):
    """Answer of ``breaker_admit``.

    ``probe``: the call was let through as a half-open probe and must report back
    with ``probe=True``. ``changed``: this step moved the state (open to half-open).
    """

    allowed: bool
    probe: bool
    state: BreakerState
    retry_after_s: float
    changed: bool


ADMIT_CLOSED = BreakerAdmission(True, False, "closed", 0.0, False)


class BreakerRecord(NamedTuple):
    """Answer of ``breaker_record``: the state before and after the outcome was counted."""

    previous: BreakerState
    state: BreakerState


RECORD_CLOSED = BreakerRecord("closed", "closed")


class Store(abc.ABC):
    """Shared state for the pipeline. Implementations must be safe to use from any
    thread and any event loop at once (the sync API runs a loop per thread).

    Every step has an immediate twin (``try_acquire``, ``take_now``, ``admit_now``,
    ``record_now``) that policies call first: it answers at once, without awaiting,
    or returns None ("ask the async step"). The defaults always return None; a store
    whose steps never wait (the in-memory one) overrides them, which saves a
    coroutine per step. Return the shared constants (``GRANTED``, ``ADMIT_CLOSED``,
    ``RECORD_CLOSED``) for the common answers: policies test them by identity.
    """

    #: True when the state lives outside this process (a server shared by several):
    #: slot leases are then short and renewed while the attempt runs, so slots held
    #: by a process that died come back soon, and releases are awaited.
    shared: bool = True
    #: True when policies should join their steps (``admit`` / ``settle``): a store
    #: whose every step is a round trip. The in-memory store answers its steps at once.
    joins: bool = False

    # ------------------------------------------------------------------ concurrency slots

    @abc.abstractmethod
    async def acquire(
        self, key: str, limit: int, *, lease_s: float, wait_s: float | None
    ) -> str | None:
        """Take one of ``limit`` slots of ``key`` for ``lease_s`` seconds; return a lease id.

        When all slots are held, wait up to ``wait_s`` seconds (None: no limit, 0:
        do not wait) for one, first come first served; return None if none came.
        A lease not released nor renewed within ``lease_s`` frees its slot.
        """

    @abc.abstractmethod
    async def release(self, key: str, lease: str) -> None:
        """Give a slot back (a no-op for an expired or unknown lease)."""

    @abc.abstractmethod
    async def renew(self, key: str, lease: str, lease_s: float) -> bool:
        """Extend a lease to ``lease_s`` seconds from now; False if it already expired."""

    def try_acquire(self, key: str, limit: int, lease_s: float) -> str | None:
        """A free slot of ``key`` taken at once (a lease id), or None: then ``acquire``
        is asked, and waits. The default never answers at once."""
        return None

    def release_threadsafe(self, key: str, lease: str) -> None:
        """Release from a plain thread with no event loop (an abandoned worker thread
        that finally returned). The default runs ``release`` on a throwaway loop."""
        import asyncio

        asyncio.run(self.release(key, lease))

    # ------------------------------------------------------------------ rate limits

    @abc.abstractmethod
    async def take(self, key: str, rate: float, burst: int, *, max_wait_s: float | None) -> Grant:
        """Take a token of ``key``'s bucket (``rate`` tokens/s, at most ``burst`` saved).

        A token that comes within ``max_wait_s`` (None: any wait) is reserved at once,
        so waiters are served in order without asking again.
        """

    def take_now(self, key: str, rate: float, burst: int, max_wait_s: float | None) -> Grant | None:
        """``take`` answered at once, or None: then ``take`` is awaited."""
        return None

    # ------------------------------------------------------------------ circuit breakers

    @abc.abstractmethod
    async def breaker_admit(self, key: str, breaker: Breaker) -> BreakerAdmission:
        """May a call go through? Moves open to half-open when the cooldown is over
        and claims a probe in half-open, in the same step."""

    @abc.abstractmethod
    async def breaker_record(
        self, key: str, breaker: Breaker, verdict: BreakerVerdict, *, probe: bool
    ) -> BreakerRecord:
        """Count a finished call and apply the transition it causes, in one step.

        Closed: a failure may open the circuit. Half-open (``probe=True``): a failure
        reopens it, ``breaker.probes`` successes close it, ``ignore`` frees the probe.
        """

    def admit_now(self, key: str, breaker: Breaker) -> BreakerAdmission | None:
        """``breaker_admit`` answered at once, or None: then ``breaker_admit`` is awaited."""
        return None

    def record_now(
        self, key: str, breaker: Breaker, verdict: BreakerVerdict, probe: bool
    ) -> BreakerRecord | None:
        """``breaker_record`` done at once, or None: then ``breaker_record`` is awaited."""
        return None

    @abc.abstractmethod
    async def breaker_state(self, key: str) -> BreakerState:
        """The current state, for stats and tests (no transition is applied)."""

    # ------------------------------------------------------------------ result cache

    @abc.abstractmethod
    async def cache_get(self, key: str) -> tuple[bool, Any]:
        """``(True, value)`` for a live entry, ``(False, None)`` for a miss.

        The value is the caller's own copy: mutating it changes nothing stored.
        """

    @abc.abstractmethod
    async def cache_set(self, key: str, value: Any, ttl_s: float) -> bool:
        """Store ``value`` for ``ttl_s`` seconds; False when the store refuses it
        (too large, not serializable)."""

    # ------------------------------------------------------------------ idempotency records

    async def once_begin(self, key: str, owner: str, lease_s: float, ttl_s: float) -> OnceAnswer:
        """Claim ``key`` for ``owner`` (answer ``run``) or say what holds it: another
        call in flight, or the recorded end of an earlier one (``toolsafe.stores._once``).

        The claim's lease lasts ``lease_s`` (renewed by ``once_renew``); the record
        itself ``ttl_s``, so a holder that dies leaves an ``unknown`` key, not a free one."""
        raise ConfigurationError(
            [f"{type(self).__name__} does not keep idempotency records (idempotency keys)"]
        )

    async def once_renew(self, key: str, owner: str, lease_s: float) -> bool:
        """Extend ``owner``'s pending claim on ``key``; False when it no longer holds it."""
        raise ConfigurationError(
            [f"{type(self).__name__} does not keep idempotency records (idempotency keys)"]
        )

    async def once_finish(
        self, key: str, owner: str, status: FinalStatus, payload: Any, ttl_s: float
    ) -> None:
        """Record how ``owner``'s call with ``key`` ended (``clear``: as if it never ran),
        kept for ``ttl_s`` seconds."""
        raise ConfigurationError(
            [f"{type(self).__name__} does not keep idempotency records (idempotency keys)"]
        )

    def once_begin_now(
        self, key: str, owner: str, lease_s: float, ttl_s: float
    ) -> OnceAnswer | None:
        """``once_begin`` answered at once, or None: then ``once_begin`` is awaited."""
        return None

    def once_finish_now(
        self, key: str, owner: str, status: FinalStatus, payload: Any, ttl_s: float
    ) -> bool:
        """``once_finish`` done at once (True), or False: then ``once_finish`` is awaited."""
        return False

    # ------------------------------------------------------------------ joined steps

    async def admit(self, plan: Admit) -> Admitted:
        """A call's admission decisions in one step, stopping at the first that does not
        let it go on at once (``toolsafe.stores._joined``). The default runs the steps
        one after the other."""
        return await admit_in_steps(self, plan)

    async def settle(self, plan: Settle) -> BreakerRecord | None:
        """A call's releases and records in one step; the breaker's answer (None when
        none was asked or it could not be counted). Raises when the finish could not
        be recorded. The default runs the steps one after the other."""
        return await settle_in_steps(self, plan)

    # ------------------------------------------------------------------ life cycle

    def stats(self) -> dict[str, Any]:
        """Counters for metrics (``Runtime.stats()``)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default has nothing to release."""
