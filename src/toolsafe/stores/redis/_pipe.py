"""Auto-pipelining of the Redis store's scripts: the scripts that one event loop's callers
issue in the same loop iteration go to Redis as one pipeline, one write on one
connection, and the replies are read back in order and handed to each caller.

Why: with many concurrent callers, redis-py's per-command path (pool checkout and
release, packing some 20 arguments, one socket write and one read per command) was
most of a guarded call's client CPU. Here a batch costs one write and one read
however many callers it carries, and a command is packed from memoised pieces
(``pack``): its keys and constant arguments are packed once, only changing ones
(a lease id, a wait) per call. Commands are packed by hand, not by redis-py's
``pack_command``, because that packs every argument afresh each call; the bytes
are the same RESP (UTF-8 bulk strings). The memo holds 4,096 packed strings
(least recently used go first): keys that change every call, such as idempotency
record keys, only cycle through it.

The pipelining rule (also in the package docstring):

- A batch runs on a connection of the pipe's own (at most ``_IN_FLIGHT`` batches in
  flight per loop; the others wait and go as one batch), bounded as a whole by
  ``op_timeout`` (plus ``connect_timeout`` when it must connect): a batch that gets
  no full answer in time drops its connection and fails its remaining commands, so
  a hung Redis never holds a connection longer than that.
- Each caller still waits only its own share (``Link.call``); when it stops waiting
  (cancelled, or out of time) its command may already be on its way and may still
  run on the server. A command whose caller stopped waiting before it was written
  is dropped (it never runs), unless it is bookkeeping (``keep``: releases,
  breaker records), which is sent anyway.
- ``orphan``: a command's effect that would otherwise be lost is handed to it, once:
  the reply of a sent command whose caller stopped waiting, or the error of a sent
  command that got no reply (it may or may not have run). The store's ``admit``
  gives back the leases such a reply shows granted (or, with no reply, every lease
  it asked for), after the reply, so the release cannot overtake the grant on the
  server; a lease whose release fails expires by its lease time. Never forever.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

__all__ = ["Orphan", "Pipe", "bounded", "pack"]

T = TypeVar("T")

#: Batches in flight at once per event loop (each on its own connection).
_IN_FLIGHT = 4

#: Told what became of a command whose caller stopped waiting: its reply, or the
#: exception of a sent command that got none.
Orphan = Callable[[Any], None]


if sys.version_info >= (3, 11):

    async def bounded(aw: Awaitable[T], seconds: float) -> T:
        async with asyncio.timeout(seconds):
            return await aw

else:  # pragma: no cover - Python 3.10

    async def bounded(aw: Awaitable[T], seconds: float) -> T:
        return await asyncio.wait_for(aw, seconds)


def script_sha(body: str) -> str:
    return hashlib.sha1(body.encode("utf-8")).hexdigest()


@lru_cache(maxsize=4096)
def _const(arg: str) -> bytes:
    """A bulk string packed once: keys, script names, limits, a breaker's settings."""
    return _bulk(arg)


def _bulk(arg: str) -> bytes:
    data = arg.encode("utf-8")
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _fresh(arg: Any) -> bytes:
    if type(arg) is str:
        return _const(arg)
    data = arg if isinstance(arg, bytes) else str(arg).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def pack(body: str, keys: Sequence[str], args: Sequence[Any]) -> bytes:
    """``EVALSHA`` of ``body`` as RESP. A ``str`` key or argument is packed once and
    memoised (keys, step names, settings: the same every call); ``bytes`` and numbers
    are packed each time (lease ids, owners, waits): pass what changes as ``bytes``."""
    parts = [b"*%d\r\n" % (3 + len(keys) + len(args)), _evalsha_head(body, len(keys))]
    parts += map(_const, keys)
    parts += map(_fresh, args)
    return b"".join(parts)


@lru_cache(maxsize=64)
def _evalsha_head(body: str, numkeys: int) -> bytes:
    return _bulk("EVALSHA") + _bulk(script_sha(body)) + _bulk(str(numkeys))


def _as_eval(packed: bytes, body: str, numkeys: int) -> bytes:
    """The same command as ``EVAL`` with the script's body (which also loads it)."""
    start = packed.index(b"\r\n") + 2
    tail = packed[start + len(_evalsha_head(body, numkeys)) :]
    return packed[:start] + _bulk("EVAL") + _bulk(body) + _bulk(str(numkeys)) + tail


class _Entry:
    __slots__ = ("body", "fut", "keep", "numkeys", "orphan", "packed", "resent")

    def __init__(
        self,
        packed: bytes,
        body: str,
        numkeys: int,
        fut: asyncio.Future[Any],
        orphan: Orphan | None,
        keep: bool,
    ) -> None:
        self.packed = packed
        self.body = body
        self.numkeys = numkeys
        self.fut = fut
        self.orphan = orphan
        self.keep = keep
        self.resent = False


