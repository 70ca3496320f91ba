"""The default backend: async tools on the caller's loop, sync tools on a bounded thread pool.

Sync tools are usually I/O-bound (HTTP, databases), so the pool is sized for I/O
(256 threads by default), not for CPUs. A sync tool that ignores its timeout
cannot be killed: its call returns a TimeoutError at once, its thread is counted
as stuck and replaced up to a cap (see ``WorkerPool``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from toolsafe._pipeline import LINGERING
from toolsafe._sync import resume, sync_driven
from toolsafe.backends._base import (
    AttemptTimeout,
    EscapedBaseException,
    NotStartedTimeout,
    RuntimeClosed,
    check_time_left,
)
from toolsafe.backends._deadlines import arm
from toolsafe.backends._drain import (
    DRAIN_OPTIONS,
    deadline_in,
    drain_returned,
    draining,
    is_lazy,
)
from toolsafe.backends._pool import DEFAULT_SYNC_WORKERS, PoolClosed, WorkerPool, WorkItem

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool, ToolOptions

__all__ = [
    "DEFAULT_SYNC_WORKERS",
    "NotStartedTimeout",
    "ThreadBackend",
    "resume_with_timeout",
    "run_async_with_timeout",
    "share_of",
]


def share_of(tool: Tool) -> int | None:
    """A tool's own share of the sync workers: ``@tool(sync_share=n)`` (formerly
    ``extra={"sync_share": n}``, still read)."""
    value = tool.options.sync_share
    if value is None and tool.options.extra:
        value = tool.options.extra.get("sync_share")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _transfer(fut: asyncio.Future[Any], item: WorkItem) -> None:
    if fut.done():
        return
    if item.error is not None:
        error = item.error
        fut.set_exception(error if isinstance(error, Exception) else EscapedBaseException(error))
    else:
        fut.set_result(item.value)


def _value_of(item: WorkItem, tool_name: str) -> Any:
    """A finished (or cancelled) item's value, or the error to raise for it."""
    error = item.error
    if error is None:
        return item.value
    if isinstance(error, PoolClosed) and not item.started:
        raise _closed(tool_name)
    raise error if isinstance(error, Exception) else EscapedBaseException(error)


def _closed(tool_name: str) -> RuntimeClosed:
    return RuntimeClosed(tool_name, "its runtime was closed while the call waited for a worker")


