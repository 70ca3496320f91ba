"""The shared store: slots, rate limits, breakers and cache on Redis, for a fleet of processes.

``Runtime(store=toolsafe.RedisStore("redis://host:6379/0"))``: every process (and
machine) given the same URL and prefix shares one concurrency limit, one token
bucket and one breaker per tool or upstream. Every operation is one Lua script,
so one atomic step on the server: no read-modify-write race between processes.
Time is the server's (``TIME``), so clients with skewed clocks agree.

Keys (``P`` is the prefix, ``k`` the tool or upstream name; the braces are a
Redis Cluster hash tag, so the keys of one name live on one shard). Every key
expires; nothing grows without bound:

=============================  ========  ===================================================
``P slots:{k}``                zset      lease id -> expiry (ms); expires with its last lease
``P slotq:{k}``                zset      waiting callers -> ticket (first come, first served)
``P slotqx:{k}``               zset      waiting callers -> heartbeat expiry (a dead waiter
                                         drops out); both, and ``slotseq``, expire unless
                                         waiters keep polling
``P slotseq:{k}``              string    the ticket counter
``P rate:{k}``                 hash      tokens, last refill (s): expires when full again
``P breaker:{k}``              hash      state, counters, failure-window buckets; expires
                                         ``2 x max(window, cooldown) + 60 s`` after its
                                         last write (a closed breaker with nothing
                                         counted has no key at all)
``P cache:{k}``                string    the cached value (JSON, or pickle when chosen); TTL
=============================  ========  ===================================================

Slot waiters poll (5 ms, growing to 50 ms), in ticket order; a slot released by
this process wakes this process's waiters at once.

When Redis is unreachable, hung or slow, or restarting, ``on_unavailable``
decides, per runtime. A step is unanswered when no reply comes within
``op_timeout`` or within the caller's share, whichever is less: a slot waiter's
wait; for a token or a breaker verdict, the attempt's timeout or what is left of
the deadline (``STEP_BUDGET``). Two slow replies in a row (or one refused
connection) mark Redis down, so later steps do not wait at all:

- ``"fail_closed"`` (default): calls that need a slot, a token or a breaker
  verdict fail at once with a retryable ``StoreUnavailable`` error (the tool
  does not run); the store retries Redis every ``retry_interval`` seconds;
- ``"local"``: the same steps use an in-process ``MemoryStore`` (limits then hold
  per process, not fleet-wide) until Redis answers again.

Either way an unanswered step is never taken for a verdict (a hung Redis is not
a busy limit), the change is logged and sent to the store's listeners as a
``StoreEvent``, no step waits on Redis longer than ``op_timeout`` (plus
``connect_timeout`` when it opens a connection) or the caller's share, cache reads
become misses and bookkeeping steps (release, renew, breaker records) are skipped:
an unreleased lease expires on its own.

Connections: one asyncio client (and connection pool) per event loop, since an
asyncio connection must not be used from a loop it was not created on (the sync
API runs a loop per thread), plus one thread-safe sync client for releases from
plain threads. Clients live as long as their loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import pickle
import secrets
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from toolsafe.errors import ConfigurationError, ToolFailure
from toolsafe.observe import events as ev
from toolsafe.observe._log import logger
from toolsafe.stores._base import (
    ADMIT_CLOSED,
    GRANTED,
    STEP_BUDGET,
    Breaker,
    BreakerAdmission,
    BreakerRecord,
    BreakerState,
    BreakerVerdict,
    Grant,
    Store,
)

if TYPE_CHECKING:
    from toolsafe.stores.memory import MemoryStore

__all__ = ["RedisStore", "StoreEvent", "StoreUnavailable"]

T = TypeVar("T")

OnUnavailable = Literal["fail_closed", "local"]

#: Slot waiters poll Redis this often: first, and at most (seconds).
_POLL_FIRST = 0.005
_POLL_MAX = 0.05
#: A waiter that stops polling for this long loses its place in the queue (ms).
_HEARTBEAT_MS = 2000
#: The least time a step is given, however little the caller has left (seconds).
_MIN_STEP = 0.05
#: A step given at least this long without an answer counts as a slow reply (seconds).
_SLOW_S = 0.1
#: Cache keys longer than this are hashed (Redis keys stay short).
_MAX_KEY_CHARS = 200
_LOCAL = "local:"

# --------------------------------------------------------------------------- Lua scripts

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_NOW_S = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function fmt(x) return string.format('%.6f', x) end
"""