class Pipe:
    """One event loop's pipeline to Redis (see the module docstring for the rule)."""

    def __init__(
        self,
        make_connection: Callable[[], Any],
        *,
        op_timeout: float,
        connect_timeout: float,
        errors: tuple[type[BaseException], ...],
    ) -> None:
        import redis.exceptions as rex

        self._make = make_connection
        self._op_timeout = op_timeout
        self._connect_timeout = connect_timeout
        self._errors = errors
        self._noscript = rex.NoScriptError
        self._response_error = rex.ResponseError
        self._queue: list[_Entry] = []
        self._idle: list[Any] = []
        self._busy = 0
        self._scheduled = False
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()

    @property
    def connected(self) -> bool:
        """A batch would not have to open a connection first."""
        return self._busy > 0 or any(c.is_connected for c in self._idle)

    def submit(
        self,
        body: str,
        keys: Sequence[str],
        args: Sequence[Any],
        *,
        orphan: Orphan | None = None,
        keep: bool = False,
    ) -> asyncio.Future[Any]:
        """Queue the script ``body`` for the next batch; the future gets its reply."""
        fut: asyncio.Future[Any] = self._loop.create_future()
        if self._closed:
            fut.set_exception(ConnectionError("the Redis store's client was closed"))
            return fut
        self._queue.append(_Entry(pack(body, keys, args), body, len(keys), fut, orphan, keep))
        self._schedule()
        return fut

    def _schedule(self) -> None:
        if not self._scheduled and self._queue and self._busy < _IN_FLIGHT:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        queue, self._queue = self._queue, []
        # A caller that stopped waiting before its command left: drop it (it never runs),
        # unless it is bookkeeping that must reach Redis anyway.
        batch = [entry for entry in queue if entry.keep or not entry.fut.done()]
        if not batch:
            return
        conn = self._idle.pop() if self._idle else self._make()
        self._busy += 1
        task = self._loop.create_task(self._run(conn, batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, conn: Any, batch: list[_Entry]) -> None:
        bound = self._op_timeout + (0.0 if conn.is_connected else self._connect_timeout)
        progress = [0]  # commands answered (or resent) so far
        again: list[_Entry] = []
        try:
            await bounded(self._exchange(conn, batch, progress, again), bound)
        except BaseException as exc:
            error: BaseException = exc
            if not isinstance(exc, self._errors):
                error = ConnectionError(f"the pipeline to Redis failed: {type(exc).__name__}")
            for entry in batch[progress[0] :]:
                _deliver(entry, error, failed=True)
            try:  # no later reply could be matched to its command: start afresh
                await conn.disconnect(nowait=True)
            except BaseException:  # pragma: no cover - a socket already gone
                pass
            if not isinstance(exc, Exception):
                raise
        finally:
            self._busy -= 1
            if not self._closed:
                self._idle.append(conn)
                if again:
                    self._queue[:0] = again
                self._schedule()
            else:
                for entry in again:  # NOSCRIPT: it did not run
                    if not entry.fut.done():
                        entry.fut.set_exception(ConnectionError("closed"))

    async def _exchange(
        self,
        conn: Any,
        batch: list[_Entry],
        progress: list[int],
        again: list[_Entry],
    ) -> None:
        """One write, then the replies in order, each handed over as it is read."""
        await conn.send_packed_command(
            b"".join(entry.packed for entry in batch), check_health=False
        )
        for entry in batch:
            outcome: Any
            try:
                outcome = await conn.read_response()
            except self._noscript as exc:
                if not entry.resent:  # the script cache was lost (a restart): send the body
                    entry.packed = _as_eval(entry.packed, entry.body, entry.numkeys)
                    entry.resent = True
                    again.append(entry)
                    progress[0] += 1
                    continue
                outcome = exc
            except self._response_error as exc:
                if isinstance(exc, self._errors):
                    raise  # read-only, loading: Redis is unavailable, not the script wrong
                outcome = exc  # the script's own error; the connection is fine
            progress[0] += 1
            _deliver(entry, outcome, failed=False)

    async def aclose(self) -> None:
        """Fail what is queued, stop the batches in flight, close the connections."""
        self._closed = True
        queue, self._queue = self._queue, []
        for entry in queue:  # never sent: nothing ran, nothing for an orphan
            if not entry.fut.done():
                entry.fut.set_exception(ConnectionError("the Redis store's client was closed"))
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.disconnect(nowait=True)
            except Exception:  # pragma: no cover - a socket already gone
                pass


def _deliver(entry: _Entry, outcome: Any, *, failed: bool) -> None:
    """Hand ``outcome`` to the caller, or to ``orphan`` when the caller stopped waiting;
    ``failed``: the command was sent and got no reply (it may have run), so ``orphan``
    hears of it even when the caller still waits."""
    fut = entry.fut
    if not fut.done():
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)
        if not failed:
            return
    if entry.orphan is not None:
        orphan, entry.orphan = entry.orphan, None
        orphan(outcome)
