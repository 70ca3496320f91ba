"""Sync entry points over the async core.

From a thread with no running loop, a call runs on an event loop that thread
holds: no thread hop beyond the tool's own. From inside a running loop (a sync
callback in async code), it runs on a private background loop thread so it never
deadlocks the caller's loop.

**Loops are bounded.** A thread takes a loop on its first call and keeps it while
it lives; when the thread ends, its loop goes back to a small free list for the
next new thread (an agent framework that starts a thread per step reuses a
handful of loops instead of making one per thread, each holding three file
descriptors and, with a Redis store, its own connection). Loops beyond the free
list are closed, after ``before_close`` (the store's ``aclose_loop``) ran on them.
``close()`` closes every loop that is not running; a thread that calls again
after that gets a fresh loop.

Eager mode (``run(..., eager=True)``, used for sync tools): the coroutine's first
step is driven by hand in the caller's thread, with this thread's loop set as the
running loop but not running. Until the coroutine first suspends, ``sync_driven()``
is true, and the thread backend may then block the caller's thread on the worker
directly instead of bouncing through the event loop, which halves the cost of a
sync call. If anything suspends (a backoff sleep, a wait for a slot), the rest runs
on the loop as usual (``resume``). Code on the call path must therefore not need a
current Task before its first suspension (``asyncio.timeout`` does;
``loop.call_later`` and futures do not). (A sync tool with an express lane skips
even this: ``Runtime.call`` runs the lane in the caller's thread and comes here
only for what the lane hands to the chain.)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import types
import weakref
from asyncio.events import _set_running_loop
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

__all__ = ["FREE_LOOPS", "SyncBridge", "resume", "sync_driven"]

T = TypeVar("T")

#: Loops kept for reuse by new threads once the threads holding them ended.
FREE_LOOPS = 8

_eager = threading.local()


def sync_driven() -> bool:
    """True while a sync caller's thread is driving a call by hand (see module doc)."""
    return getattr(_eager, "active", False)


@types.coroutine
def resume(coro: Any, yielded: Any) -> Generator[Any, Any, Any]:
    """Go on awaiting ``coro`` after its first step was taken by hand.

    The Task resumes us exactly as it would resume ``coro``: values and thrown
    exceptions (cancellation) are forwarded until ``coro`` returns.
    """
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as stop:
                return stop.value


class _Held:
    """A thread's hold on a loop; freed with the thread's locals when the thread ends."""

    __slots__ = ("__weakref__", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop


class SyncBridge:
    def __init__(self, *, before_close: Callable[[], Awaitable[None]] | None = None) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        #: Loops some live thread holds, and loops free for the next new thread.
        self._held: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._free: list[asyncio.AbstractEventLoop] = []
        self._before_close = before_close
        self._background: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def run(self, make: Callable[[], Awaitable[T]], *, eager: bool = False) -> T:
        try:
            asyncio.get_running_loop()
            in_loop = True
        except RuntimeError:
            in_loop = False
        if not in_loop:
            loop = self._thread_loop()
            if eager:
                return self._run_eager(loop, make)
            result: T = loop.run_until_complete(make())  # type: ignore[arg-type]
            return result
        future = asyncio.run_coroutine_threadsafe(_as_coro(make), self._background_loop())
        value: T = future.result()
        return value

    def _run_eager(self, loop: asyncio.AbstractEventLoop, make: Callable[[], Awaitable[T]]) -> T:
        coro: Any = make()
        _set_running_loop(loop)
        _eager.active = True
        try:
            first = coro.send(None)
        except StopIteration as stop:
            value: T = stop.value
            return value
        finally:
            _eager.active = False
            _set_running_loop(None)
        rest: T = loop.run_until_complete(resume(coro, first))
        return rest

    # ------------------------------------------------------------------ loops

    def _thread_loop(self) -> asyncio.AbstractEventLoop:
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None and not held.loop.is_closed():
            return held.loop
        with self._lock:
            loop = None
            while self._free and (loop is None or loop.is_closed()):
                loop = self._free.pop()
            if loop is None or loop.is_closed():
                loop = asyncio.new_event_loop()
            self._held.add(loop)
        held = _Held(loop)
        weakref.finalize(held, self._release, loop).atexit = False
        self._local.held = held
        return loop

    def _release(self, loop: asyncio.AbstractEventLoop) -> None:
        """The thread holding ``loop`` ended (or dropped it): keep it for reuse or close it."""
        with self._lock:
            self._held.discard(loop)
            keep = not self._closed and len(self._free) < FREE_LOOPS and not loop.is_closed()
            if keep:
                self._free.append(loop)
        if not keep:
            self._close_loop(loop)

    def _close_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop.is_closed() or loop.is_running():
            return
        with contextlib.suppress(Exception):
            if self._before_close is not None:
                loop.run_until_complete(_call(self._before_close))
            loop.run_until_complete(loop.shutdown_asyncgens())
        with contextlib.suppress(Exception):
            loop.close()

    def loops(self) -> int:
        """Open loops this bridge made (held by live threads or free): for tests and stats."""
        with self._lock:
            return sum(1 for loop in [*self._held, *self._free] if not loop.is_closed())

    def _background_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._background is None or self._background.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=_serve, args=(loop,), name="toolsafe-sync-bridge", daemon=True
                ).start()
                self._background = loop
            return self._background

    def close(self) -> None:
        """Close the loops no thread is running; the background loop stops once its
        calls in flight have ended (closing the backend first makes queued ones end)."""
        with self._lock:
            self._closed = True
            loops = [*self._free, *self._held]
            self._free = []
            background, self._background = self._background, None
        for loop in loops:
            self._close_loop(loop)
        if background is not None:
            with contextlib.suppress(RuntimeError):  # already closed
                asyncio.run_coroutine_threadsafe(_stop_when_idle(), background)


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """The background loop's thread: run until stopped, then close the loop."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _stop_when_idle() -> None:
    me = asyncio.current_task()
    while True:
        others = [t for t in asyncio.all_tasks() if t is not me]
        if not others:
            break
        await asyncio.wait(others)
    asyncio.get_running_loop().stop()


async def _call(fn: Callable[[], Awaitable[None]]) -> None:
    await fn()


async def _as_coro(make: Callable[[], Awaitable[Any]]) -> Any:
    return await make()
