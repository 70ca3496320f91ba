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
``P once:{k}``                 hash      an idempotency record (``k``: tool and key): state,
                                         owner, lease end, payload JSON; lives its TTL.
                                         Fails closed whatever ``on_unavailable`` says
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

Modules: ``store`` (``RedisStore``: the steps and their fallbacks), ``_link``
(connections, time bounds, outage state, ``StoreUnavailable``, ``StoreEvent``),
``_pipe`` (auto-pipelining of scripts), ``_scripts`` (the Lua scripts), ``_codec``
(cached values).

Connections: one asyncio client (and connection pool) per event loop, since an
asyncio connection must not be used from a loop it was not created on (the sync
API runs a loop per thread), plus one thread-safe sync client for releases from
plain threads. Clients live as long as their loop.

Pipelining: every script goes through its loop's pipe (``_pipe``): the scripts
issued in one loop iteration leave as one pipeline (one write, replies read in
order) on a connection of the pipe's own, a batch bounded as a whole by
``op_timeout`` (plus ``connect_timeout`` to connect) and dropping its connection
when unanswered. A caller that stops waiting (cancelled, out of time) may leave
its script on the way: unwritten, it is dropped (never runs; bookkeeping is sent
anyway); written, its reply still comes back and a slot it shows granted is
given back after that reply (with no reply, every slot asked for is released, best
effort); a release that cannot reach Redis leaves the lease to expire. No slot is
held forever.
"""

from __future__ import annotations

from toolsafe.stores.redis._link import StoreEvent, StoreUnavailable
from toolsafe.stores.redis.store import RedisStore

__all__ = ["RedisStore", "StoreEvent", "StoreUnavailable"]
