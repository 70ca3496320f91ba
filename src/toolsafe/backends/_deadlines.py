"""Shared deadline timers: one loop timer per few milliseconds of deadlines, not one per call.

Ten thousand async calls in flight each armed a ``call_later`` for their timeout:
10,000 timer handles on the loop's heap (pushes, cancels, the heap's compaction)
and two more GC-tracked objects per call. Here an attempt joins the *slot* of
deadlines that end in the same ``RESOLUTION``-long window; the slot holds one loop
timer at the window's end. A call that finishes leaves its slot (no heap work);
a slot every call has left cancels its timer and is dropped, so finished calls
are not kept until a long timeout (30 s) passes. A timeout fires at its deadline
rounded up to the window (never early, at most ``RESOLUTION`` late); timeouts
shorter than ``PRECISE_BELOW`` keep a timer of their own (their lateness would be
a noticeable share of them).

One ``Deadlines`` per event loop, touched only from that loop's thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import weakref
from typing import Any

__all__ = ["PRECISE_BELOW", "RESOLUTION", "Expiry", "arm"]

#: Width of a slot's window, seconds.
RESOLUTION = 0.004
#: Timeouts shorter than this get a timer handle of their own.
PRECISE_BELOW = 0.25

#: The timer callbacks read no context variables: one shared empty Context saves
#: the copy ``call_at`` would make.
_NO_CONTEXT = contextvars.Context()


class Expiry:
    """One attempt's timeout: fires once, cancels the task, remembers it did."""

    __slots__ = ("fired", "slot", "task")

    def __init__(self, task: asyncio.Task[Any] | None, slot: Any) -> None:
        self.task = task
        self.fired = False
        self.slot = slot  # a _Slot, or a TimerHandle of its own

    def when(self) -> float:
        """The loop time at which it fires (fired)."""
        slot = self.slot
        return slot.key * RESOLUTION if type(slot) is _Slot else float(slot.when())

    def disarm(self) -> None:
        """The attempt ended: this expiry will not fire."""
        slot = self.slot
        self.task = None
        if type(slot) is _Slot:
            slot.leave()
        else:
            slot.cancel()


def _fire(expiry: Expiry) -> None:
    task = expiry.task
    if task is not None:
        expiry.fired = True
        task.cancel()


class _Slot:
    __slots__ = ("expiries", "handle", "key", "live", "owner")

    def __init__(self, owner: Deadlines, key: int) -> None:
        self.owner = owner
        self.key = key
        self.live = 0
        self.expiries: list[Expiry] = []
        self.handle: asyncio.TimerHandle | None = None

    def leave(self) -> None:
        self.live -= 1
        if self.live == 0 and self.handle is not None:  # everyone left before it fired
            self.handle.cancel()
            self.handle = None
            self.expiries.clear()
            self.owner.slots.pop(self.key, None)


def _due(slot: _Slot) -> None:
    slot.handle = None
    slot.owner.slots.pop(slot.key, None)
    expiries, slot.expiries = slot.expiries, []
    for expiry in expiries:
        _fire(expiry)


class Deadlines:
    """The slots of one loop, by window number."""

    __slots__ = ("__weakref__", "loop", "slots")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.slots: dict[int, _Slot] = {}


_of_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = (
    weakref.WeakKeyDictionary()
)


def arm(task: asyncio.Task[Any], timeout: float) -> Expiry:
    """Cancel ``task`` when ``timeout`` seconds from now have passed (``Expiry.fired``
    then says so), unless ``Expiry.disarm`` is called first."""
    loop = task.get_loop()
    if timeout < PRECISE_BELOW:
        expiry = Expiry(task, None)
        expiry.slot = loop.call_later(timeout, _fire, expiry, context=_NO_CONTEXT)
        return expiry
    owner = _of_loop.get(loop)
    if owner is None:
        owner = _of_loop[loop] = Deadlines(loop)
    key = math.ceil((loop.time() + timeout) / RESOLUTION)
    slot = owner.slots.get(key)
    if slot is None:
        slot = owner.slots[key] = _Slot(owner, key)
        slot.handle = loop.call_at(key * RESOLUTION, _due, slot, context=_NO_CONTEXT)
    slot.live += 1
    expiry = Expiry(task, slot)
    slot.expiries.append(expiry)
    return expiry