def _expire(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


def _fmt(seconds: float) -> str:
    return f"{seconds:.3g}s"


def _timed_out(tool_name: str, timeout: float) -> AttemptTimeout:
    return AttemptTimeout(
        f"tool '{tool_name}' did not finish within {_fmt(timeout)} and was cancelled"
    )


def run_async_with_timeout(
    coro: Any, timeout: float | None, tool_name: str, options: ToolOptions | None = None
) -> Awaitable[Any]:
    """Await the tool coroutine ``coro`` on this loop, cancelling it at ``timeout``.

    The first step runs eagerly, here (what it raises is raised here): a tool that
    finishes without suspending (a cache hit, a pure computation) never arms a
    timer, which is most of the per-call cost of a timeout. A tool that waits joins
    its loop's shared deadline timers (``_deadlines``: lighter than a timer handle
    per call, let alone ``asyncio.timeout``, with thousands of calls in flight).

    ``options``: the tool's; an iterator it returns is then consumed within the
    timeout and its output budget (``_drain.drain_returned``).
    """
    if timeout is not None and timeout <= 0:
        coro.close()
        check_time_left(timeout, tool_name)  # raises NotStartedTimeout
    try:
        first = coro.send(None)
    except StopIteration as stop:
        value = stop.value
        if options is not None and is_lazy(value):
            value = drain_returned(value, options, deadline_in(timeout))
        return _value(value)
    return resume_with_timeout(coro, first, timeout, tool_name, options)


async def _value(value: Any) -> Any:
    return value


async def resume_with_timeout(
    coro: Any, first: Any, timeout: float | None, tool_name: str, options: ToolOptions | None = None
) -> Any:
    """Go on awaiting ``coro``, whose first step was taken by hand and yielded ``first``,
    cancelling it at ``timeout`` (seconds from now; None: no limit); a returned
    iterator consumed within what is left of it (``options``: the tool's)."""
    if timeout is None:
        value = await resume(coro, first)
        if options is not None and is_lazy(value):
            value = drain_returned(value, options, None)
        return value
    task = asyncio.current_task()
    if task is None or sys.version_info < (3, 11):  # pragma: no cover - no Task, or 3.10
        deadline = deadline_in(timeout)
        try:
            value = await asyncio.wait_for(resume(coro, first), timeout)
        except asyncio.TimeoutError:
            raise _timed_out(tool_name, timeout) from None
        if options is not None and is_lazy(value):
            value = drain_returned(value, options, deadline)
        return value
    already = task.cancelling()
    expiry = arm(task, timeout)  # a slot of the loop's shared deadline timers
    try:
        value = await resume(coro, first)
    except asyncio.CancelledError:
        if expiry.fired and task.uncancel() <= already:
            raise _timed_out(tool_name, timeout) from None
        raise
    finally:
        expiry.disarm()
    if expiry.fired:  # the tool swallowed our cancellation and returned anyway
        task.uncancel()
    if options is not None and is_lazy(value):
        value = drain_returned(value, options, expiry.when())  # loop time is monotonic
    return value


class ThreadBackend:
    """Async tools run on the calling loop; sync tools on a shared ``WorkerPool``."""

    name = "thread"

    def __init__(
        self,
        max_workers: int = DEFAULT_SYNC_WORKERS,
        *,
        share: int | None = None,
        max_abandoned: int | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.pool = WorkerPool(
            max_workers, share=share, max_abandoned=max_abandoned, on_event=on_event
        )

    def check(self, tool: Tool) -> list[str]:
        return []

    def run(
        self,
        tool: Tool,
        arguments: dict[str, Any],
        ctx: CallContext,
        *,
        timeout: float | None,
        key: str,
    ) -> Awaitable[Any]:
        # A plain function handing back the awaitable: one coroutine frame fewer per
        # call, which thousands of calls in flight feel (less for the GC to walk).
        bound = tool.bind(arguments, ctx)
        # The output budget that bounds a returned iterator: the tool's, or the runtime's.
        options = ctx.state.get(DRAIN_OPTIONS) or tool.options
        if tool.is_async:
            return run_async_with_timeout(bound(), timeout, tool.name, options)
        return self.run_sync(
            draining(bound, options, timeout),  # a returned iterator: see _drain.py
            timeout=timeout,
            key=key,
            tool_name=tool.name,
            share=share_of(tool),
            ctx=ctx,
        )

    async def run_sync(
        self,
        fn: Callable[[], Any],
        *,
        timeout: float | None,
        key: str,
        tool_name: str,
        share: int | None = None,
        ctx: CallContext | None = None,
        state: dict[str, Any] | None = None,
    ) -> Any:
        """Run ``fn`` on a worker, awaited on this loop at most ``timeout``; a body that
        runs on leaves ``state[LINGERING]`` (``ctx.state`` when a ctx is given)."""
        check_time_left(timeout, tool_name)
        if ctx is not None:
            state = ctx.state
        if sync_driven():
            return self.call_blocking(
                fn, timeout=timeout, key=key, tool_name=tool_name, share=share, state=state
            )
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()

        def done(item: WorkItem) -> None:
            try:
                loop.call_soon_threadsafe(_transfer, fut, item)
            except RuntimeError:  # the caller's loop is closed: nobody waits for this
                pass

        item = self._submit(fn, done, key=key, share=share, tool_name=tool_name)
        handle = None
        if timeout is not None:
            handle = loop.call_later(timeout, _expire, fut, AttemptTimeout())
        try:
            return await fut
        except AttemptTimeout:
            if item.finished:  # the result came first; only its transfer was late (a busy loop)
                return _value_of(item, tool_name)
            raise self._timeout_error(item, timeout or 0.0, tool_name, key, state) from None
        except PoolClosed:
            if item.started:  # the tool's own exception of that name
                raise
            raise _closed(tool_name) from None
        except BaseException:  # cancelled, interrupted, or closed: the body may run on
            self._linger(item, state)
            raise
        finally:
            if handle is not None:
                handle.cancel()

    def _submit(
        self, fn: Callable[[], Any], done: Any, *, key: str, share: int | None, tool_name: str
    ) -> WorkItem:
        try:
            return self.pool.submit(fn, done, key=key, share=share)
        except PoolClosed:
            raise RuntimeClosed(tool_name) from None

    def call_blocking(
        self,
        fn: Callable[[], Any],
        *,
        timeout: float | None,
        key: str,
        tool_name: str,
        share: int | None,
        state: dict[str, Any] | None = None,
    ) -> Any:
        """Run ``fn`` on a worker and wait for it in this thread, at most ``timeout``.

        For a sync caller (``toolsafe._sync``'s eager mode, the sync express lane):
        no event loop between the two threads, only a raw lock the worker releases.
        Returns the body's value or raises what it raised (``AttemptTimeout`` at the
        timeout, ``NotStartedTimeout`` when it never started). A body that runs on (a
        timeout, Ctrl-C in the caller) leaves ``state[LINGERING]``: what holds
        resources for it (a concurrency slot) frees them when it really returns.
        """
        done = threading.Lock()
        done.acquire()
        item = self._submit(fn, lambda _: done.release(), key=key, share=share, tool_name=tool_name)
        try:
            arrived = done.acquire(timeout=-1 if timeout is None else timeout)
        except BaseException:  # Ctrl-C in the caller's thread: the body runs on
            self._linger(item, state)
            raise
        if not arrived and not item.finished:
            raise self._timeout_error(item, timeout or 0.0, tool_name, key, state)
        return _value_of(item, tool_name)

    def _linger(self, item: WorkItem, state: dict[str, Any] | None) -> None:
        """The caller stops waiting for ``item``: a body still running keeps what the
        pipeline holds for it (a concurrency slot) until it really returns."""
        if self.pool.abandon(item) and state is not None:
            state[LINGERING] = functools.partial(self.pool.when_done, item)

    def _timeout_error(
        self,
        item: WorkItem,
        timeout: float,
        tool_name: str,
        key: str,
        state: dict[str, Any] | None = None,
    ) -> AttemptTimeout:
        started = item.started
        stuck = self.pool.abandon(item)
        if started or stuck:
            if state is not None:  # the body runs on: slots held for it wait for its return
                state[LINGERING] = functools.partial(self.pool.when_done, item)
            return AttemptTimeout(
                f"tool '{tool_name}' did not finish within {_fmt(timeout)}; "
                "its worker thread was abandoned (sync code cannot be interrupted)"
            )
        stats = self.pool.stats()
        why = (
            f"{stats.stuck_by_key.get(key, 0)} of this tool's threads are stuck in calls "
            f"that ignored their timeout, {stats.stuck} in all"
            if stats.stuck
            else f"all {stats.busy} workers were busy"
        )
        return NotStartedTimeout(
            f"tool '{tool_name}' waited {_fmt(timeout)} for a worker thread and never started: {why}"
        )

    def stats(self) -> dict[str, Any]:
        """The sync pool's counters: threads, busy, queued, stuck, abandoned, replaced."""
        return {"pool": dataclasses.asdict(self.pool.stats())}

    def close(self) -> None:
        self.pool.shutdown()
