"""A first-come-first-served queue of waiters that may sit on *different* event loops.

The sync API runs a loop per thread, so an ``asyncio.Semaphore`` (bound to one
loop) cannot guard state that every thread shares. Here the owner guards its
state with a ``threading.Lock``; a waiter parks on a future of its own loop, and
whoever frees a resource hands it *directly* to the first live waiter, waking it
on its own loop (``call_soon_threadsafe`` when that is another thread's loop).

Hand-off, time-out and cancellation race safely: the waiter's ``state`` is only
changed under the owner's lock, so a resource handed to a waiter that has just
timed out is still taken (the hand-off won), and one handed to a waiter that was
cancelled is given back by the waiter itself.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["WaitQueue", "Waiter"]

_WAITING, _GRANTED, _GONE = 0, 1, 2


class Waiter:
    """One parked caller. ``data`` is the caller's own (e.g. the lease length it wants)."""

    __slots__ = ("data", "fut", "loop", "state", "value")

    def __init__(self, loop: asyncio.AbstractEventLoop, data: Any) -> None:
        self.loop = loop
        self.fut: asyncio.Future[None] = loop.create_future()
        self.state = _WAITING
        self.value: Any = None
        self.data = data


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class WaitQueue:
    """FIFO of waiters. Every method but ``wait`` must be called with the owner's lock held."""

    __slots__ = ("_gone", "q")

    def __init__(self) -> None:
        #: Waiting (and some departed) waiters: empty means nobody waits.
        self.q: deque[Waiter] = deque()
        self._gone = 0

    def __len__(self) -> int:
        return len(self.q) - self._gone

    def push(self, data: Any = None) -> Waiter:
        """Park a waiter on the running loop (lock held)."""
        waiter = Waiter(asyncio.get_running_loop(), data)
        self.q.append(waiter)
        return waiter

    def pop_live(self) -> Waiter | None:
        """Remove and return the first waiter still waiting (lock held)."""
        q = self.q
        while q:
            waiter = q.popleft()
            if waiter.state == _WAITING:
                return waiter
            self._gone -= 1
        return None

    @staticmethod
    def grant(waiter: Waiter, value: Any) -> bool:
        """Hand ``value`` to a waiter from ``pop_live`` and wake it (lock held).

        False when its loop is closed: the waiter is gone and ``value`` is still yours.
        """
        waiter.value = value
        waiter.state = _GRANTED
        try:
            if asyncio._get_running_loop() is waiter.loop:
                _wake(waiter.fut)
            else:
                waiter.loop.call_soon_threadsafe(_wake, waiter.fut)
        except RuntimeError:  # the waiter's loop was closed under it
            waiter.state = _GONE
            waiter.value = None
            return False
        return True

    async def wait(
        self,
        waiter: Waiter,
        timeout: float | None,
        lock: threading.Lock,
        give_back: Callable[[Any], None],
        *,
        recheck_in: float | None = None,
        recheck: Callable[[], None] | None = None,
    ) -> tuple[bool, Any]:
        """Park until granted or ``timeout`` seconds pass: ``(True, value)`` or ``(False, None)``.

        ``recheck`` runs once after ``recheck_in`` seconds (to notice expired leases
        that nobody released). If the caller is cancelled after a grant, the value
        goes back through ``give_back``.
        """
        loop = waiter.loop
        timer = loop.call_later(timeout, _wake, waiter.fut) if timeout is not None else None
        again = (
            loop.call_later(max(0.0, recheck_in), recheck)
            if recheck is not None and recheck_in is not None
            else None
        )
        try:
            await waiter.fut
        except asyncio.CancelledError:
            with lock:
                granted = waiter.state == _GRANTED
                if not granted:
                    self._leave(waiter)
            if granted:
                give_back(waiter.value)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            if again is not None:
                again.cancel()
        with lock:
            if waiter.state == _GRANTED:
                return True, waiter.value
            self._leave(waiter)
            return False, None

    def _leave(self, waiter: Waiter) -> None:
        if waiter.state != _WAITING:
            return
        waiter.state = _GONE
        self._gone += 1
        if self._gone > 32 and self._gone * 2 > len(self.q):
            self.q = deque(w for w in self.q if w.state == _WAITING)
            self._gone = 0
