"""``RedisStore``: the store steps (slots, tokens, breakers, cache) on Redis.

Each step is one script of ``_scripts`` run through the ``Link`` (connections,
time bounds, outage state); when the link says Redis did not answer (``Down``),
the step falls back (``local`` mode), fails with ``StoreUnavailable``
(``fail_closed``), or, for bookkeeping and the cache, is skipped. The package
docstring (``toolsafe.stores.redis``) describes the keys and the outage modes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from toolsafe.errors import ConfigurationError
from toolsafe.observe import events as ev
from toolsafe.stores import _once
from toolsafe.stores._base import (
    ADMIT_CLOSED,
    GRANTED,
    Breaker,
    BreakerAdmission,
    BreakerRecord,
    BreakerState,
    BreakerVerdict,
    Grant,
    Store,
)
from toolsafe.stores._joined import Admit, Admitted, Settle, admit_in_steps
from toolsafe.stores._once import FinalStatus, OnceAnswer, OnceStatus
from toolsafe.stores.redis._codec import dump_value, load_value
from toolsafe.stores.redis._link import PENDING, Down, Link, OnUnavailable, redact_url

if TYPE_CHECKING:
    from toolsafe.stores.memory import MemoryStore

__all__ = ["RedisStore"]

#: Slot waiters poll Redis this often: first, and at most (seconds).
_POLL_FIRST = 0.005
_POLL_MAX = 0.05
#: A waiter that stops polling for this long loses its place in the queue (ms).
_HEARTBEAT_MS = 2000
#: Cache keys longer than this are hashed (Redis keys stay short).
_MAX_KEY_CHARS = 200
_LOCAL = "local:"
#: The most a caller waits for a release to be acknowledged (seconds).
_RELEASE_WAIT = 0.1


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _num(value: float | None) -> str:
    return "-1" if value is None else repr(float(value))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _json(payload: Any) -> str:
    return "" if payload is None else json.dumps(payload, ensure_ascii=False)


_LOST = json.dumps(_once.LOST_HOLDER)


def _admission(reply: Sequence[Any]) -> BreakerAdmission:
    allowed, probe, state, retry_after, changed = reply
    state_s = _text(state)
    if allowed and not probe and state_s == "closed":
        return ADMIT_CLOSED
    return BreakerAdmission(
        bool(allowed), bool(probe), cast(BreakerState, state_s), float(retry_after), bool(changed)
    )


def _grant(ok: Any, wait: Any) -> Grant:
    wait_s = float(wait)
    if ok and wait_s <= 0:
        return GRANTED
    return Grant(bool(ok), wait_s)


def _record(previous: Any, state: Any) -> BreakerRecord:
    return BreakerRecord(cast(BreakerState, _text(previous)), cast(BreakerState, _text(state)))


def _once_answer(status: Any, payload: Any) -> OnceAnswer:
    text = _text(payload)
    return OnceAnswer(cast(OnceStatus, _text(status)), json.loads(text) if text else None)


class RedisStore(Store):
    """Shared state on Redis: pass the same ``url`` and ``prefix`` to every process.

    ``on_unavailable``: ``"fail_closed"`` or ``"local"`` (see the module docstring).
    ``op_timeout``: the most one reply from Redis may take (seconds); a step that
    must open a connection first may also take ``connect_timeout`` for that.
    ``retry_interval``: while Redis is down, how often a step tries it again.
    ``max_connections``: per event loop (and for the sync client), for plain commands
    (cache, releases outside ``settle``); each concurrent command holds one while it
    waits for Redis, and one that waits longer than ``op_timeout`` for a free one
    fails like an unanswered step, so size it to the callers of one loop (128 by
    default; connections are opened on demand). Scripts (every limit, breaker and
    idempotency step) do not use the pool: they are auto-pipelined per loop
    (``_pipe``: the scripts of one loop iteration leave as one write). A caller that
    stops waiting may leave its script on the way: unsent, it is dropped; sent, a
    slot its reply shows granted is given back after that reply (no reply: every
    slot it asked for, best effort), or its lease expires. Never held forever.
    ``max_value_bytes``: cached values larger than this are not stored.
    ``serializer``: ``"json"`` (default: only plain JSON data that round-trips exactly
    is cached) or ``"pickle"`` (any picklable value; only for a Redis that nobody
    untrusted can write to, since unpickling runs code).
    ``listeners``: receive ``StoreEvent`` when Redis becomes unavailable or recovers
    (``add_listener`` adds more).
    ``join_steps``: a call's admission decisions (idempotency claim, breaker, token,
    slots) run as one script and its releases as another: two round trips a call, not
    one per step. The joined script touches the keys of several names (the tool's,
    ``max_in_flight``'s, the idempotency record's), so turn it off for a Redis
    Cluster, where one script may only touch one shard's keys.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "toolsafe:",
        on_unavailable: OnUnavailable = "fail_closed",
        op_timeout: float = 0.5,
        connect_timeout: float = 2.0,
        retry_interval: float = 1.0,
        max_connections: int = 128,
        max_value_bytes: int = 1_048_576,
        serializer: Literal["json", "pickle"] = "json",
        listeners: Sequence[ev.Listener] = (),
        join_steps: bool = True,
    ) -> None:
        problems = []
        if on_unavailable not in ("fail_closed", "local"):
            problems.append(f"on_unavailable={on_unavailable!r}: expected 'fail_closed' or 'local'")
        if not op_timeout > 0:
            problems.append(f"op_timeout={op_timeout!r}: expected seconds > 0")
        if serializer not in ("json", "pickle"):
            problems.append(f"serializer={serializer!r}: expected 'json' or 'pickle'")
        if problems:
            raise ConfigurationError(problems, subject="RedisStore")
        try:
            import redis  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigurationError(
                ["RedisStore needs redis-py: pip install 'toolsafe[redis]'"]
            ) from exc
        self.url = url
        self.prefix = prefix
        self.on_unavailable: OnUnavailable = on_unavailable
        self.op_timeout = float(op_timeout)
        self.connect_timeout = float(connect_timeout)
        self.retry_interval = float(retry_interval)
        self.max_connections = max_connections
        self.max_value_bytes = max_value_bytes
        self.serializer = serializer
        self.joins = bool(join_steps)
        self.listeners: list[ev.Listener] = list(listeners)
        self._link = Link(
            url,
            op_timeout=self.op_timeout,
            connect_timeout=self.connect_timeout,
            retry_interval=self.retry_interval,
            max_connections=max_connections,
            mode=on_unavailable,
            listeners=self.listeners,
        )
        self._lock = threading.Lock()
        self._local_store: MemoryStore | None = None
        self._wakers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._counts = {
            "local_fallbacks": 0,
            "cache_hits": 0,
            "cache_misses": 0,
            "cache_refused": 0,
        }

    # ------------------------------------------------------------------ plumbing

    def key(self, family: str, name: str) -> str:
        """The Redis key of ``name``'s state of one ``family`` (``slots``, ``rate``, ...)."""
        return f"{self.prefix}{family}:{{{name}}}"

    def add_listener(self, listener: ev.Listener) -> None:
        self.listeners.append(listener)

    @property
    def _local(self) -> MemoryStore:
        if self._local_store is None:
            from toolsafe.stores.memory import MemoryStore

            with self._lock:
                if self._local_store is None:
                    self._local_store = MemoryStore()
        return self._local_store

    def _fallback(self) -> MemoryStore:
        """The local store in ``local`` mode; raises StoreUnavailable in ``fail_closed``."""
        if self.on_unavailable != "local":
            raise self._link.unavailable() from self._link.last_error
        self._counts["local_fallbacks"] += 1
        return self._local

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def available(self) -> bool:
        """False while Redis is considered down (between failed steps and a retry)."""
        return self._link.available

    # ------------------------------------------------------------------ concurrency slots

    def _slot_keys(self, name: str) -> list[str]:
        return [
            self.key("slots", name),
            self.key("slotq", name),
            self.key("slotqx", name),
            self.key("slotseq", name),
        ]

    async def acquire(
        self, key: str, limit: int, *, lease_s: float, wait_s: float | None
    ) -> str | None:
        loop = asyncio.get_running_loop()
        keys = self._slot_keys(key)
        lease = secrets.token_hex(8)
        waiter = "" if wait_s is not None and wait_s <= 0 else secrets.token_hex(8)
        give_up = None if wait_s is None else loop.time() + wait_s
        args = [limit, _ms(lease_s), lease.encode(), waiter.encode(), _HEARTBEAT_MS]
        pause = _POLL_FIRST
        try:
            while True:
                # A waiter's step never outlasts its wait (by more than _MIN_STEP); a caller
                # that does not wait (wait_s=0) gets the step's usual bound.
                cap = None if give_up is None or not waiter else give_up - loop.time()
                try:
                    granted = await self._link.script(
                        "acquire", keys, args, cap=cap, orphan=self._late(key, waiter, lease)
                    )
                except Down:
                    self._spawn(self._abandon(key, waiter, lease))
                    remaining = None if give_up is None else max(0.0, give_up - loop.time())
                    local = await self._fallback().acquire(
                        key, limit, lease_s=lease_s, wait_s=remaining
                    )
                    return None if local is None else _LOCAL + local
                if granted:
                    return lease
                if not waiter:
                    return None
                remaining = None if give_up is None else give_up - loop.time()
                if remaining is not None and remaining <= 0:
                    self._spawn(self._leave(key, waiter))
                    return None
                await self._nap(key, pause if remaining is None else min(pause, remaining))
                pause = min(_POLL_MAX, pause * 1.5)
        except asyncio.CancelledError:
            # The script may have granted the lease as we were cancelled: give it back.
            self._spawn(self._abandon(key, waiter, lease))
            raise

    def _late(self, key: str, waiter: str, lease: str) -> Callable[[Any], None]:
        """The orphan of an ``acquire`` script (``_pipe``): a grant (or no reply) that
        came after its caller stopped waiting is given back once the reply is in."""

        def orphan(reply: Any) -> None:
            if isinstance(reply, BaseException) or reply:
                self._spawn(self._abandon(key, waiter, lease))

        return orphan

    async def _leave(self, key: str, waiter: str) -> None:
        keys = self._slot_keys(key)
        try:
            await self._link.script("leave", keys[1:3], [waiter.encode()])
        except Down:
            pass  # the heartbeat expires and the queue forgets us

    async def _abandon(self, key: str, waiter: str, lease: str) -> None:
        if waiter:
            await self._leave(key, waiter)
        await self.release(key, lease)

    async def _nap(self, key: str, seconds: float) -> None:
        """Sleep up to ``seconds``; a release of ``key`` in this process wakes us early."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (loop, fut)
        with self._lock:
            self._wakers.setdefault(key, set()).add(entry)
        timer = loop.call_later(seconds, _wake, fut)
        try:
            await fut
        finally:
            timer.cancel()
            with self._lock:
                waiting = self._wakers.get(key)
                if waiting is not None:
                    waiting.discard(entry)
                    if not waiting:
                        del self._wakers[key]

    def _wake_local(self, key: str) -> None:
        with self._lock:
            waiting = list(self._wakers.get(key, ()))
        for loop, fut in waiting:
            try:
                loop.call_soon_threadsafe(_wake, fut)
            except RuntimeError:  # that loop is closed
                pass

    async def release(self, key: str, lease: str) -> None:
        """Give the slot back. The caller waits at most ``_RELEASE_WAIT`` for Redis: a call
        whose result is ready does not wait out a hung Redis; the release goes on in
        the background (bounded like every step), or the lease expires on its own."""
        if lease.startswith(_LOCAL):
            await self._local.release(key, lease[len(_LOCAL) :])
            return
        task = asyncio.ensure_future(self._release(key, lease))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # asyncio.wait, not wait_for: it neither cancels the release nor needs a Task.
        await asyncio.wait({task}, timeout=_RELEASE_WAIT)

    async def _release(self, key: str, lease: str) -> None:
        try:
            await self._link.command(lambda c: c.zrem(self.key("slots", key), lease))
        except Down:
            return  # the lease expires on its own
        self._wake_local(key)

    def release_threadsafe(self, key: str, lease: str) -> None:
        if lease.startswith(_LOCAL):
            self._local.release_threadsafe(key, lease[len(_LOCAL) :])
            return
        try:
            self._link.sync_command(lambda c: c.zrem(self.key("slots", key), lease))
        except Down:
            return  # the lease expires on its own
        self._wake_local(key)

    async def renew(self, key: str, lease: str, lease_s: float) -> bool:
        if lease.startswith(_LOCAL):
            return await self._local.renew(key, lease[len(_LOCAL) :], lease_s)
        try:
            return bool(
                await self._link.script(
                    "renew", [self.key("slots", key)], [lease.encode(), _ms(lease_s)]
                )
            )
        except Down:
            return True  # cannot tell; the holder keeps going and the lease may lapse

    async def holders(self, key: str) -> int:
        """Live leases of ``key`` on the server (for stats and tests)."""
        now_ms = int(time.time() * 1000)
        name = self.key("slots", key)
        count = await self._link.command(lambda c: c.zcount(name, f"({now_ms}", "+inf"))
        return int(count)

    # ------------------------------------------------------------------ rate limits

    async def take(self, key: str, rate: float, burst: int, *, max_wait_s: float | None) -> Grant:
        try:
            ok, wait = await self._link.script(
                "take",
                [self.key("rate", key)],
                [repr(float(rate)), burst, _num(max_wait_s).encode()],
            )
        except Down:
            return await self._fallback().take(key, rate, burst, max_wait_s=max_wait_s)
        return _grant(ok, wait)

    # ------------------------------------------------------------------ circuit breakers

    @staticmethod
    def _breaker_ttl_ms(spec: Breaker) -> int:
        return _ms(2 * max(spec.window, spec.cooldown) + 60)

    def _admit_args(self, spec: Breaker) -> list[Any]:
        return [repr(float(spec.cooldown)), spec.probes, self._breaker_ttl_ms(spec)]

    def _record_args(self, spec: Breaker, outcome: BreakerVerdict, probe: bool) -> list[Any]:
        return [
            spec.failures if spec.failures is not None else -1,
            _num(spec.failure_rate),
            repr(float(spec.window)),
            spec.min_calls,
            repr(float(spec.cooldown)),
            spec.probes,
            outcome,
            1 if probe else 0,
            self._breaker_ttl_ms(spec),
        ]

    async def breaker_admit(self, key: str, spec: Breaker) -> BreakerAdmission:
        try:
            reply = await self._link.script(
                "admit", [self.key("breaker", key)], self._admit_args(spec)
            )
        except Down:
            return await self._fallback().breaker_admit(key, spec)
        return _admission(reply)

    async def breaker_record(
        self, key: str, spec: Breaker, outcome: BreakerVerdict, *, probe: bool
    ) -> BreakerRecord:
        args = self._record_args(spec, outcome, probe)
        try:
            previous, state = await self._link.script("record", [self.key("breaker", key)], args)
        except Down:
            if self.on_unavailable == "local":
                return await self._local.breaker_record(key, spec, outcome, probe=probe)
            return BreakerRecord("closed", "closed")  # not counted; the next admit fails closed
        return _record(previous, state)

    async def breaker_state(self, key: str) -> BreakerState:
        name = self.key("breaker", key)
        try:
            state = await self._link.command(lambda c: c.hget(name, "state"))
        except Down:
            if self.on_unavailable == "local":
                return await self._local.breaker_state(key)
            raise self._link.unavailable() from self._link.last_error
        if state is None:
            return "closed"
        return cast(BreakerState, state.decode() if isinstance(state, bytes) else state)

    # ------------------------------------------------------------------ result cache

    def _hashed_key(self, family: str, key: str) -> str:
        """``family``'s key of ``key``; a very long key (a cache key, a caller's
        idempotency key) is replaced by its SHA-256."""
        if len(key) > _MAX_KEY_CHARS:
            key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self.key(family, key)

    def _cache_key(self, key: str) -> str:
        return self._hashed_key("cache", key)

    async def cache_get(self, key: str) -> tuple[bool, Any]:
        name = self._cache_key(key)
        try:
            blob = await self._link.command(lambda c: c.get(name))
        except Down:
            blob = None
        if blob is None:
            self._counts["cache_misses"] += 1
            return False, None
        try:
            value = load_value(blob, self.serializer)
        except Exception:
            self._counts["cache_misses"] += 1
            return False, None
        self._counts["cache_hits"] += 1
        return True, value

    async def cache_set(self, key: str, value: Any, ttl_s: float) -> bool:
        blob = dump_value(value, self.serializer)
        if blob is None or len(blob) > self.max_value_bytes or ttl_s <= 0:
            self._counts["cache_refused"] += 1
            return False
        name = self._cache_key(key)
        try:
            await self._link.command(lambda c: c.set(name, blob, px=_ms(ttl_s)))
        except Down:
            return False
        return True

    # ------------------------------------------------------------------ idempotency records
    # Fail closed, even with on_unavailable="local": a local record would let another
    # process run the same key's body a second time.

    async def once_begin(self, key: str, owner: str, lease_s: float, ttl_s: float) -> OnceAnswer:
        try:
            status, payload = await self._link.script(
                "once_begin",
                [self._once_key(key)],
                [owner.encode(), _ms(lease_s), _ms(ttl_s), _LOST],
            )
        except Down:
            raise self._link.unavailable() from self._link.last_error
        return _once_answer(status, payload)

    async def once_renew(self, key: str, owner: str, lease_s: float) -> bool:
        try:
            done = await self._link.script(
                "once_renew", [self._once_key(key)], [owner.encode(), _ms(lease_s)]
            )
        except Down:
            raise self._link.unavailable() from self._link.last_error
        return bool(done)

    async def once_finish(
        self, key: str, owner: str, status: FinalStatus, payload: Any, ttl_s: float
    ) -> None:
        try:
            await self._link.script(
                "once_finish",
                [self._once_key(key)],
                [owner.encode(), status, _json(payload).encode(), _ms(ttl_s)],
            )
        except Down:
            raise self._link.unavailable() from self._link.last_error

    def _once_key(self, key: str) -> str:
        return self._hashed_key("once", key)

    # ------------------------------------------------------------------ joined steps

    async def admit(self, plan: Admit) -> Admitted:
        """One script: the claim, the breaker's verdict, a token, the slots, stopping at
        the first that does not let the call go on (``toolsafe.stores._joined``).

        Unanswered: ``StoreUnavailable`` (always, when it claims a key: a local record
        would let another process run the key again), or the local steps."""
        if not self.joins:
            return await super().admit(plan)
        names: list[str] = []
        keys: list[str] = []
        args: list[Any] = []
        if plan.once is not None:
            key, owner, lease_s, ttl_s = plan.once
            names.append("once_begin")
            keys.append(self._once_key(key))
            args += [owner.encode(), _ms(lease_s), _ms(ttl_s), _LOST]
        if plan.breaker is not None:
            name, spec = plan.breaker
            names.append("admit")
            keys.append(self.key("breaker", name))
            args += self._admit_args(spec)
        if plan.rate is not None:
            name, rate, burst, max_wait = plan.rate
            names.append("take")
            keys.append(self.key("rate", name))
            args += [repr(float(rate)), burst, _num(max_wait).encode()]
        leases = [secrets.token_hex(8) for _ in plan.slots]
        lease_ms = _ms(plan.lease_s)
        for (name, limit), lease in zip(plan.slots, leases, strict=True):
            names.append("acquire")
            keys += self._slot_keys(name)
            args += [limit, lease_ms, lease.encode(), "", _HEARTBEAT_MS]
        orphan = None
        if plan.slots:
            orphan = self._give_back([s[0] for s in plan.slots], leases, len(names) - len(leases))
        try:
            replies = await self._link.script(
                "joined", keys, ["1", len(names), *names, *args], orphan=orphan
            )
        except Down:
            # Sent but unanswered, or answered after this caller stopped waiting: the
            # orphan gives back what the script took (after its reply, if one comes).
            if plan.once is not None:
                raise self._link.unavailable() from self._link.last_error
            local = await admit_in_steps(self._fallback(), plan)
            return local._replace(leases=tuple(_LOCAL + lease for lease in local.leases))
        once = admission = grant = None
        taken: list[str] = []
        for name, reply in zip(names, replies, strict=False):
            if name == "once_begin":
                once = _once_answer(*reply)
            elif name == "admit":
                admission = _admission(reply)
            elif name == "take":
                grant = _grant(*reply)
            elif reply:
                taken.append(leases[len(taken)])
        return Admitted(once, admission, grant, tuple(taken))

    def _give_back(self, names: list[str], leases: list[str], first: int) -> Callable[[Any], None]:
        """The orphan of an ``admit`` script (``_pipe``): releases the leases its reply
        shows granted (the replies from index ``first`` on are the slots'), or, with no
        reply (it may have run), every lease it asked for. The release is sent after the
        reply was read, so it cannot overtake the grant on the server."""

        def orphan(reply: Any) -> None:
            if isinstance(reply, BaseException):
                taken = len(leases)
            else:
                taken = sum(1 for r in reply[first:] if r)
            if taken:
                self._spawn(self._release_each(names[:taken], leases[:taken]))

        return orphan

    async def _release_each(self, names: list[str], leases: list[str]) -> None:
        for name, lease in zip(names, leases, strict=True):
            await self._release(name, lease)

    async def settle(self, plan: Settle) -> BreakerRecord | None:
        """One script: the releases, the breaker's count, the keyed call's end.

        Without an end to record, the caller waits at most ``_RELEASE_WAIT`` (like
        ``release``): a call whose result is ready does not wait out a hung Redis. The
        script still goes out (``Link.bookkeep``) and what its outcome implies (waking
        this process's slot waiters, the local count when Redis was down) is done
        when it arrives."""
        if not self.joins:
            return await super().settle(plan)
        names: list[str] = []
        keys: list[str] = []
        args: list[Any] = []
        released: list[str] = []
        for name, lease in plan.releases:
            if lease.startswith(_LOCAL):
                self._local.release_threadsafe(name, lease[len(_LOCAL) :])
                continue
            names.append("release")
            keys.append(self.key("slots", name))
            args.append(lease.encode())
            released.append(name)
        if plan.record is not None:
            name, spec, verdict, probe = plan.record
            names.append("record")
            keys.append(self.key("breaker", name))
            args += self._record_args(spec, verdict, probe)
        if plan.finish is not None:
            key, owner, status, payload, ttl_s = plan.finish
            names.append("once_finish")
            keys.append(self._once_key(key))
            args += [owner.encode(), status, _json(payload).encode(), _ms(ttl_s)]
        if not names:
            return None
        args = ["0", len(names), *names, *args]
        try:
            if plan.finish is not None:
                replies = await self._link.script("joined", keys, args)
            else:
                replies = await self._link.bookkeep(
                    "joined",
                    keys,
                    args,
                    wait=_RELEASE_WAIT,
                    late=lambda outcome: self._settled(plan, released, outcome),
                )
                if replies is PENDING:
                    return None
        except Down:
            record = self._unsettled(plan)
            if plan.finish is not None:
                raise self._link.unavailable() from self._link.last_error
            return record  # releases and counts skipped: leases expire on their own
        return self._settled(plan, released, replies)

    def _settled(self, plan: Settle, released: list[str], outcome: Any) -> BreakerRecord | None:
        """What a settle's reply (or, arriving late, its ``Down``) implies."""
        if isinstance(outcome, Down):
            self._unsettled(plan)
            return None
        if isinstance(outcome, BaseException):
            return None  # a script error, arriving after its caller stopped waiting
        for name in released:
            self._wake_local(name)
        if plan.record is None:
            return None
        return _record(*outcome[len(released)])

    def _unsettled(self, plan: Settle) -> BreakerRecord | None:
        """Redis did not take the settle: in ``local`` mode the outcome is counted here."""
        if plan.record is None or self.on_unavailable != "local":
            return None
        name, spec, verdict, probe = plan.record
        return self._local.record_now(name, spec, verdict, probe)

    # ------------------------------------------------------------------ life cycle

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "redis",
            "url": redact_url(self.url),
            "prefix": self.prefix,
            "on_unavailable": self.on_unavailable,
            "available": self._link.available,
            "event_loops": self._link.event_loops,
            **self._link.counts,
            **self._counts,
        }
        if self._local_store is not None:
            out["local"] = self._local_store.stats()
        return out

    async def aclose_loop(self) -> None:
        """Close the running loop's client only: call it before a short-lived loop ends
        (``asyncio.run``) if the store lives on; the next step reconnects."""
        await self._link.aclose_loop()

    async def aclose(self) -> None:
        """Close every client, awaiting this loop's own."""
        await self.aclose_loop()
        self.close()

    def close(self) -> None:
        """Close every client: on its own loop when that loop is alive."""
        self._link.close()

    def __repr__(self) -> str:
        return f"<RedisStore {redact_url(self.url)} prefix={self.prefix!r} {self.on_unavailable}>"
