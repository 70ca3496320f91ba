"""Sync entry points over the async core.

From a thread with no running loop, a call runs on that thread's own event loop
(created once, reused): no thread hop beyond the tool's own. From inside a running
loop (a sync callback in async code), it runs on a private background loop thread
so it never deadlocks the caller's loop.

Eager mode (``run(..., eager=True)``, used for sync tools): the coroutine's first
step is driven by hand in the caller's thread, with this thread's loop set as the
running loop but not running. Until the coroutine first suspends, ``sync_driven()``
is true, and the thread backend may then block the caller's thread on the worker
directly instead of bouncing through the event loop, which halves the cost of a
sync call. If anything suspends (a backoff sleep, a wait for a slot), the rest runs
on the loop as usual. Code on the call path must therefore not need a current
Task before its first suspension (``asyncio.timeout`` does; ``loop.call_later`` and
futures do not).
"""

from __future__ import annotations

import asyncio
import threading
from asyncio.events import _set_running_loop
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["SyncBridge", "sync_driven"]

T = TypeVar("T")

_eager = threading.local()


def sync_driven() -> bool:
    """True while a sync caller's thread is driving a call by hand (see module doc)."""
    return getattr(_eager, "active", False)


class SyncBridge:
    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._background: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

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
        rest: T = loop.run_until_complete(_finish(coro, first))
        return rest

    def _thread_loop(self) -> asyncio.AbstractEventLoop:
        loop: asyncio.AbstractEventLoop | None = getattr(self._local, "loop", None)
        if loop is None or loop.is_closed():
            loop = asyncio.new_event_loop()
            self._local.loop = loop
            with self._lock:
                self._loops.append(loop)
        return loop

    def _background_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._background is None or self._background.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="toolsafe-sync-bridge", daemon=True
                )
                thread.start()
                self._background, self._thread = loop, thread
            return self._background

    def close(self) -> None:
        with self._lock:
            loops, self._loops = self._loops, []
            background, self._background = self._background, None
        for loop in loops:
            if not loop.is_running() and not loop.is_closed():
                loop.close()
        if background is not None:
            background.call_soon_threadsafe(background.stop)


async def _finish(coro: Any, first: Any) -> Any:
    from toolsafe.backends.thread import resume

    return await resume(coro, first)


async def _as_coro(make: Callable[[], Awaitable[Any]]) -> Any:
    return await make()
