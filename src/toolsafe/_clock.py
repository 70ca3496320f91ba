"""Time as a dependency: policies read ``now()`` and ``await sleep()`` from a Clock.

Inject a ``FakeClock`` in tests so backoff and breaker tests run in microseconds.
Attempt timeouts use the event loop's own timers (real time) because they must
interrupt real work.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """``time.monotonic`` and ``asyncio.sleep``."""

    __slots__ = ()

    #: The C function itself: every call reads the clock several times, and a method
    #: wrapping it would add a Python frame each time.
    now = staticmethod(time.monotonic)

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)


class FakeClock:
    """A clock that only moves when told to, or when something sleeps on it.

    ``sleep`` advances time at once and records the duration in ``sleeps``, so a
    test of exponential backoff sees the exact waits without waiting.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds > 0:
            self._now += seconds
        await asyncio.sleep(0)
