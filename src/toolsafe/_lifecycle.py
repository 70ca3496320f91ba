"""The call lifecycle: a call enters, runs its tool's pipeline, and ends in an ``Outcome``.

Every call ends in an ``Outcome``: a result or a ToolError, never an exception
(only cancellation of the caller itself, or a KeyboardInterrupt on the caller's
own thread, propagates). One asyncio implementation; the sync entry points drive
it on a per-thread event loop (``_sync.SyncBridge``).

``CallLifecycle`` is the half of ``Runtime`` that runs calls (the other half
registers tools and owns the backend and store). It is a base class rather than
an object the runtime calls into: every call would pay for one more frame.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

from toolsafe._assembly import Entry
from toolsafe._call import CallContext, Outcome, ToolCall, new_call_id
from toolsafe._clock import Clock
from toolsafe._log import logger
from toolsafe._pipeline import GIVEN_ID, REPLAYED, Result, TextResult, serialize
from toolsafe._registry import Registry
from toolsafe._sync import SyncBridge
from toolsafe._tool import Tool
from toolsafe.backends._base import RuntimeClosed
from toolsafe.errors import InvalidArguments, ToolError, UnknownTool, error_of, format_traceback
from toolsafe.observe import events as ev
from toolsafe.observe._hub import Observability
from toolsafe.observe.redact import Redactor

__all__ = ["CallLifecycle", "CallLike"]

T = TypeVar("T")

CallLike = ToolCall | Mapping[str, Any] | tuple[str, Any]

#: ``loop.create_task(context=...)`` (3.11+) lets a call started eagerly go on in its
#: own context; on 3.10 a batch is a plain ``gather``.
_EAGER = sys.version_info >= (3, 11)
_new_tuple: Any = tuple.__new__


class CallLifecycle:
    """Runs calls: ``acall``/``call`` and their batch twins."""

    clock: Clock
    listeners: list[ev.Listener]
    redactor: Redactor
    max_concurrency: int | None
    serial: bool
    _observe: Observability
    _registry: Registry
    _entries: dict[str, Entry]
    _bridge: SyncBridge
    _closed: bool

    async def acall(
        self,
        name: str,
        arguments: Any = None,
        *,
        call_id: str | None = None,
        key: str | None = None,
        _in_span: bool = False,
        _given_id: bool = False,
        _chain: bool = False,
    ) -> Outcome:
        """Run one call; always returns an Outcome (result or ToolError).

        ``call_id``: the framework's id of this call (a new one is made otherwise).
        ``key``: an idempotency key: calls of this tool with the same key run its body
        at most once (docs/exactly-once.md).
        """
        given_id = _given_id or call_id is not None
        call_id = call_id or new_call_id()
        if not _in_span:
            tracing = self._observe.tracing
            if tracing is not None and tracing.ready(self.listeners):
                found = self._registry.find(name)
                tool_name = name if found is None else found.tool.name
                description = None if found is None else found.tool.description
                inner = self.acall(
                    name, arguments, call_id=call_id, key=key, _in_span=True, _given_id=given_id
                )
                return await tracing.run_call(inner, tool_name, call_id, arguments, description)
        if not _chain and key is None and not self.listeners and not self._closed:
            # Nobody watches the steps: the tool's express lane, when it has one.
            entry = self._entries.get(name)
            express = None if entry is None else entry.express
            if express is not None:
                out = express(name, arguments, call_id)
                if type(out) is Outcome:
                    return out
                return await cast("Awaitable[Outcome]", out)
        # The body is here rather than in a helper: one coroutine frame fewer per call.
        clock = self.clock
        started = clock.now()
        listeners = self.listeners
        entry = self._entries.get(name)
        if entry is None:
            try:
                entry = self._registry.lookup(name)
            except UnknownTool as exc:
                return self._unknown(exc, name, call_id, arguments)
        tool = entry.tool
        if listeners:
            ev.emit(listeners, ev.CallStarted(call_id, tool.name, started, arguments))
        if self._closed:  # a clear rejection, not whatever a closed backend or store does
            error = ToolError.from_exception(RuntimeClosed(tool.name), tool=name, call_id=call_id)
            return self._end(call_id, tool, Result(error=error), started, 0, arguments)
        deadline = entry.deadline
        ctx = CallContext(
            ToolCall(call_id, name, arguments, key),  # the name the model used
            tool,
            {},  # the validation step sets the validated arguments
            started,
            None if deadline is None else started + deadline,
        )
        if given_id:  # an id from the framework may serve as the idempotency key
            ctx.state[GIVEN_ID] = True
        try:
            result = await (entry.handler if key is None else entry.keyed_handler)(ctx)
        except asyncio.CancelledError:
            raise
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a policy bug must still end in an Outcome
            logger.error(
                "toolsafe pipeline error in tool %s (a toolsafe bug, please report it):\n%s",
                tool.name,
                self.redactor.text(format_traceback(exc, 20)),
            )
            result = Result(error=ToolError.from_exception(exc, tool=tool.name, call_id=call_id))
        return self._end(
            call_id, tool, result, started, ctx.attempt, arguments, REPLAYED in ctx.state
        )

    def _through_chain(self, name: str, arguments: Any, call_id: str) -> Awaitable[Outcome]:
        """A call the express lane hands over: the tool's chain, step by step."""
        return self.acall(name, arguments, call_id=call_id, _chain=True)

    def _unknown(self, exc: UnknownTool, name: str, call_id: str, arguments: Any) -> Outcome:
        error = ToolError.from_exception(exc, tool=name, call_id=call_id).with_(
            message=str(exc),
            hint="Call one of the available tools by its exact name.",
            details={"available": exc.known, "suggestion": exc.suggestion},
        )
        outcome = Outcome.failure(call_id, name, error)
        if self.listeners:
            ev.emit(
                self.listeners, ev.CallFailed(call_id, name, self.clock.now(), outcome, arguments)
            )
        self._observe.finished(outcome, arguments, count=False)
        return outcome

    def _end_text(
        self, call_id: str, tool_name: str, value: Any, text: str, started: float, arguments: Any
    ) -> Outcome:
        """``_end`` of a value its first attempt returned, whose model-facing ``text`` is
        made and fits (the express lane's common end)."""
        now = self.clock.now()
        elapsed_ms = round((now - started) * 1000.0, 3)
        # tuple.__new__ with every field: a third of the NamedTuple constructor's time
        outcome: Outcome = _new_tuple(
            Outcome,
            (call_id, tool_name, True, value, None, text, 1, elapsed_ms, None, False, False),
        )
        if self.listeners:
            ev.emit(self.listeners, ev.CallFinished(call_id, tool_name, now, outcome, arguments))
        self._observe.finished(outcome, arguments)
        return outcome

    def _end(
        self,
        call_id: str,
        tool: Tool,
        result: Result,
        started: float,
        attempts: int,
        arguments: Any,
        replayed: bool = False,
    ) -> Outcome:
        """The call's Outcome, announced to listeners, metrics and the call log."""
        text = None
        if result.error is None and type(result) is not TextResult:
            text = serialize(result, tool.name, call_id)
        now = self.clock.now()
        elapsed_ms = round((now - started) * 1000.0, 3)
        if result.error is None:
            if type(result) is TextResult:
                assert isinstance(result, TextResult)
                text, full_text, trimmed = result.text, result.full_text, result.trimmed
            else:
                full_text, trimmed = None, False
            assert text is not None
            outcome = Outcome(
                call_id,
                tool.name,
                True,
                result.value,
                None,
                text,
                attempts,
                elapsed_ms,
                full_text,
                trimmed,
                replayed,
            )
            if self.listeners:
                ev.emit(
                    self.listeners, ev.CallFinished(call_id, tool.name, now, outcome, arguments)
                )
        else:
            error = result.error.with_(
                tool=tool.name, call_id=call_id, attempts=attempts, elapsed_ms=elapsed_ms
            )
            return self._end_error(
                call_id, tool.name, error, now, attempts, elapsed_ms, arguments, replayed
            )
        self._observe.finished(outcome, arguments)
        return outcome

    def _end_refused(
        self, call_id: str, tool: Tool, exc: InvalidArguments, started: float, arguments: Any
    ) -> Outcome:
        """``_end`` of arguments the express lane refused (called by the tool's own name):
        the validation step's error and ``_end``'s, built as one ToolError."""
        now = self.clock.now()
        elapsed_ms = round((now - started) * 1000.0, 3)
        error = error_of(exc, tool=tool.name, call_id=call_id, attempts=0, elapsed_ms=elapsed_ms)
        return self._end_error(call_id, tool.name, error, now, 0, elapsed_ms, arguments)

    def _end_error(
        self,
        call_id: str,
        tool_name: str,
        error: ToolError,
        now: float,
        attempts: int,
        elapsed_ms: float,
        arguments: Any,
        replayed: bool = False,
    ) -> Outcome:
        """The Outcome of a call that ends in ``error`` (its attempts and elapsed time
        set), announced to listeners, metrics and the call log."""
        error = self.redactor.error(error)  # what the model sees carries no secrets
        outcome = Outcome.failure(
            call_id, tool_name, error, attempts=attempts, elapsed_ms=elapsed_ms
        )
        if replayed:
            outcome = outcome._replace(replayed=True)
        if self.listeners:
            ev.emit(self.listeners, ev.CallFailed(call_id, tool_name, now, outcome, arguments))
        self._observe.finished(outcome, arguments)
        return outcome

    async def acall_many(
        self, calls: Iterable[CallLike], *, max_concurrency: int | None = None
    ) -> list[Outcome]:
        """Run a batch concurrently; outcomes come back in input order.

        One failing, hanging-until-deadline or crashing call never affects its
        siblings. ``max_concurrency`` (or the runtime's) bounds calls in flight;
        serial mode (``TOOLSAFE_SERIAL=1``) runs them one at a time.
        """
        batch = [_as_call(c) for c in calls]
        if self.serial:
            return [await self.acall(c.name, c.arguments, call_id=c.id, key=c.key) for c in batch]
        limit = max_concurrency or self.max_concurrency
        if limit is None or limit >= len(batch):
            return await self._eager_gather(batch)
        sem = asyncio.Semaphore(limit)

        async def one(c: ToolCall) -> Outcome:
            async with sem:
                return await self.acall(c.name, c.arguments, call_id=c.id, key=c.key)

        return list(await asyncio.gather(*(one(c) for c in batch)))

    async def _eager_gather(self, batch: list[ToolCall]) -> list[Outcome]:
        """Every call started in input order, as ``gather`` would, but eagerly: a call
        whose express lane answers at once (a body that never suspends) costs no Task,
        as with Python 3.12's eager task factory. Each call runs in a copy of the
        caller's context, as a Task would (a body setting a ContextVar changes neither
        its siblings nor the caller); the calls that suspend go on as Tasks in it."""
        if not _EAGER:
            return list(
                await asyncio.gather(
                    *(self.acall(c.name, c.arguments, call_id=c.id, key=c.key) for c in batch)
                )
            )
        outs: list[Any] = []
        contexts: dict[int, contextvars.Context] = {}
        start = self._start
        copy = contextvars.copy_context
        try:
            for c in batch:
                context = copy()
                out = context.run(start, c.name, c.arguments, c.id, c.key)
                if type(out) is not Outcome:
                    contexts[len(outs)] = context
                outs.append(out)
        except BaseException:
            # Calls already started hold their admissions: let them finish and release.
            for i, context in contexts.items():
                _task_in(outs[i], context)
            raise
        if contexts:
            tasks = [_task_in(outs[i], context) for i, context in contexts.items()]
            for i, outcome in zip(contexts, await asyncio.gather(*tasks), strict=True):
                outs[i] = outcome
        return outs

    def _start(
        self, name: str, arguments: Any, call_id: str | None, key: str | None
    ) -> Outcome | Awaitable[Outcome]:
        """``acall``'s Outcome when its express lane gives it at once, else an awaitable
        of it (the lane's rest of the call, or ``acall`` itself)."""
        if key is None and not self.listeners and not self._closed:
            tracing = self._observe.tracing
            if tracing is None or not tracing.ready(self.listeners):
                entry = self._entries.get(name)
                express = None if entry is None else entry.express
                if express is not None:
                    return express(name, arguments, call_id or new_call_id())
        return self.acall(name, arguments, call_id=call_id, key=key)

    def call(
        self,
        name: str,
        arguments: Any = None,
        *,
        call_id: str | None = None,
        key: str | None = None,
    ) -> Outcome:
        """Sync twin of ``acall`` (usable from any thread, inside a running loop too)."""
        entry = self._entries.get(name)
        lane = None if entry is None or key is not None or self._closed else entry.sync_express
        if lane is not None:
            tracing = self._observe.tracing
            if not (tracing is not None and tracing.ready(self.listeners)) and not self.listeners:
                # Nobody watches the steps: a sync tool's express lane, no event loop at
                # all unless a step must wait (then the rest is driven as below).
                out = lane(name, arguments, call_id or new_call_id())
                if type(out) is Outcome:
                    return out
                rest = cast("Awaitable[Outcome]", out)
                return self._bridge.run(lambda: rest, eager=True)
        eager = entry is not None and not entry.tool.is_async
        return self._bridge.run(
            lambda: self.acall(name, arguments, call_id=call_id, key=key), eager=eager
        )

    def call_many(
        self, calls: Iterable[CallLike], *, max_concurrency: int | None = None
    ) -> list[Outcome]:
        """Sync twin of ``acall_many``."""
        batch = list(calls)
        if len(batch) == 1 and not max_concurrency:
            one = _as_call(batch[0])
            return [self.call(one.name, one.arguments, call_id=one.id, key=one.key)]
        return self._bridge.run(lambda: self.acall_many(batch, max_concurrency=max_concurrency))

    def run_sync(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine made by ``make`` to completion from sync code."""
        return self._bridge.run(make)


def _task_in(awaitable: Awaitable[Outcome], context: contextvars.Context) -> asyncio.Task[Outcome]:
    """A Task going on with ``awaitable`` in ``context`` (where its first step ran)."""
    coro = awaitable if asyncio.iscoroutine(awaitable) else _awaiting(awaitable)
    loop: Any = asyncio.get_running_loop()  # create_task(context=) is 3.11+, typed for 3.10
    return cast("asyncio.Task[Outcome]", loop.create_task(coro, context=context))


async def _awaiting(awaitable: Awaitable[Outcome]) -> Outcome:
    return await awaitable


def _as_call(obj: CallLike) -> ToolCall:
    """A batch item as a ToolCall; its id stays None when it has none (``acall`` makes
    one, and only an id that came with the call may serve as an idempotency key)."""
    if isinstance(obj, ToolCall):
        return obj
    if isinstance(obj, tuple):
        name, arguments = obj
        return ToolCall(None, name, arguments)
    if isinstance(obj, Mapping):
        call_id = obj.get("id") or obj.get("call_id")
        key = obj.get("key")
        return ToolCall(
            None if call_id is None else str(call_id),
            str(obj["name"]),
            obj.get("arguments", obj.get("args")),
            None if key is None else str(key),
        )
    raise TypeError(f"cannot read a tool call from {type(obj).__name__}")
