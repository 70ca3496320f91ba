"""A bounded pool of worker threads for sync tools, built for calls that may never return.

``concurrent.futures.ThreadPoolExecutor`` cannot tell a busy thread from one stuck
forever in a call whose caller already gave up, and it gives every key the whole
pool. This pool:

- runs each item under a *key* (a tool or named upstream) that may hold at most
  ``share`` threads at once, counting stuck ones, so one hanging upstream cannot
  starve the others;
- when a caller abandons a running item (its timeout passed), counts that thread
  as stuck and starts a replacement, up to ``max_abandoned`` stuck threads in all;
  past that cap the pool says so (``cap_reached``) and new work waits in the queue,
  where the caller's own deadline ends the wait with a TimeoutError;
- starts up to ``eager`` threads at once for ready work, and past them only for
  work waiting behind workers blocked longer than ``blocked_after`` (``_grow``):
  short bodies stay on a few threads instead of many fighting for the GIL;
- retires idle threads after ``idle_timeout`` seconds.

**When every worker is stuck.** Threads never exceed ``max_workers +
max_abandoned``. Once that many are stuck, nothing new starts: each new sync call
waits in the queue and ends at its own timeout (or deadline) with a retryable
``TimeoutError`` saying it never started and how many threads are stuck (the
retry policy may retry it even for a tool not declared idempotent, since it did
not run). Async tools are unaffected (they run on the event loop). The pool heals
by itself: each stuck thread that finally returns becomes a worker again, or
retires if the pool is over size. ``Runtime.stats()["backend"]["pool"]`` shows
``stuck``, ``stuck_by_key``, ``abandoned_total``, ``replaced_total`` and
``cap_reached_total``; a ``PoolEvent`` (``thread_abandoned``,
``abandon_cap_reached``) and a log line say when it happens. Before it comes to
that, per-key shares keep one hanging upstream to its own threads, and a breaker
(``breaker=``) counts the timeouts and fails its calls fast.

Python threads cannot be killed; the process backend is the answer when a stuck
call must really be stopped.
"""

from __future__ import annotations

import _thread
import contextvars
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_SYNC_WORKERS", "PoolClosed", "PoolStats", "WorkItem", "WorkerPool"]

_QUEUED, _RUNNING, _DONE, _CANCELLED = 0, 1, 2, 3
_GROWER_NONE, _GROWER_WAITING, _GROWER_BUSY = 0, 1, 2

#: Threads a pool starts as soon as ready work outnumbers idle threads; past them,
#: threads start only for work waiting behind blocked workers (``WorkerPool._grow``).
EAGER_WORKERS = 6
#: A body running longer than this (seconds) counts as blocked for ``_grow``.
BLOCKED_AFTER = 0.002

Done = Callable[["WorkItem"], None]


class PoolClosed(RuntimeError):
    """The pool was shut down before this item started (its body never ran)."""


class WorkItem:
    """One unit of work; ``on_done`` is called in the worker thread when it ends."""

    __slots__ = (
        "abandoned",
        "after",
        "began",
        "context",
        "error",
        "fn",
        "key",
        "on_done",
        "state",
        "value",
    )

    def __init__(self, fn: Callable[[], Any], key: str, on_done: Done) -> None:
        self.fn = fn
        self.key = key
        self.on_done = on_done
        self.context = contextvars.copy_context()
        self.state = _QUEUED
        self.abandoned = False
        #: Callbacks run once the body has returned (see ``WorkerPool.when_done``).
        self.after: list[Callable[[], None]] | None = None
        self.value: Any = None
        self.error: BaseException | None = None
        #: When the body began (monotonic seconds); 0.0 until then.
        self.began = 0.0

    @property
    def started(self) -> bool:
        """The body began (it may still run): not queued, not cancelled before it ran."""
        return self.state == _RUNNING or self.state == _DONE

    @property
    def finished(self) -> bool:
        """The body returned: ``value`` or ``error`` holds its result."""
        return self.state == _DONE


@dataclass(frozen=True)
class PoolStats:
    threads: int
    busy: int
    queued: int
    stuck: int
    abandoned_total: int
    replaced_total: int
    cap_reached_total: int
    max_workers: int
    max_abandoned: int
    stuck_by_key: dict[str, int]


