"""The Redis store's connection and outage handling: clients per event loop, one step
bounded in time, and the up/down state that decides whether a step tries Redis.

A ``Link`` runs one step (a script or a command) and either returns Redis's answer
or raises ``Down``: no answer in time, a refused or dropped connection, a server
that is loading or read-only. The store decides what ``Down`` means for its step
(``StoreUnavailable``, the local fallback, a skipped bookkeeping step).
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from toolsafe._log import logger
from toolsafe.errors import ToolFailure
from toolsafe.observe import events as ev
from toolsafe.stores._base import STEP_BUDGET
from toolsafe.stores.redis._pipe import Orphan, Pipe, bounded
from toolsafe.stores.redis._scripts import SCRIPTS

__all__ = [
    "PENDING",
    "Down",
    "Link",
    "OnUnavailable",
    "StoreEvent",
    "StoreUnavailable",
    "redact_url",
]

T = TypeVar("T")

OnUnavailable = Literal["fail_closed", "local"]

#: The least time a step is given, however little the caller has left (seconds).
_MIN_STEP = 0.05
#: A step given at least this long without an answer counts as a slow reply (seconds).
_SLOW_S = 0.1


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


class Down(Exception):
    """Internal: Redis is unavailable for this step."""


#: ``Link.bookkeep``: no reply yet when the caller stopped waiting.
PENDING: Any = object()


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


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':***@' if user else '***@'}{host}"


class _Clients:
    """One event loop's asyncio client (its pool: plain commands) and pipe (scripts)."""

    __slots__ = ("client", "pipe")

    def __init__(self, client: Any, pipe: Pipe) -> None:
        self.client = client
        self.pipe = pipe

    async def aclose(self) -> None:
        await self.pipe.aclose()
        await self.client.aclose(close_connection_pool=True)