#: KEYS: slots, queue, queue heartbeats, ticket counter.
#: ARGV: limit, lease ms, lease id, waiter id ('' = do not queue), heartbeat ms.
#: Returns 1 (the lease is held) or 0.
ACQUIRE = (
    _NOW_MS
    + """
local limit = tonumber(ARGV[1])
local waiter = ARGV[4]
local hb = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for i = 1, #dead do redis.call('ZREM', KEYS[2], dead[i]) end
if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now) end
local free = limit - redis.call('ZCARD', KEYS[1])
local ahead = false
if waiter ~= '' then ahead = redis.call('ZRANK', KEYS[2], waiter) end
if not ahead then ahead = redis.call('ZCARD', KEYS[2]) end
if free > ahead then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(top[2]) - now + 1000))
  if waiter ~= '' then
    redis.call('ZREM', KEYS[2], waiter)
    redis.call('ZREM', KEYS[3], waiter)
  end
  return 1
end
if waiter ~= '' then
  if not redis.call('ZSCORE', KEYS[2], waiter) then
    redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), waiter)
  end
  redis.call('ZADD', KEYS[3], now + hb, waiter)
  redis.call('PEXPIRE', KEYS[2], hb + 1000)
  redis.call('PEXPIRE', KEYS[3], hb + 1000)
  redis.call('PEXPIRE', KEYS[4], hb + 1000)
end
return 0
"""
)

#: KEYS: queue, queue heartbeats. ARGV: waiter id. A waiter that gave up leaves.
LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""

#: KEYS: slots. ARGV: lease id, lease ms. Returns 1 (extended) or 0 (it had expired).
RENEW = (
    _NOW_MS
    + """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= now then
  if score then redis.call('ZREM', KEYS[1], ARGV[1]) end
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(top[2]) - now + 1000))
return 1
"""
)

#: KEYS: bucket. ARGV: rate (tokens/s), burst, max wait s (-1: any).
#: Returns {granted 0/1, wait s}. A granted wait reserves the token (the bucket
#: goes negative), so waiters are served in order without asking again.
TAKE = (
    _NOW_S
    + """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
tokens = tokens - 1
local ok = 1
local wait = 0
if tokens < 0 then
  wait = -tokens / rate
  if max_wait >= 0 and wait > max_wait then
    tokens = tokens + 1
    ok = 0
  end
end
redis.call('HSET', KEYS[1], 'tokens', fmt(tokens), 'ts', fmt(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {ok, fmt(wait)}
"""
)

#: KEYS: breaker. ARGV: cooldown s, probes, key ttl ms.
#: Returns {allowed, probe, state, retry_after s, changed}.
BREAKER_ADMIT = (
    _NOW_S
    + """
local cooldown = tonumber(ARGV[1])
local probes = tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'state', 'open_until', 'probes_out', 'probe_expires')
local state = h[1]
if not state or state == 'closed' then return {1, 0, 'closed', '0', 0} end
local changed = 0
local out = tonumber(h[3]) or 0
if state == 'open' then
  local open_until = tonumber(h[2]) or 0
  if now < open_until then return {0, 0, 'open', fmt(open_until - now), 0} end
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_successes', 0)
  out = 0
  changed = 1
end
local probe_expires = tonumber(h[4]) or 0
if out >= probes and now >= probe_expires then out = 0 end
if out < probes then
  redis.call('HSET', KEYS[1], 'probes_out', out + 1, 'probe_expires', fmt(now + cooldown))
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  return {1, 1, 'half_open', '0', changed}
end
return {0, 0, 'half_open', fmt(math.max(0, probe_expires - now)), changed}
"""
)

