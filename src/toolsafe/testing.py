"""Test switches for users' own test suites: no waiting, no retries.

A suite that exercises tools wrapped with ``retry=``, ``rate=`` or backoff should
not sleep. One call turns the waits off for the whole process::

    import toolsafe.testing

    toolsafe.testing.set_testing(True)            # e.g. in conftest.py

or for one block (the previous setting comes back afterwards)::

    with toolsafe.testing.set_testing(True, attempts=2):
        ...

While on: backoff sleeps between retries are zero, a retried call makes at most
``attempts`` attempts (1 by default: retries off), and rate-limit waits are
skipped (the token is still counted, the call just does not sleep for it).
Breakers, concurrency limits, timeouts and deadlines behave as usual: they are
correctness, not waiting.
"""

from __future__ import annotations

import threading
from types import TracebackType

__all__ = ["is_testing", "set_testing", "testing_attempts"]


class _State:
    __slots__ = ("active", "attempts")

    def __init__(self) -> None:
        self.active = False
        self.attempts = 1


#: Read on every retry and rate-limit wait (a plain attribute read: free when off).
STATE = _State()
_lock = threading.Lock()


class _Restore:
    """Returned by ``set_testing``; as a context manager it restores the previous setting."""

    def __init__(self, previous: tuple[bool, int]) -> None:
        self._previous = previous

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with _lock:
            STATE.active, STATE.attempts = self._previous


def set_testing(on: bool = True, *, attempts: int = 1) -> _Restore:
    """Turn testing mode on or off for the whole process.

    ``attempts``: the most attempts a retried call makes while on (1: no retries).
    Usable as a plain call or as a context manager.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    with _lock:
        previous = (STATE.active, STATE.attempts)
        STATE.active = bool(on)
        STATE.attempts = attempts
    return _Restore(previous)


def is_testing() -> bool:
    """Whether testing mode is on."""
    return STATE.active


def testing_attempts() -> int | None:
    """The attempt cap while testing mode is on, else None."""
    return STATE.attempts if STATE.active else None