class Link:
    """The connections to one Redis and whether it answers.

    ``op_timeout``: the most one reply may take; ``connect_timeout``: added when a
    step must open a connection first; ``retry_interval``: while Redis is down, how
    often a step tries it again; ``mode``: what the store does meanwhile (for the
    log line and the ``StoreEvent``); ``listeners``: the store's list (shared).
    """

    def __init__(
        self,
        url: str,
        *,
        op_timeout: float,
        connect_timeout: float,
        retry_interval: float,
        max_connections: int,
        mode: OnUnavailable,
        listeners: list[ev.Listener],
    ) -> None:
        self.url = url
        self.op_timeout = op_timeout
        self.connect_timeout = connect_timeout
        self.retry_interval = retry_interval
        self.max_connections = max_connections
        self.mode: OnUnavailable = mode
        self.listeners = listeners
        self._errors = _unavailable_errors()
        self._lock = threading.Lock()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Clients] = (
            weakref.WeakKeyDictionary()
        )
        self._sync: Any = None
        self._down_until = 0.0
        self._down = False
        self._in_row = 0  # failed steps since the last success
        self.last_error: BaseException | None = None
        self.counts = {"ops": 0, "unavailable_errors": 0, "outages": 0}

    @property
    def available(self) -> bool:
        """False while Redis is considered down (between failed steps and a retry)."""
        return not self._down

    @property
    def resting(self) -> bool:
        """Down, and not yet time to try again: a step would fail at once."""
        return self._down and time.monotonic() < self._down_until

    @property
    def event_loops(self) -> int:
        return len(self._clients)

    def unavailable(self) -> StoreUnavailable:
        return StoreUnavailable(
            f"the shared store (Redis at {redact_url(self.url)}) is unavailable; "
            "the call was not run",
            retry_after_s=self.retry_interval,
        )

    def _pool_options(self, *, asynchronous: bool) -> dict[str, Any]:
        """No retries inside redis-py (its default retries with backoff would outlast
        ``op_timeout``); every wait bounded.

        The asyncio client gets no socket timeout: redis-py enforces it with
        ``asyncio.wait_for``, which on Python < 3.12 can swallow a cancellation
        that lands as a write completes (a cancelled call would then go on
        waiting). ``call`` bounds each step with ``asyncio.timeout`` instead.
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
        pipe = Pipe(
            pool.make_connection,
            op_timeout=self.op_timeout,
            connect_timeout=self.connect_timeout,
            errors=self._errors,
        )
        clients = _Clients(client, pipe)
        with self._lock:
            self._clients[loop] = clients
        return clients

    def sync_client(self) -> Any:
        """The thread-safe sync client (releases from plain threads)."""
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

    def sync_command(self, fn: Callable[[Any], T]) -> T:
        """One command on the sync client; raises ``Down`` when Redis cannot answer."""
        if self.resting:
            raise Down()
        try:
            return fn(self.sync_client())
        except self._errors as exc:
            self.mark_down(exc)
            raise Down() from exc

    async def script(
        self,
        name: str,
        keys: Sequence[str],
        args: Sequence[Any],
        *,
        cap: float | None = None,
        orphan: Orphan | None = None,
        keep: bool = False,
    ) -> Any:
        """Run one script: one atomic step on the server, sent through this loop's pipe
        (``_pipe``: batched with the other callers' scripts of the same loop iteration).

        ``str`` keys and arguments are packed once and memoised; pass what changes
        from call to call (ids, waits) as ``bytes`` or numbers. ``orphan`` hears the
        reply if this caller stops waiting after the script was sent, or the error if
        it was sent and got no reply; ``keep``: send it even if the caller stopped
        waiting before it left (bookkeeping)."""
        body = SCRIPTS[name]
        return await self.call(
            lambda c: c.pipe.submit(body, keys, args, orphan=orphan, keep=keep),
            cap=cap,
            piped=True,
        )

    async def bookkeep(
        self,
        name: str,
        keys: Sequence[str],
        args: Sequence[Any],
        *,
        wait: float,
        late: Callable[[Any], object],
    ) -> Any:
        """Run a bookkeeping script (a settle) that must reach Redis whatever its caller
        does, the caller waiting at most ``wait``: the reply, or ``PENDING`` when none
        came by then; raises ``Down`` when Redis is down or the script failed in time.

        The script goes out even if the caller stops waiting (``keep``), bounded like
        any batch; its outcome is judged (a slow reply, a failure, a recovery) when it
        arrives, and handed to ``late`` (the reply, or a ``Down``) when the caller
        stopped waiting first. No Task per step: a callback on the pipe's future."""
        if self._down and time.monotonic() < self._down_until:
            raise Down()
        if asyncio.current_task() is None:  # see ``call``
            return await asyncio.ensure_future(
                self.bookkeep(name, keys, args, wait=wait, late=late)
            )
        fut = self._aclients().pipe.submit(SCRIPTS[name], keys, args, keep=True)
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def arrived(done: asyncio.Future[Any]) -> None:
            outcome = self._judge(done)
            if waiter.done():
                late(outcome)
            else:
                waiter.set_result(outcome)

        fut.add_done_callback(arrived)
        try:
            outcome = await bounded(waiter, wait)
        except (TimeoutError, asyncio.TimeoutError):
            return PENDING
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _judge(self, done: asyncio.Future[Any]) -> Any:
        """The outcome of a finished pipe future, counted like ``call`` counts a step:
        the reply, the script's own error, or a ``Down`` (Redis unavailable)."""
        exc = done.exception()
        if exc is None:
            self.counts["ops"] += 1
            self._in_row = 0
            if self._down:
                self._mark_up()
            return done.result()
        if isinstance(exc, self._errors):
            self.mark_down(exc)
            down = Down()
            down.__cause__ = exc
            return down
        return exc

    async def command(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """One command on this loop's client (bounded like a script)."""
        return await self.call(lambda c: fn(c.client))

    async def call(
        self,
        fn: Callable[[_Clients], Awaitable[T]],
        *,
        cap: float | None = None,
        piped: bool = False,
    ) -> T:
        """One step, bounded in time; raises ``Down`` when Redis does not answer in time.

        While Redis is down, steps fail at once until ``retry_interval`` has passed.
        ``cap``: the caller's share of time for this step (its wait, or what is left of
        its attempt); a step with no answer within it fails like any unanswered step
        (StoreUnavailable, or the local fallback), so a hung Redis never looks like a
        busy limit. A wait of at least ``_SLOW_S`` without an answer counts as a slow
        reply (two in a row: Redis is down); a shorter one fails only its own step.
        """
        if self._down and time.monotonic() < self._down_until:
            raise Down()
        if asyncio.current_task() is None:
            # A sync caller drives its call's first step by hand (toolsafe._sync), but
            # timeouts, here and inside redis-py, need a Task: continue in one.
            return await asyncio.ensure_future(self.call(fn, cap=cap, piped=piped))
        capped = False
        budget = STEP_BUDGET.get()
        if budget is not None and (cap is None or budget < cap):
            cap = budget
        try:
            clients = self._aclients()
            bound = self._step_bound(clients, piped)
            if cap is not None and cap < bound:
                bound, capped = max(cap, _MIN_STEP), True
            result = await bounded(fn(clients), bound)
        except self._errors as exc:
            if capped and bound < _SLOW_S and isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
                self.last_error = exc  # too short a wait to judge Redis by
                raise Down() from exc
            self.mark_down(exc)
            raise Down() from exc
        self.counts["ops"] += 1
        self._in_row = 0
        if self._down:
            self._mark_up()
        return result

    def _step_bound(self, clients: _Clients, piped: bool) -> float:
        """``op_timeout``, plus ``connect_timeout`` when the step may have to open a
        connection (a script: the pipe has none; a command: the pool has no idle one)."""
        if piped:
            return self.op_timeout + (0.0 if clients.pipe.connected else self.connect_timeout)
        pool = clients.client.connection_pool
        idle = getattr(pool, "_available_connections", None)
        if idle:
            return self.op_timeout
        return self.op_timeout + self.connect_timeout

    def mark_down(self, exc: BaseException) -> None:
        """A refused or dropped connection means down; a timeout, only twice in a row
        (one slow reply, say during a fork for a snapshot, fails just its own step)."""
        self.counts["unavailable_errors"] += 1
        self.last_error = exc
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
            self.counts["outages"] += 1
        what = (
            "calls needing a slot, a token or a breaker verdict fail with StoreUnavailable"
            if self.mode == "fail_closed"
            else "limits fall back to this process's memory (not fleet-wide)"
        )
        logger.warning(
            "toolsafe: Redis store at %s unavailable (%s: %s); %s until it answers again",
            redact_url(self.url),
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
        logger.warning("toolsafe: Redis store at %s is available again", redact_url(self.url))
        self._emit("recovered")

    def _emit(self, kind: str, **detail: Any) -> None:
        if self.listeners:
            event = StoreEvent(
                "",
                "",
                time.monotonic(),
                kind,
                self.mode,
                {"url": redact_url(self.url), **detail},
            )
            ev.emit(self.listeners, event)

    async def aclose_loop(self) -> None:
        """Close the running loop's client only (the next step reconnects)."""
        with self._lock:
            mine = self._clients.pop(asyncio.get_running_loop(), None)
        if mine is not None:
            await mine.aclose()

    def close(self) -> None:
        """Close every client: on its own loop when that loop is alive."""
        with self._lock:
            items = list(self._clients.items())
            self._clients = weakref.WeakKeyDictionary()
            sync, self._sync = self._sync, None
        for loop, clients in items:
            _close_on(loop, clients)
        if sync is not None:
            try:
                sync.close()
                sync.connection_pool.disconnect()
            except Exception:
                pass


def _close_on(loop: asyncio.AbstractEventLoop, clients: _Clients) -> None:
    if loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    closing = clients.aclose()
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