#: Sized for blocking I/O, not CPU: the pool starts threads only for work waiting behind
#: blocked ones (``_pool``), so short bodies stay on a few threads whatever the cap. 512
#: lets one tool (its share: half) overlap 256 blocking calls: 1,000 concurrent calls of
#: 50 ms took 0.25 s, against 0.49 s with 256 (bench peers).
DEFAULT_SYNC_WORKERS = 512


class WorkerPool:
    def __init__(
        self,
        max_workers: int = DEFAULT_SYNC_WORKERS,
        *,
        share: int | None = None,
        max_abandoned: int | None = None,
        idle_timeout: float = 30.0,
        name: str = "toolsafe-worker",
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        eager: int = EAGER_WORKERS,
        blocked_after: float = BLOCKED_AFTER,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.max_workers = max_workers
        self.share = max(1, share if share is not None else max(1, max_workers // 2))
        self.max_abandoned = max_abandoned if max_abandoned is not None else max_workers
        self.idle_timeout = idle_timeout
        self.name = name
        self._on_event = on_event
        lock = threading.Lock()
        #: Guards all the state below. Idle workers do not wait on a Condition (its
        #: ``wait`` allocates a lock and its ``notify`` walks a deque in Python, a few
        #: microseconds of a sync call's round trip): each parks on a raw lock of its
        #: own, pushed on ``_parked`` (last in, first woken: the warmest thread).
        self._lock = lock
        self._parked: list[_thread.LockType] = []
        self._ready: deque[WorkItem] = deque()
        self._waiting: dict[str, deque[WorkItem]] = {}
        self._per_key: dict[str, int] = {}
        self._stuck_by_key: dict[str, int] = {}
        self._threads = 0
        self._idle = 0
        self._busy = 0
        self._stuck = 0
        self._abandoned_total = 0
        self._replaced_total = 0
        self._cap_reached_total = 0
        self._shutdown = False
        self._counter = 0
        #: Threads started at once for ready work; beyond them only the grower starts more.
        self.eager = max(1, eager)
        self.blocked_after = blocked_after
        self._running: set[WorkItem] = set()
        #: Workers between a body's end and their next look at the queue.
        self._finishing = 0
        #: Threads started that have not yet looked at the queue (each takes an item).
        self._starting = 0
        self._grower = threading.Condition(lock)  # wakes the grower (see ``_grow``)
        self._grower_state = _GROWER_NONE

    # ------------------------------------------------------------------ public

    def submit(
        self, fn: Callable[[], Any], on_done: Done, *, key: str = "", share: int | None = None
    ) -> WorkItem:
        item = WorkItem(fn, key, on_done)
        limit = self.share if share is None else max(1, share)
        with self._lock:
            if self._shutdown:
                raise PoolClosed("worker pool is shut down")
            if self._per_key.get(key, 0) >= limit:
                self._waiting.setdefault(key, deque()).append(item)
            else:
                self._per_key[key] = self._per_key.get(key, 0) + 1
                self._ready.append(item)
                self._wake_or_spawn()
        return item

    def abandon(self, item: WorkItem) -> bool:
        """The caller gave up on ``item``. Returns True when its thread is now stuck."""
        event: tuple[str, dict[str, Any]] | None = None
        cap: tuple[str, dict[str, Any]] | None = None
        with self._lock:
            if item.state == _QUEUED:
                item.state = _CANCELLED
                waiting = self._waiting.get(item.key)
                if waiting is not None and item in waiting:
                    waiting.remove(item)
                # an item still in ``_ready`` is skipped by the worker that pops it
                return False
            if item.state != _RUNNING or item.abandoned:
                return False
            item.abandoned = True
            self._stuck += 1
            self._stuck_by_key[item.key] = self._stuck_by_key.get(item.key, 0) + 1
            self._abandoned_total += 1
            detail = {
                "key": item.key,
                "stuck": self._stuck,
                "stuck_for_key": self._stuck_by_key[item.key],
                "threads": self._threads,
            }
            event = ("thread_abandoned", detail)
            if self._stuck > self.max_abandoned:
                self._cap_reached_total += 1
                cap = ("abandon_cap_reached", {**detail, "max_abandoned": self.max_abandoned})
            elif len(self._ready) > self._idle and self._threads < self._capacity():
                self._spawn()
                self._replaced_total += 1
        self._notify(*event)
        if cap is not None:
            self._notify(*cap)
        return True

    def when_done(self, item: WorkItem, callback: Callable[[], None]) -> None:
        """Run ``callback`` once ``item``'s body has returned (now, if it already has).

        For resources held on behalf of an abandoned body, such as a concurrency
        slot: they are freed when the stuck thread really comes back. An item that is
        not running (done, or cancelled before it started) gets its callback at once.
        """
        with self._lock:
            if item.state == _RUNNING:
                if item.after is None:
                    item.after = []
                item.after.append(callback)
                return
        callback()

    def stats(self) -> PoolStats:
        with self._lock:
            return PoolStats(
                threads=self._threads,
                busy=self._busy,
                queued=len(self._ready) + sum(len(q) for q in self._waiting.values()),
                stuck=self._stuck,
                abandoned_total=self._abandoned_total,
                replaced_total=self._replaced_total,
                cap_reached_total=self._cap_reached_total,
                max_workers=self.max_workers,
                max_abandoned=self.max_abandoned,
                stuck_by_key={k: v for k, v in self._stuck_by_key.items() if v},
            )

    def stuck_for(self, key: str) -> int:
        with self._lock:
            return self._stuck_by_key.get(key, 0)

    def shutdown(self) -> None:
        """Stop accepting work; let idle threads exit (stuck ones exit when they return).

        Every item still queued is cancelled and handed to its ``on_done`` with
        ``error = PoolClosed()``, so no caller waits for a body that will never run
        (with no timeout, it would wait for ever). Running items finish as usual.
        """
        with self._lock:
            self._shutdown = True
            ready, self._ready = list(self._ready), deque()
            for item in ready:  # a ready item holds its key's count; a waiting one does not
                self._per_key[item.key] -= 1
                if not self._per_key[item.key]:
                    del self._per_key[item.key]
            dropped = [item for item in ready if item.state == _QUEUED]
            for waiting in self._waiting.values():
                dropped.extend(item for item in waiting if item.state == _QUEUED)
            self._waiting.clear()
            for item in dropped:
                item.state = _CANCELLED
                item.error = PoolClosed("the worker pool was shut down before the call started")
            parked, self._parked = self._parked, []
            for wake in parked:
                wake.release()
            self._grower.notify_all()
        for item in dropped:
            try:
                item.on_done(item)
            except BaseException:
                pass

    # ------------------------------------------------------------------ internals

    def _capacity(self) -> int:
        return self.max_workers + min(self._stuck, self.max_abandoned)

    def _wake_or_spawn(self) -> None:
        """An item was just made ready (lock held): make sure some thread will take it.

        A woken idle thread only leaves ``_idle`` once it reacquires the lock, so
        ``_idle`` alone cannot say whether one is free for *this* item: during a burst
        every submit would wake the same thread and none would spawn, serializing the
        burst. Each idle thread takes one ready item, so a thread is missing exactly
        when ready items outnumber idle threads.
        """
        if self._parked:
            self._parked.pop().release()  # what ``Condition.notify`` would do, by hand
        if len(self._ready) > self._idle and self._threads < self._capacity():
            if self._threads < self.eager:
                self._spawn()
            elif len(self._ready) <= self._idle + self._finishing:
                pass  # a worker that just finished a body takes it: no thread to grow
            elif self._grower_state == _GROWER_NONE:
                self._grower_state = _GROWER_BUSY
                threading.Thread(target=self._grow, name=f"{self.name}-grower", daemon=True).start()
            elif self._grower_state == _GROWER_WAITING:
                self._grower_state = _GROWER_BUSY
                self._grower.notify()

    def _backlog(self) -> int:
        """Ready items no idle thread will take, that a new thread could (lock held)."""
        if self._shutdown:
            return 0
        waiting = len(self._ready) - self._idle - self._finishing - self._starting
        return min(waiting, self._capacity() - self._threads)

    def _grow(self) -> None:
        """Start threads only for work that waits behind *blocked* workers.

        Waking many threads for short bodies costs more in GIL hand-offs than it
        gains (10,000 no-op calls took 1.07 s on 256 threads, 0.82 s on 6), so past
        ``eager`` threads this one thread looks every ``blocked_after`` seconds while
        ready work waits: workers whose body has run longer than that are blocked (in
        I/O, a sleep, a hang), and for each such worker one more thread starts, up to
        the backlog and the pool's capacity (so a burst of blocking calls doubles the
        threads every look until it all runs in parallel). Work that keeps the
        workers busy but moving starts no thread.
        """
        cond = self._grower
        while True:
            with cond:
                while self._backlog() <= 0:
                    if self._shutdown:
                        self._grower_state = _GROWER_NONE
                        return
                    self._grower_state = _GROWER_WAITING
                    cond.wait(self.idle_timeout)
                    if self._grower_state == _GROWER_WAITING:  # nobody called: retire
                        self._grower_state = _GROWER_NONE
                        return
            time.sleep(self.blocked_after)
            with cond:
                since = time.monotonic() - self.blocked_after
                blocked = sum(1 for item in self._running if item.began <= since)
                runnable = self._threads - blocked
                want = max(self.eager - runnable, blocked) if runnable < self.eager else 0
                for _ in range(min(want, self._backlog())):
                    self._spawn()

    def _spawn(self) -> None:
        self._threads += 1
        self._starting += 1
        self._counter += 1
        thread = threading.Thread(
            target=self._worker, name=f"{self.name}-{self._counter}", daemon=True
        )
        thread.start()

    def _notify(self, kind: str, detail: dict[str, Any]) -> None:
        if self._on_event is not None:
            try:
                self._on_event(kind, detail)
            except Exception:
                pass

    def _worker(self) -> None:
        cond = self._lock
        wake = _thread.allocate_lock()  # released by whoever wakes this thread
        wake.acquire()
        finished = False
        starting = True
        while True:
            with cond:
                if starting:  # no longer counted as on its way (``_backlog``)
                    self._starting -= 1
                    starting = False
                if finished:
                    self._finishing -= 1
                    finished = False
                while not self._ready:
                    if self._shutdown:
                        self._threads -= 1
                        return
                    self._idle += 1
                    woke = self._park(wake)
                    self._idle -= 1
                    if not woke and not self._ready:
                        self._threads -= 1
                        return
                item = self._ready.popleft()
                if item.state == _CANCELLED:
                    self._release_key(item.key)
                    continue
                item.state = _RUNNING
                item.began = time.monotonic()
                self._running.add(item)
                self._busy += 1
            try:
                item.value = item.context.run(item.fn)
            except BaseException as exc:  # a tool may raise anything; it all goes back
                item.error = exc
            with cond:
                item.state = _DONE
                self._running.discard(item)
                after, item.after = item.after, None
                self._busy -= 1
                if item.abandoned:
                    self._stuck -= 1
                    self._stuck_by_key[item.key] -= 1
                self._release_key(item.key)
                retire = self._threads > self._capacity()
                if retire:
                    self._threads -= 1
                else:
                    self._finishing += 1
                    finished = True
            try:
                item.on_done(item)
            except BaseException:
                pass
            if after:
                for callback in after:
                    try:
                        callback()
                    except BaseException:
                        pass
            item.fn = _noop  # drop references held by the closure
            if retire:
                return

    def _park(self, wake: _thread.LockType) -> bool:
        """Wait (lock held, released meanwhile) until woken or ``idle_timeout`` passes:
        ``Condition.wait`` on the worker's own raw lock. True when woken."""
        lock = self._lock
        self._parked.append(wake)
        lock.release()
        try:
            woke = wake.acquire(True, self.idle_timeout)
        finally:
            lock.acquire()
        if not woke:
            try:
                self._parked.remove(wake)  # nobody woke it: it leaves the stack itself
            except ValueError:  # woken just after the timeout: take that wake-up
                woke = wake.acquire(False)
        return woke

    def _release_key(self, key: str) -> None:
        waiting = self._waiting.get(key)
        while waiting:
            nxt = waiting.popleft()
            if nxt.state == _CANCELLED:
                continue
            self._ready.append(nxt)
            self._wake_or_spawn()
            return
        self._per_key[key] -= 1
        if not self._per_key[key]:
            del self._per_key[key]
            self._waiting.pop(key, None)


def _noop() -> None:
    return None
