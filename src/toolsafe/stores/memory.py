"""The embedded default store: one process's memory, safe from every thread and loop.

One ``threading.Lock`` guards all state (each operation is a few dict updates, so
one lock costs less than many). Nothing here is bound to an event loop: slot
waiters park on their own loop and are woken from whichever thread frees a slot
(see ``_waiters``). Slot leases, breakers, token buckets and cache TTLs read
the injected clock (the runtime passes its own, so a ``FakeClock`` drives them in
tests). The sync twins of the steps (``try_acquire``, ``take_now``, ``admit_now``,
``record_now``) always answer: nothing here waits but a slot waiter.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections import OrderedDict, deque
from typing import Any

from toolsafe._clock import Clock, SystemClock
from toolsafe.stores import _once
from toolsafe.stores._base import (
    ADMIT_CLOSED,
    GRANTED,
    RECORD_CLOSED,
    Breaker,
    BreakerAdmission,
    BreakerRecord,
    BreakerState,
    BreakerVerdict,
    Grant,
    Store,
)
from toolsafe.stores._once import FinalStatus, OnceAnswer
from toolsafe.stores._waiters import WaitQueue

__all__ = ["MemoryStore"]

#: Buckets the failure-rate window is split into (memory stays constant per breaker).
_BUCKETS = 10
_IMMUTABLE = (str, bytes, int, float, bool, type(None), complex, frozenset)
#: What ``admit_all_now`` hands back when no slot is taken (never changed).
_NO_LEASES: list[tuple[str, str]] = []


class _Slots:
    __slots__ = ("holders", "limit", "queue")

    def __init__(self, limit: int) -> None:
        self.holders: dict[str, float] = {}  # lease id -> expiry (monotonic)
        self.limit = limit
        self.queue = WaitQueue()


class _Bucket:
    __slots__ = ("last", "tokens")

    def __init__(self, tokens: float, last: float) -> None:
        self.tokens = tokens
        self.last = last


class _Circuit:
    __slots__ = (
        "consecutive",
        "open_until",
        "probe_expires",
        "probe_successes",
        "probes_out",
        "state",
        "window",
    )

    def __init__(self) -> None:
        self.state: BreakerState = "closed"
        self.consecutive = 0
        self.open_until = 0.0
        self.probes_out = 0
        self.probe_successes = 0
        self.probe_expires = 0.0
        self.window: deque[list[int]] = deque()  # [bucket index, calls, failures]


def _copy(value: Any) -> Any:
    if isinstance(value, _IMMUTABLE):
        return value
    if isinstance(value, tuple) and all(isinstance(v, _IMMUTABLE) for v in value):
        return value
    return copy.deepcopy(value)


class MemoryStore(Store):
    """In-process store: the default of every ``Runtime``.

    ``clock``: drives slot leases, breakers, rate limits and cache TTLs (the runtime
    passes its own when it creates the store). ``max_cache_entries``: the cache
    evicts the least recently used entry beyond this many.
    """

    shared = False

    def __init__(self, *, clock: Clock | None = None, max_cache_entries: int = 10_000) -> None:
        self.clock: Clock = clock or SystemClock()
        self.max_cache_entries = max_cache_entries
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._slots: dict[str, _Slots] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._breakers: dict[str, _Circuit] = {}
        self._cache: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._cache_hits = 0
        self._cache_misses = 0
        self._expired_leases = 0
        #: Idempotency records: key -> (expiry, record) (see ``toolsafe.stores._once``).
        self._once: dict[str, tuple[float, dict[str, Any]]] = {}
        self._once_sweep_at = 1024

    # ------------------------------------------------------------------ concurrency slots

    async def acquire(
        self, key: str, limit: int, *, lease_s: float, wait_s: float | None
    ) -> str | None:
        lease = self.try_acquire(key, limit, lease_s)
        if lease is not None or (wait_s is not None and wait_s <= 0):
            return lease
        lock = self._lock
        with lock:
            slots = self._slots[key]
            # Free capacity may have appeared since try_acquire; hand it out first.
            self._hand_free(slots, self.clock.now())
            if len(slots.holders) < limit and not len(slots.queue):
                return self._new_lease(slots, lease_s)
            waiter = slots.queue.push(lease_s)
            recheck_in = min(slots.holders.values()) - self.clock.now() if slots.holders else None
        granted, value = await slots.queue.wait(
            waiter,
            wait_s,
            lock,
            lambda lease: self.release_threadsafe(key, lease),
            recheck_in=recheck_in,
            recheck=lambda: self._recheck(key),
        )
        return value if granted else None

    def try_acquire(self, key: str, limit: int, lease_s: float) -> str | None:
        """Take a free slot at once, or None (never waits). Synchronous fast path."""
        with self._lock:
            slots = self._slots.get(key)
            if slots is None:
                slots = self._slots[key] = _Slots(limit)
            slots.limit = limit
            holders = slots.holders
            if len(holders) >= limit:
                self._purge(slots, self.clock.now())
            if len(holders) < limit and not slots.queue.q:
                return self._new_lease(slots, lease_s)
            return None

    async def release(self, key: str, lease: str) -> None:
        self.release_threadsafe(key, lease)

    def release_threadsafe(self, key: str, lease: str) -> None:
        with self._lock:
            slots = self._slots.get(key)
            if slots is None or slots.holders.pop(lease, None) is None:
                return
            if slots.queue.q:
                self._hand_free(slots, self.clock.now())

    async def renew(self, key: str, lease: str, lease_s: float) -> bool:
        with self._lock:
            slots = self._slots.get(key)
            if slots is None or lease not in slots.holders:
                return False
            slots.holders[lease] = self.clock.now() + lease_s
            return True

    def _new_lease(self, slots: _Slots, lease_s: float) -> str:
        lease = str(next(self._ids))
        slots.holders[lease] = self.clock.now() + lease_s
        return lease

    def _purge(self, slots: _Slots, now: float) -> None:
        expired = [lease for lease, until in slots.holders.items() if until <= now]
        for lease in expired:
            del slots.holders[lease]
        self._expired_leases += len(expired)

    def _hand_free(self, slots: _Slots, now: float) -> None:
        """Give free slots to waiters, oldest first (lock held)."""
        self._purge(slots, now)
        queue = slots.queue
        while len(slots.holders) < slots.limit:
            waiter = queue.pop_live()
            if waiter is None:
                return
            lease = self._new_lease(slots, waiter.data)
            if not queue.grant(waiter, lease):
                del slots.holders[lease]

    def _recheck(self, key: str) -> None:
        with self._lock:
            slots = self._slots.get(key)
            if slots is not None:
                self._hand_free(slots, self.clock.now())

    def holders(self, key: str) -> int:
        """Slots of ``key`` held right now (expired leases not counted)."""
        with self._lock:
            slots = self._slots.get(key)
            if slots is None:
                return 0
            now = self.clock.now()
            return sum(1 for until in slots.holders.values() if until > now)

    def admit_all_now(
        self,
        circuit: str | None,
        bucket: tuple[str, float, int] | None,
        slots: tuple[tuple[str, int], ...],
        lease_s: float,
    ) -> list[tuple[str, str]] | None:
        """A call's immediate admissions in one step, all or none: the breaker of
        ``circuit`` closed, a token of ``bucket`` (key, rate, burst) there now, a free
        slot of each ``(key, limit)`` of ``slots``. Takes the token and the slots and
        returns the ``(key, lease)`` pairs, or takes nothing and returns None (the
        caller then goes step by step: ``admit_now``, ``take_now``, ``try_acquire``).
        One lock for what would be three (``toolsafe._express`` uses it)."""
        tokens_of: _Bucket | None = None
        now = self.clock.now()
        with self._lock:
            if circuit is not None:
                found = self._breakers.get(circuit)
                if found is not None and found.state != "closed":
                    return None
            if bucket is not None:
                key, rate, burst = bucket
                tokens_of = self._buckets.get(key)
                if tokens_of is None:
                    tokens_of = self._buckets[key] = _Bucket(float(burst), now)
                elapsed = now - tokens_of.last
                if elapsed > 0:  # refilling is the same whether a token is taken or not
                    tokens_of.tokens = min(float(burst), tokens_of.tokens + elapsed * rate)
                    tokens_of.last = now
                if tokens_of.tokens < 1.0:
                    return None
            for key, limit in slots:
                held = self._slots.get(key)
                if held is None:
                    held = self._slots[key] = _Slots(limit)
                held.limit = limit
                if len(held.holders) >= limit:
                    self._purge(held, now)
                if len(held.holders) >= limit or held.queue.q:
                    return None
            if tokens_of is not None:
                tokens_of.tokens -= 1.0
            if not slots:
                return _NO_LEASES
            until = now + lease_s
            leases = []
            for key, _ in slots:
                lease = str(next(self._ids))
                self._slots[key].holders[lease] = until
                leases.append((key, lease))
            return leases

    def release_all_now(self, leases: list[tuple[str, str]]) -> None:
        """Give back the slots ``admit_all_now`` handed out (from any thread)."""
        with self._lock:
            for key, lease in leases:
                held = self._slots.get(key)
                if held is None or held.holders.pop(lease, None) is None:
                    continue
                if held.queue.q:
                    self._hand_free(held, self.clock.now())

    # ------------------------------------------------------------------ rate limits

    async def take(self, key: str, rate: float, burst: int, *, max_wait_s: float | None) -> Grant:
        return self.take_now(key, rate, burst, max_wait_s)

    def take_now(self, key: str, rate: float, burst: int, max_wait_s: float | None) -> Grant:
        """Synchronous ``take`` (the whole operation never waits)."""
        now = self.clock.now()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(burst), now)
            elapsed = now - bucket.last
            tokens = bucket.tokens
            if elapsed > 0:
                tokens = min(float(burst), tokens + elapsed * rate)
                bucket.last = now
            tokens -= 1.0
            if tokens >= 0.0:
                bucket.tokens = tokens
                return GRANTED
            wait = -tokens / rate
            if max_wait_s is not None and wait > max_wait_s:
                bucket.tokens = tokens + 1.0
                return Grant(False, wait)
            bucket.tokens = tokens
            return Grant(True, wait)

    # ------------------------------------------------------------------ circuit breakers

    async def breaker_admit(self, key: str, breaker: Breaker) -> BreakerAdmission:
        return self.admit_now(key, breaker)

    def admit_now(self, key: str, breaker: Breaker) -> BreakerAdmission:
        """Synchronous ``breaker_admit``."""
        circuit = self._breakers.get(key)
        if circuit is None or circuit.state == "closed":
            return ADMIT_CLOSED
        with self._lock:
            now = self.clock.now()
            changed = False
            # Re-read under the lock: another thread may have closed it meanwhile.
            if circuit.state == "closed":  # type: ignore[comparison-overlap]
                return ADMIT_CLOSED
            if circuit.state == "open":
                if now < circuit.open_until:
                    return BreakerAdmission(False, False, "open", circuit.open_until - now, False)
                circuit.state = "half_open"
                circuit.probes_out = 0
                circuit.probe_successes = 0
                changed = True
            if circuit.probes_out >= breaker.probes and now >= circuit.probe_expires:
                circuit.probes_out = 0  # probes that never reported are presumed lost
            if circuit.probes_out < breaker.probes:
                circuit.probes_out += 1
                circuit.probe_expires = now + breaker.cooldown
                return BreakerAdmission(True, True, "half_open", 0.0, changed)
            return BreakerAdmission(
                False, False, "half_open", max(0.0, circuit.probe_expires - now), changed
            )

    async def breaker_record(
        self, key: str, breaker: Breaker, verdict: BreakerVerdict, *, probe: bool
    ) -> BreakerRecord:
        return self.record_now(key, breaker, verdict, probe)

    def record_now(
        self, key: str, breaker: Breaker, verdict: BreakerVerdict, probe: bool
    ) -> BreakerRecord:
        """Synchronous ``breaker_record``."""
        circuit = self._breakers.get(key)
        if circuit is None and verdict != "failure" and breaker.failure_rate is None and not probe:
            return RECORD_CLOSED  # nothing to count, nothing to reset
        with self._lock:
            if circuit is None:
                circuit = self._breakers.setdefault(key, _Circuit())
            previous = circuit.state
            if probe and previous == "half_open":
                circuit.probes_out = max(0, circuit.probes_out - 1)
                if verdict == "failure":
                    self._open(circuit, breaker)
                elif verdict == "success":
                    circuit.probe_successes += 1
                    if circuit.probe_successes >= breaker.probes:
                        self._close(circuit)
                return BreakerRecord(previous, circuit.state)
            if previous != "closed":
                return BreakerRecord(previous, previous)  # a late result of an older call
            if verdict == "ignore":
                return RECORD_CLOSED
            failed = verdict == "failure"
            if failed:
                circuit.consecutive += 1
            else:
                circuit.consecutive = 0
            trip = breaker.failures is not None and circuit.consecutive >= breaker.failures
            if breaker.failure_rate is not None:
                trip = self._count(circuit, breaker, failed) or trip
            if trip:
                self._open(circuit, breaker)
                return BreakerRecord("closed", "open")
            return RECORD_CLOSED

    def _count(self, circuit: _Circuit, breaker: Breaker, failed: bool) -> bool:
        width = breaker.window / _BUCKETS
        index = int(self.clock.now() // width)
        window = circuit.window
        while window and window[0][0] <= index - _BUCKETS:
            window.popleft()
        if window and window[-1][0] == index:
            cell = window[-1]
        else:
            cell = [index, 0, 0]
            window.append(cell)
        cell[1] += 1
        cell[2] += failed
        calls = sum(c[1] for c in window)
        failures = sum(c[2] for c in window)
        assert breaker.failure_rate is not None
        return calls >= breaker.min_calls and failures >= breaker.failure_rate * calls

    def _open(self, circuit: _Circuit, breaker: Breaker) -> None:
        circuit.state = "open"
        circuit.open_until = self.clock.now() + breaker.cooldown
        circuit.consecutive = 0
        circuit.probes_out = 0
        circuit.probe_successes = 0
        circuit.window.clear()

    @staticmethod
    def _close(circuit: _Circuit) -> None:
        circuit.state = "closed"
        circuit.consecutive = 0
        circuit.probes_out = 0
        circuit.probe_successes = 0
        circuit.window.clear()

    async def breaker_state(self, key: str) -> BreakerState:
        circuit = self._breakers.get(key)
        return "closed" if circuit is None else circuit.state

    # ------------------------------------------------------------------ result cache

    async def cache_get(self, key: str) -> tuple[bool, Any]:
        now = self.clock.now()
        with self._lock:
            entry = self._cache.get(key)
            if entry is None or entry[0] <= now:
                if entry is not None:
                    del self._cache[key]
                self._cache_misses += 1
                return False, None
            self._cache.move_to_end(key)
            self._cache_hits += 1
            value = entry[1]
        return True, _copy(value)

    async def cache_set(self, key: str, value: Any, ttl_s: float) -> bool:
        try:
            stored = _copy(value)
        except Exception:  # cannot be copied: caching it would share it between callers
            return False
        expires = self.clock.now() + ttl_s
        with self._lock:
            self._cache[key] = (expires, stored)
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_cache_entries:
                self._cache.popitem(last=False)
        return True

    # ------------------------------------------------------------------ stats

    # ------------------------------------------------------------------ idempotency records

    async def once_begin(self, key: str, owner: str, lease_s: float, ttl_s: float) -> OnceAnswer:
        return self.once_begin_now(key, owner, lease_s, ttl_s)

    def once_begin_now(self, key: str, owner: str, lease_s: float, ttl_s: float) -> OnceAnswer:
        with self._lock:
            now = self.clock.now()
            held = self._once.get(key)
            record = None if held is None or held[0] <= now else held[1]
            new, answer = _once.begin(record, owner, now, lease_s)
            if new is not None:
                self._once[key] = (now + ttl_s, new)
                if len(self._once) > self._once_sweep_at:
                    self._sweep_once(now)
            return answer

    async def once_renew(self, key: str, owner: str, lease_s: float) -> bool:
        with self._lock:
            now = self.clock.now()
            held = self._once.get(key)
            if held is None or held[0] <= now:
                return False
            record = held[1]
            if record["s"] != "pending" or record.get("owner") != owner:
                return False
            record["until"] = now + lease_s
            return True

    async def once_finish(
        self, key: str, owner: str, status: FinalStatus, payload: Any, ttl_s: float
    ) -> None:
        self.once_finish_now(key, owner, status, payload, ttl_s)

    def once_finish_now(
        self, key: str, owner: str, status: FinalStatus, payload: Any, ttl_s: float
    ) -> bool:
        with self._lock:
            now = self.clock.now()
            held = self._once.get(key)
            record = None if held is None or held[0] <= now else held[1]
            new = _once.finish(record, owner, status, payload)
            if new is None:
                self._once.pop(key, None)
            elif new is not record:
                self._once[key] = (now + ttl_s, new)
            return True

    def _sweep_once(self, now: float) -> None:
        for key in [k for k, (until, _) in self._once.items() if until <= now]:
            del self._once[key]
        self._once_sweep_at = max(1024, 2 * len(self._once))

    def stats(self) -> dict[str, Any]:
        now = self.clock.now()
        with self._lock:
            return {
                "kind": "memory",
                "slots": {
                    key: {
                        "held": sum(1 for until in s.holders.values() if until > now),
                        "limit": s.limit,
                        "waiting": len(s.queue),
                    }
                    for key, s in self._slots.items()
                    if s.holders or len(s.queue)
                },
                "expired_leases": self._expired_leases,
                "breakers": {key: b.state for key, b in self._breakers.items()},
                "cache_entries": len(self._cache),
                "cache_hits": self._cache_hits,
                "cache_misses": self._cache_misses,
            }