#: KEYS: breaker. ARGV: failures (-1: unused), failure rate (-1: unused), window s,
#: min calls, cooldown s, probes, outcome, probe (0/1), key ttl ms.
#: Returns {previous state, state}. The failure window is 10 buckets ('w:c:<i>',
#: 'w:f:<i>': calls and failures of bucket i) in the breaker's hash.
BREAKER_RECORD = (
    _NOW_S
    + """
local failures = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local min_calls = tonumber(ARGV[4])
local cooldown = tonumber(ARGV[5])
local probes = tonumber(ARGV[6])
local outcome = ARGV[7]
local probe = ARGV[8] == '1'
local ttl = tonumber(ARGV[9])
local key = KEYS[1]
local exists = redis.call('EXISTS', key) == 1
if not exists and outcome ~= 'failure' and rate < 0 and not probe then
  return {'closed', 'closed'}
end
local h = redis.call('HMGET', key, 'state', 'consecutive', 'probes_out', 'probe_successes')
local previous = h[1] or 'closed'
local function open()
  redis.call('DEL', key)
  redis.call('HSET', key, 'state', 'open', 'open_until', fmt(now + cooldown))
  redis.call('PEXPIRE', key, ttl)
end
if probe and previous == 'half_open' then
  local out = math.max(0, (tonumber(h[3]) or 0) - 1)
  if outcome == 'failure' then
    open()
    return {previous, 'open'}
  end
  if outcome == 'success' then
    local successes = (tonumber(h[4]) or 0) + 1
    if successes >= probes then
      redis.call('DEL', key)
      return {previous, 'closed'}
    end
    redis.call('HSET', key, 'probe_successes', successes)
  end
  redis.call('HSET', key, 'probes_out', out)
  redis.call('PEXPIRE', key, ttl)
  return {previous, 'half_open'}
end
if previous ~= 'closed' then return {previous, previous} end
if outcome == 'ignore' then return {'closed', 'closed'} end
local failed = outcome == 'failure'
local consecutive = 0
if failed then consecutive = (tonumber(h[2]) or 0) + 1 end
local trip = failures >= 0 and consecutive >= failures
if rate >= 0 then
  local index = math.floor(now / (window / 10))
  local fields = redis.call('HKEYS', key)
  local calls = 1
  local fails = 0
  if failed then fails = 1 end
  for i = 1, #fields do
    local f = fields[i]
    if string.sub(f, 1, 2) == 'w:' then
      local bucket = tonumber(string.sub(f, 5))
      if bucket <= index - 10 then
        redis.call('HDEL', key, f)
      elseif string.sub(f, 3, 3) == 'c' then
        calls = calls + tonumber(redis.call('HGET', key, f))
      else
        fails = fails + tonumber(redis.call('HGET', key, f))
      end
    end
  end
  local suffix = string.format('%d', index)
  redis.call('HINCRBY', key, 'w:c:' .. suffix, 1)
  if failed then redis.call('HINCRBY', key, 'w:f:' .. suffix, 1) end
  trip = (calls >= min_calls and fails >= rate * calls) or trip
end
if trip then
  open()
  return {'closed', 'open'}
end
if consecutive > 0 or rate >= 0 then
  redis.call('HSET', key, 'state', 'closed', 'consecutive', consecutive)
  redis.call('PEXPIRE', key, ttl)
elseif exists then
  redis.call('HSET', key, 'consecutive', 0)
end
return {'closed', 'closed'}
"""
)

_SCRIPTS = {
    "acquire": ACQUIRE,
    "leave": LEAVE,
    "renew": RENEW,
    "take": TAKE,
    "admit": BREAKER_ADMIT,
    "record": BREAKER_RECORD,
}

# --------------------------------------------------------------------------- errors, events


