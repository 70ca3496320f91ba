"""Sync entry points over the async core.

From a thread with no running loop, a call runs on that thread's own event loop
(created once, reused): no thread hop beyond the tool's own. From inside a running
loop (a sync callback in async code), it runs on a private background loop thread
so it never deadlocks the caller's loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["SyncBridge"]

T = TypeVar("T")


class SyncBridge:
    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._background: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        try:
            asyncio.get_running_loop()
            in_loop = True
        except RuntimeError:
            in_loop = False
        if not in_loop:
            result: T = self._thread_loop().run_until_complete(make())  # type: ignore[arg-type]
            return result
        future = asyncio.run_coroutine_threadsafe(_as_coro(make), self._background_loop())
        value: T = future.result()
        return value

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


async def _as_coro(make: Callable[[], Awaitable[Any]]) -> Any:
    return await make()