class StoreUnavailable(ToolFailure):
    """Redis did not answer (in ``fail_closed`` mode): the call was not run. Retryable."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(
            message,
            retryable=True,
            retry_after_s=retry_after_s,
            type="StoreUnavailable",
            hint="The shared limits store is unreachable; retry shortly.",
        )


@dataclass(frozen=True, slots=True)
class StoreEvent(ev.Event):
    """The shared store became ``unavailable`` or ``recovered`` (``mode`` says what calls do)."""

    kind: str = ""
    mode: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class _Down(Exception):
    """Internal: Redis is unavailable for this step."""


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    import redis.exceptions as rex

    return (
        rex.ConnectionError,  # includes BusyLoadingError (a restarting server)
        rex.TimeoutError,
        rex.ReadOnlyError,
        TimeoutError,
        asyncio.TimeoutError,
        OSError,
    )


if sys.version_info >= (3, 11):

    async def _bounded(aw: Awaitable[T], seconds: float) -> T:
        async with asyncio.timeout(seconds):
            return await aw

else:  # pragma: no cover - Python 3.10

    async def _bounded(aw: Awaitable[T], seconds: float) -> T:
        return await asyncio.wait_for(aw, seconds)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':***@' if user else '***@'}{host}"


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _num(value: float | None) -> str:
    return "-1" if value is None else repr(float(value))


class _Clients:
    """One asyncio client per event loop, with the scripts registered on it."""

    __slots__ = ("client", "scripts")

    def __init__(self, client: Any, scripts: dict[str, Any]) -> None:
        self.client = client
        self.scripts = scripts


# --------------------------------------------------------------------------- the store


class RedisStore(Store):
    """Shared state on Redis: pass the same ``url`` and ``prefix`` to every process.

    ``on_unavailable``: ``"fail_closed"`` or ``"local"`` (see the module docstring).
    ``op_timeout``: the most one reply from Redis may take (seconds); a step that
    must open a connection first may also take ``connect_timeout`` for that.
    ``retry_interval``: while Redis is down, how often a step tries it again.
    ``max_connections``: per event loop (and for the sync client).
    ``max_value_bytes``: cached values larger than this are not stored.
    ``serializer``: ``"json"`` (default: only plain JSON data that round-trips exactly
    is cached) or ``"pickle"`` (any picklable value; only for a Redis that nobody
    untrusted can write to, since unpickling runs code).
    ``listeners``: receive ``StoreEvent`` when Redis becomes unavailable or recovers
    (``add_listener`` adds more).
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
        max_connections: int = 32,
        max_value_bytes: int = 1_048_576,
        serializer: Literal["json", "pickle"] = "json",
        listeners: Sequence[ev.Listener] = (),
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
        self.listeners: list[ev.Listener] = list(listeners)
        self._errors = _unavailable_errors()
        self._lock = threading.Lock()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Clients] = (
            weakref.WeakKeyDictionary()
        )
        self._sync: Any = None
        self._local_store: MemoryStore | None = None
        self._down_until = 0.0
        self._down = False
        self._in_row = 0  # failed steps since the last success
        self._last_error: BaseException | None = None
        self._wakers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._counts = {
            "ops": 0,
            "unavailable_errors": 0,
            "outages": 0,
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

    def _pool_options(self, *, asynchronous: bool) -> dict[str, Any]:
        """No retries inside redis-py (its default retries with backoff would outlast
        ``op_timeout``); every wait bounded.

        The asyncio client gets no socket timeout: redis-py enforces it with
        ``asyncio.wait_for``, which on Python < 3.12 can swallow a cancellation
        that lands as a write completes (a cancelled call would then go on
        waiting). ``_call`` bounds each step with ``asyncio.timeout`` instead.
        """
        return {
            "socket_timeout": None if asynchronous else self.op_timeout,
            "socket_connect_timeout": self.connect_timeout,
            "max_connections": self.max_connections,
            "timeout": self.op_timeout,  # waiting for a free pooled connection
        }

    def _aclients(self) -> _Clients:
        loop = asyncio.get_running_loop()
        found = self._clients.get(loop)
        if found is not None:
            return found
        import redis.asyncio as aredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        pool = aredis.BlockingConnectionPool.from_url(
            self.url, retry=Retry(NoBackoff(), 0), **self._pool_options(asynchronous=True)
        )
        client = aredis.Redis(connection_pool=pool)
        clients = _Clients(client, {n: client.register_script(s) for n, s in _SCRIPTS.items()})
        with self._lock:
            self._clients[loop] = clients
        return clients

    def _sync_client(self) -> Any:
        if self._sync is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            with self._lock:
                if self._sync is None:
                    pool = redis.BlockingConnectionPool.from_url(
                        self.url,
                        retry=Retry(NoBackoff(), 0),
                        **self._pool_options(asynchronous=False),
                    )
                    self._sync = redis.Redis(connection_pool=pool)
        return self._sync

    async def _script(
        self, name: str, keys: Sequence[str], args: Sequence[Any], *, cap: float | None = None
    ) -> Any:
        """Run one script: one atomic step on the server."""
        return await self._call(
            lambda c: c.scripts[name](keys=list(keys), args=list(args)), cap=cap
        )

    async def _command(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        return await self._call(lambda c: fn(c.client))

    async def _call(self, fn: Callable[[_Clients], Awaitable[T]], *, cap: float | None = None) -> T:
        """One step, bounded in time; raises ``_Down`` when Redis does not answer in time.

        While Redis is down, steps fail at once until ``retry_interval`` has passed.
        ``cap``: the caller's share of time for this step (its wait, or what is left of
        its attempt); a step with no answer within it fails like any unanswered step
        (StoreUnavailable, or the local fallback), so a hung Redis never looks like a
        busy limit. A wait of at least ``_SLOW_S`` without an answer counts as a slow
        reply (two in a row: Redis is down); a shorter one fails only its own step.
        """
        if self._down and time.monotonic() < self._down_until:
            raise _Down()
        if asyncio.current_task() is None:
            # A sync caller drives its call's first step by hand (toolsafe._sync), but
            # timeouts, here and inside redis-py, need a Task: continue in one.
            return await asyncio.ensure_future(self._call(fn, cap=cap))
        capped = False
        budget = STEP_BUDGET.get()
        if budget is not None and (cap is None or budget < cap):
            cap = budget
        try:
            clients = self._aclients()
            bound = self._step_bound(clients)
            if cap is not None and cap < bound:
                bound, capped = max(cap, _MIN_STEP), True
            result = await _bounded(fn(clients), bound)
        except self._errors as exc:
            if capped and bound < _SLOW_S and isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
                self._last_error = exc  # too short a wait to judge Redis by
                raise _Down() from exc
            self._mark_down(exc)
            raise _Down() from exc
        self._counts["ops"] += 1
        self._in_row = 0
        if self._down:
            self._mark_up()
        return result

    def _step_bound(self, clients: _Clients) -> float:
        """``op_timeout``, plus ``connect_timeout`` when the step must open a connection."""
        pool = clients.client.connection_pool
        idle = getattr(pool, "_available_connections", None)
        if idle:
            return self.op_timeout
        return self.op_timeout + self.connect_timeout

    def _mark_down(self, exc: BaseException) -> None:
        """A refused or dropped connection means down; a timeout, only twice in a row
        (one slow reply, say during a fork for a snapshot, fails just its own step)."""
        self._counts["unavailable_errors"] += 1
        self._last_error = exc
        self._in_row += 1
        slow = isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or (
            type(exc).__name__ == "TimeoutError"
        )
        if slow and self._in_row < 2 and not self._down:
            return
        with self._lock:
            self._down_until = time.monotonic() + self.retry_interval
            if self._down:
                return
            self._down = True
            self._counts["outages"] += 1
        what = (
            "calls needing a slot, a token or a breaker verdict fail with StoreUnavailable"
            if self.on_unavailable == "fail_closed"
            else "limits fall back to this process's memory (not fleet-wide)"
        )
        logger.warning(
            "toolsafe: Redis store at %s unavailable (%s: %s); %s until it answers again",
            _redact(self.url),
            type(exc).__name__,
            exc,
            what,
        )
        self._emit("unavailable", error=f"{type(exc).__name__}: {exc}")

    def _mark_up(self) -> None:
        with self._lock:
            if not self._down:
                return
            self._down = False
        logger.warning("toolsafe: Redis store at %s is available again", _redact(self.url))
        self._emit("recovered")

    def _emit(self, kind: str, **detail: Any) -> None:
        if self.listeners:
            event = StoreEvent(
                "",
                "",
                time.monotonic(),
                kind,
                self.on_unavailable,
                {"url": _redact(self.url), **detail},
            )
            ev.emit(self.listeners, event)

    def _unavailable(self) -> StoreUnavailable:
        return StoreUnavailable(
            f"the shared store (Redis at {_redact(self.url)}) is unavailable; the call was not run",
            retry_after_s=self.retry_interval,
        )

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
            raise self._unavailable() from self._last_error
        self._counts["local_fallbacks"] += 1
        return self._local

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def available(self) -> bool:
        """False while Redis is considered down (between failed steps and a retry)."""
        return not self._down

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
        args = [limit, _ms(lease_s), lease, waiter, _HEARTBEAT_MS]
        pause = _POLL_FIRST
        try:
            while True:
                # A waiter's step never outlasts its wait (by more than _MIN_STEP); a caller
                # that does not wait (wait_s=0) gets the step's usual bound.
                cap = None if give_up is None or not waiter else give_up - loop.time()
                try:
                    granted = await self._script("acquire", keys, args, cap=cap)
                except _Down:
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

    async def _leave(self, key: str, waiter: str) -> None:
        keys = self._slot_keys(key)
        try:
            await self._script("leave", keys[1:3], [waiter])
        except _Down:
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
        if lease.startswith(_LOCAL):
            await self._local.release(key, lease[len(_LOCAL) :])
            return
        try:
            await self._command(lambda c: c.zrem(self.key("slots", key), lease))
        except _Down:
            return  # the lease expires on its own
        self._wake_local(key)

    def release_threadsafe(self, key: str, lease: str) -> None:
        if lease.startswith(_LOCAL):
            self._local.release_threadsafe(key, lease[len(_LOCAL) :])
            return
        if self._down and time.monotonic() < self._down_until:
            return
        try:
            self._sync_client().zrem(self.key("slots", key), lease)
        except self._errors as exc:
            self._mark_down(exc)
            return
        self._wake_local(key)

    async def renew(self, key: str, lease: str, lease_s: float) -> bool:
        if lease.startswith(_LOCAL):
            return await self._local.renew(key, lease[len(_LOCAL) :], lease_s)
        try:
            return bool(
                await self._script("renew", [self.key("slots", key)], [lease, _ms(lease_s)])
            )
        except _Down:
            return True  # cannot tell; the holder keeps going and the lease may lapse

    async def holders(self, key: str) -> int:
        """Live leases of ``key`` on the server (for stats and tests)."""
        now_ms = int(time.time() * 1000)
        name = self.key("slots", key)
        count = await self._command(lambda c: c.zcount(name, f"({now_ms}", "+inf"))
        return int(count)

    # ------------------------------------------------------------------ rate limits

    async def take(self, key: str, rate: float, burst: int, *, max_wait_s: float | None) -> Grant:
        try:
            ok, wait = await self._script(
                "take", [self.key("rate", key)], [repr(float(rate)), burst, _num(max_wait_s)]
            )
        except _Down:
            return await self._fallback().take(key, rate, burst, max_wait_s=max_wait_s)
        wait_s = float(wait)
        if ok and wait_s <= 0:
            return GRANTED
        return Grant(bool(ok), wait_s)

    # ------------------------------------------------------------------ circuit breakers

    @staticmethod
    def _breaker_ttl_ms(spec: Breaker) -> int:
        return _ms(2 * max(spec.window, spec.cooldown) + 60)

    async def breaker_admit(self, key: str, spec: Breaker) -> BreakerAdmission:
        try:
            reply = await self._script(
                "admit",
                [self.key("breaker", key)],
                [repr(float(spec.cooldown)), spec.probes, self._breaker_ttl_ms(spec)],
            )
        except _Down:
            return await self._fallback().breaker_admit(key, spec)
        allowed, probe, state, retry_after, changed = reply
        state_s = state.decode() if isinstance(state, bytes) else str(state)
        if allowed and not probe and state_s == "closed":
            return ADMIT_CLOSED
        return BreakerAdmission(
            bool(allowed),
            bool(probe),
            cast(BreakerState, state_s),
            float(retry_after),
            bool(changed),
        )

    async def breaker_record(
        self, key: str, spec: Breaker, outcome: BreakerVerdict, *, probe: bool
    ) -> BreakerRecord:
        args = [
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
        try:
            previous, state = await self._script("record", [self.key("breaker", key)], args)
        except _Down:
            if self.on_unavailable == "local":
                return await self._local.breaker_record(key, spec, outcome, probe=probe)
            return BreakerRecord("closed", "closed")  # not counted; the next admit fails closed
        return BreakerRecord(
            cast(BreakerState, previous.decode() if isinstance(previous, bytes) else previous),
            cast(BreakerState, state.decode() if isinstance(state, bytes) else state),
        )

    async def breaker_state(self, key: str) -> BreakerState:
        name = self.key("breaker", key)
        try:
            state = await self._command(lambda c: c.hget(name, "state"))
        except _Down:
            if self.on_unavailable == "local":
                return await self._local.breaker_state(key)
            raise self._unavailable() from self._last_error
        if state is None:
            return "closed"
        return cast(BreakerState, state.decode() if isinstance(state, bytes) else state)

    # ------------------------------------------------------------------ result cache

    def _cache_key(self, key: str) -> str:
        if len(key) > _MAX_KEY_CHARS:
            key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self.key("cache", key)

    def _dump(self, value: Any) -> bytes | None:
        if self.serializer == "pickle":
            try:
                return b"p" + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                return None
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            return None
        if json.loads(text) != value or not _plain(value):
            return None  # would not come back as the same value (tuples, int keys, ...)
        return b"j" + text.encode("utf-8")

    def _load(self, blob: bytes) -> Any:
        kind, body = blob[:1], blob[1:]
        if kind == b"j":
            return json.loads(body)
        if kind == b"p" and self.serializer == "pickle":
            return pickle.loads(body)
        raise ValueError("unknown cache entry encoding")

    async def cache_get(self, key: str) -> tuple[bool, Any]:
        name = self._cache_key(key)
        try:
            blob = await self._command(lambda c: c.get(name))
        except _Down:
            blob = None
        if blob is None:
            self._counts["cache_misses"] += 1
            return False, None
        try:
            value = self._load(blob)
        except Exception:
            self._counts["cache_misses"] += 1
            return False, None
        self._counts["cache_hits"] += 1
        return True, value

    async def cache_set(self, key: str, value: Any, ttl_s: float) -> bool:
        blob = self._dump(value)
        if blob is None or len(blob) > self.max_value_bytes or ttl_s <= 0:
            self._counts["cache_refused"] += 1
            return False
        name = self._cache_key(key)
        try:
            await self._command(lambda c: c.set(name, blob, px=_ms(ttl_s)))
        except _Down:
            return False
        return True

    # ------------------------------------------------------------------ life cycle

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "redis",
            "url": _redact(self.url),
            "prefix": self.prefix,
            "on_unavailable": self.on_unavailable,
            "available": not self._down,
            "event_loops": len(self._clients),
            **self._counts,
        }
        if self._local_store is not None:
            out["local"] = self._local_store.stats()
        return out

    async def aclose_loop(self) -> None:
        """Close the running loop's client only: call it before a short-lived loop ends
        (``asyncio.run``) if the store lives on; the next step reconnects."""
        with self._lock:
            mine = self._clients.pop(asyncio.get_running_loop(), None)
        if mine is not None:
            await mine.client.aclose(close_connection_pool=True)

    async def aclose(self) -> None:
        """Close every client, awaiting this loop's own."""
        await self.aclose_loop()
        self.close()

    def close(self) -> None:
        """Close every client: on its own loop when that loop is alive."""
        with self._lock:
            items = list(self._clients.items())
            self._clients = weakref.WeakKeyDictionary()
            sync, self._sync = self._sync, None
        for loop, clients in items:
            _close_on(loop, clients.client)
        if sync is not None:
            try:
                sync.close()
                sync.connection_pool.disconnect()
            except Exception:
                pass

    def __repr__(self) -> str:
        return f"<RedisStore {_redact(self.url)} prefix={self.prefix!r} {self.on_unavailable}>"


def _close_on(loop: asyncio.AbstractEventLoop, client: Any) -> None:
    if loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    closing = client.aclose(close_connection_pool=True)
    try:
        if running is loop:
            task = loop.create_task(closing)
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
        elif loop.is_running():
            asyncio.run_coroutine_threadsafe(closing, loop)
        else:
            loop.run_until_complete(closing)
    except Exception:
        closing.close()


def _plain(value: Any, depth: int = 0) -> bool:
    """True for JSON-native data (no tuples, no non-str keys) that JSON gives back as is."""
    if depth > 100:
        return False
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    if isinstance(value, list):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False
