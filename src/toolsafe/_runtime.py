"""The runtime: a registry of tools, a pipeline of policies, a backend, a store, listeners.

Every call ends in an ``Outcome``: a result or a ToolError, never an exception
(only cancellation of the caller itself, or a KeyboardInterrupt on the caller's
own thread, propagates). One asyncio implementation; the sync entry points drive
it on a per-thread event loop.
"""

from __future__ import annotations

import asyncio
import difflib
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from toolsafe._budget import apply_budget
from toolsafe._call import CallContext, Outcome, ToolCall, new_call_id
from toolsafe._clock import Clock, SystemClock
from toolsafe._pipeline import Handler, PipelineEnv, Policy, Result, resolve_options
from toolsafe._serialize import serialize_result
from toolsafe._sync import SyncBridge
from toolsafe._tool import Tool, ToolOptions, as_tool
from toolsafe.backends._base import Backend, EscapedBaseException
from toolsafe.errors import (
    ConfigurationError,
    InvalidArguments,
    ToolError,
    UnknownTool,
)
from toolsafe.observe import events as ev
from toolsafe.observe._hub import Observability, bind_listener
from toolsafe.observe._log import logger
from toolsafe.policies import build_policies, policy_problems
from toolsafe.policies.timeout import DEFAULT_TIMEOUT
from toolsafe.stores._base import Store

__all__ = ["DEFAULT_TIMEOUT", "Runtime"]

T = TypeVar("T")

CallLike = ToolCall | Mapping[str, Any] | tuple[str, Any]


@dataclass
class _Entry:
    tool: Tool
    #: The tool's options with the runtime's defaults filled in.
    options: ToolOptions
    handler: Handler
    key: str
    call_policies: list[Policy]
    attempt_policies: list[Policy]
    #: Seconds for the whole call (None: only per-attempt timeouts bound it).
    deadline: float | None


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


class Runtime:
    """Owns the tools and runs their calls through the policy pipeline.

    Options given here (``timeout=``, ``retry=``, ``rate=``, ...) are defaults for
    every tool; a tool's own options win.
    """

    def __init__(
        self,
        tools: Iterable[Any] = (),
        *,
        backend: str | Backend = "thread",
        store: Any = None,
        listeners: Sequence[ev.Listener] = (),
        clock: Clock | None = None,
        max_concurrency: int | None = None,
        max_in_flight: int | None = None,
        sync_workers: int | None = None,
        sync_share: int | None = None,
        max_abandoned_threads: int | None = None,
        serial: bool | None = None,
        include_traceback: bool = False,
        redact: Any = True,
        otel: Any = None,
        token_counter: Any = None,
        **defaults: Any,
    ) -> None:
        self.defaults = ToolOptions().merged(**defaults) if defaults else ToolOptions()
        self.clock: Clock = clock or SystemClock()
        self.listeners: list[ev.Listener] = list(listeners)
        # Observability (docs/observability.md): redaction rules for everything written
        # and for model-facing errors, token counting, metrics, call log, tracing.
        self._observe = Observability(redact=redact, otel=otel, token_counter=token_counter)
        self.redactor = self._observe.redactor
        self.token_counter = self._observe.token_counter
        self.metrics = self._observe.metrics
        for listener in self.listeners:
            bind_listener(listener, self)
        self.max_concurrency = max_concurrency
        self.serial = _env_flag("TOOLSAFE_SERIAL") if serial is None else serial
        self.include_traceback = include_traceback
        #: Attempts of all tools in flight at once (a global bulkhead; None: no limit).
        self.max_in_flight = max_in_flight
        #: close() closes the store only if this runtime made it: a store passed in
        #: (a RedisStore) may be shared by several runtimes, and its owner closes it.
        self._owns_store = store is None
        if store is None:
            from toolsafe.stores.memory import MemoryStore

            store = MemoryStore(clock=self.clock)
        self.store: Store = store
        store_listeners = getattr(store, "add_listener", None)
        if callable(store_listeners):  # a shared store's own news (Redis down, recovered)
            store_listeners(self._store_event)
        #: What the policies see of this runtime (never the runtime itself).
        self.env = PipelineEnv(
            store=store,
            clock=self.clock,
            listeners=self.listeners,
            redactor=self.redactor,
            token_counter=self.token_counter,
            include_traceback=include_traceback,
        )
        self.backend = self._make_backend(
            backend,
            sync_workers=sync_workers,
            sync_share=sync_share,
            max_abandoned=max_abandoned_threads,
        )
        self._entries: dict[str, _Entry] = {}
        self._aliases: dict[str, str] = {}
        self._budgeted: set[str] = set()  # tools with an output budget
        self._bridge = SyncBridge(before_close=getattr(self.store, "aclose_loop", None))
        self._closed = False
        self.register_many(tools)

    # ------------------------------------------------------------------ set-up

    def _make_backend(
        self,
        backend: str | Backend,
        *,
        sync_workers: int | None,
        sync_share: int | None,
        max_abandoned: int | None,
    ) -> Backend:
        if not isinstance(backend, str):
            return backend
        from toolsafe.backends import registry

        return registry.create(
            backend,
            sync_workers=sync_workers,
            sync_share=sync_share,
            max_abandoned=max_abandoned,
            on_event=self._pool_event,
        )

    def register(self, obj: Any, **options: Any) -> Tool:
        """Register a function, class-based tool instance or Tool; return the Tool."""
        tool = as_tool(obj)
        if options:
            tool = tool.with_options(**options)
        problems = self._problems(tool)
        if problems:
            raise ConfigurationError(problems, subject=tool.name)
        self._install(tool)
        return tool

    def register_many(self, objs: Iterable[Any]) -> list[Tool]:
        """Register several tools, reporting every problem of every tool together."""
        tools: list[Tool] = []
        problems: list[str] = []
        for obj in objs:
            try:
                tool = as_tool(obj)
            except ConfigurationError as exc:
                label = exc.subject or getattr(obj, "__name__", type(obj).__name__)
                problems.extend(f"{label}: {p}" for p in exc.problems)
                continue
            problems.extend(f"{tool.name}: {p}" for p in self._problems(tool, pending=tools))
            tools.append(tool)
        if problems:
            raise ConfigurationError(problems)
        for tool in tools:
            self._install(tool)
        return tools

    def _problems(self, tool: Tool, pending: Sequence[Tool] = ()) -> list[str]:
        problems: list[str] = []
        if not tool.runnable:
            problems.append("built from a schema without a function: it can only validate")
        taken = {t.name for t in pending} | set(self._entries)
        if tool.name in taken:
            problems.append(f"a tool named '{tool.name}' is already registered")
        exported = {t.export_name: t.name for t in pending} | self._aliases
        if tool.export_name != tool.name and exported.get(tool.export_name, tool.name) != tool.name:
            problems.append(
                f"its exported name '{tool.export_name}' clashes with tool "
                f"'{exported[tool.export_name]}'"
            )
        peers = [(e.tool, e.options) for e in self._entries.values()]
        peers.extend((t, self._resolved(t)) for t in pending)
        problems.extend(policy_problems(tool, self._resolved(tool), peers))
        problems.extend(self.backend.check(tool))
        return problems

    def _resolved(self, tool: Tool) -> ToolOptions:
        return resolve_options(tool.options, self.defaults)

    def _install(self, tool: Tool) -> None:
        options = self._resolved(tool)
        call_policies, attempt_policies = build_policies(
            tool, options, max_in_flight=self.max_in_flight
        )
        key = options.upstream or tool.name
        env = self.env
        handler: Handler = self._attempt_handler(tool, options, key)
        for policy in reversed(attempt_policies):
            handler = policy.wrap(handler, tool=tool, env=env)
        for policy in reversed(call_policies):
            handler = policy.wrap(handler, tool=tool, env=env)
        if options.max_output_chars is not None or options.max_output_tokens is not None:
            self._budgeted.add(tool.name)
        deadline = options.deadline
        self._entries[tool.name] = _Entry(
            tool,
            options,
            handler,
            key,
            call_policies,
            attempt_policies,
            None if deadline is None else float(deadline),
        )
        self._aliases[tool.export_name] = tool.name

    def option(self, tool: Tool, name: str) -> Any:
        """The tool's own option, else the runtime default."""
        value = getattr(tool.options, name)
        if value is None:
            value = getattr(self.defaults, name)
        return value

    @property
    def tools(self) -> list[Tool]:
        return [entry.tool for entry in self._entries.values()]

    def get(self, name: str) -> Tool:
        """The tool registered as ``name`` (or under its exported name)."""
        return self._entry(name).tool

    def _entry(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is None:
            real = self._aliases.get(name)
            if real is not None:
                entry = self._entries.get(real)
        if entry is None:
            known = sorted(self._entries)
            match = difflib.get_close_matches(name, known + list(self._aliases), n=1, cutoff=0.5)
            suggestion = self._aliases.get(match[0], match[0]) if match else None
            raise UnknownTool(name, known, suggestion)
        return entry

    # ------------------------------------------------------------------ the innermost step

    def _attempt_handler(self, tool: Tool, options: ToolOptions, key: str) -> Handler:
        backend = self.backend
        clock = self.clock
        listeners = self.listeners
        timeout_opt = options.timeout
        timeout_s = DEFAULT_TIMEOUT if timeout_opt is None else float(timeout_opt)
        if math.isinf(timeout_s) or timeout_s <= 0:
            timeout_s = math.inf
        include_tb = self.include_traceback
        name = tool.name

        async def attempt(ctx: CallContext) -> Result:
            ctx.attempt += 1
            limit: float | None = timeout_s
            if ctx.deadline is not None:
                remaining = ctx.deadline - clock.now()
                limit = remaining if limit is None or remaining < limit else limit
            if limit is not None and math.isinf(limit):
                limit = None
            if listeners:
                ev.emit(listeners, ev.AttemptStarted(ctx.call_id, name, clock.now(), ctx.attempt))
                began = clock.now()
            try:
                value = await backend.run(tool, ctx.arguments, ctx, timeout=limit, key=key)
                result = Result(value)
            except asyncio.CancelledError as exc:
                if _caller_cancelled():
                    raise
                result = Result(error=ToolError.from_exception(exc, tool=name, call_id=ctx.call_id))
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                if isinstance(exc, EscapedBaseException):
                    exc = exc.original
                result = Result(
                    error=ToolError.from_exception(
                        exc, tool=name, call_id=ctx.call_id, include_traceback=include_tb
                    )
                )
            if listeners:
                ev.emit(
                    listeners,
                    ev.AttemptFinished(
                        ctx.call_id,
                        name,
                        clock.now(),
                        ctx.attempt,
                        result.ok,
                        result.error,
                        (clock.now() - began) * 1000.0,
                    ),
                )
            return result

        return attempt

    # ------------------------------------------------------------------ calls

    async def acall(
        self,
        name: str,
        arguments: Any = None,
        *,
        call_id: str | None = None,
        _in_span: bool = False,
    ) -> Outcome:
        """Run one call; always returns an Outcome (result or ToolError)."""
        call_id = call_id or new_call_id()
        if not _in_span:
            tracing = self._observe.tracing
            if tracing is not None and tracing.ready(self.listeners):
                return await tracing.run_call(self, name, arguments, call_id)  # span around _acall
        # The body is here rather than in a helper: one coroutine frame fewer per call.
        clock = self.clock
        started = clock.now()
        listeners = self.listeners
        try:
            entry = self._entry(name)
        except UnknownTool as exc:
            error = ToolError.from_exception(exc, tool=name, call_id=call_id).with_(
                message=str(exc),
                hint="Call one of the available tools by its exact name.",
                details={"available": exc.known, "suggestion": exc.suggestion},
            )
            outcome = Outcome.failure(call_id, name, error)
            if listeners:
                ev.emit(listeners, ev.CallFailed(call_id, name, clock.now(), outcome, arguments))
            self._observe.finished(outcome, arguments, count=False)
            return outcome
        tool = entry.tool
        if listeners:
            ev.emit(listeners, ev.CallStarted(call_id, tool.name, started, arguments))
        try:
            args, repairs = tool.validate_with_repairs(arguments)
        except InvalidArguments as exc:
            error = ToolError.from_exception(exc, tool=tool.name, call_id=call_id)
            if name != tool.name:  # speak of the tool by the name the model used
                quoted, alias = f"'{tool.name}'", f"'{name}'"
                error = error.with_(
                    message=error.message.replace(quoted, alias),
                    hint=error.hint.replace(quoted, alias) if error.hint else None,
                )
            return self._end(call_id, tool, Result(error=error), started, 0, arguments)
        if repairs:
            logger.warning(
                "tool %s: repaired malformed arguments: %s", tool.name, "; ".join(repairs)
            )
        if listeners:
            ev.emit(
                listeners,
                ev.CallValidated(call_id, tool.name, clock.now(), args, tuple(repairs)),
            )
        ctx = CallContext(
            ToolCall(call_id, tool.name, arguments),
            tool,
            args,
            started,
            None if entry.deadline is None else started + entry.deadline,
        )
        try:
            result = await entry.handler(ctx)
        except asyncio.CancelledError:
            raise
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a policy bug must still end in an Outcome
            from toolsafe.errors import format_traceback

            logger.error(
                "toolsafe pipeline error in tool %s (a toolsafe bug, please report it):\n%s",
                tool.name,
                self.redactor.text(format_traceback(exc, 20)),
            )
            result = Result(error=ToolError.from_exception(exc, tool=tool.name, call_id=call_id))
        if tool.name in self._budgeted:
            return await self._finish(call_id, tool, result, started, ctx.attempt, arguments)
        return self._end(call_id, tool, result, started, ctx.attempt, arguments)

    async def _acall(self, name: str, arguments: Any, call_id: str) -> Outcome:
        """The call without its span (tracing opens the span, then comes here)."""
        return await self.acall(name, arguments, call_id=call_id, _in_span=True)

    async def _finish(
        self,
        call_id: str,
        tool: Tool,
        result: Result,
        started: float,
        attempts: int,
        arguments: Any = None,
    ) -> Outcome:
        """End a call; awaits only for tools with an output budget (a summarizer may be async)."""
        if result.error is None and tool.name in self._budgeted:
            text = self._serialize(tool, call_id, result)
            if text is not None:
                options = self._entries[tool.name].options
                fitted = await apply_budget(options, self.token_counter, tool.name, text)
                return self._end(call_id, tool, result, started, attempts, arguments, text, fitted)
        return self._end(call_id, tool, result, started, attempts, arguments)

    def _serialize(self, tool: Tool, call_id: str, result: Result) -> str | None:
        """The model-facing text of a value; on failure ``result`` becomes the error."""
        try:
            return serialize_result(result.value)
        except Exception as exc:
            from toolsafe.errors import ToolFailure

            failure = ToolFailure(
                f"tool '{tool.name}' returned a {type(result.value).__name__} that cannot be "
                f"serialized for the model: {exc}",
                retryable=False,
                type="ResultNotSerializable",
                hint="Return str, dict, list, a number, a pydantic model or a dataclass.",
            )
            result.value = None
            result.error = ToolError.from_exception(failure, tool=tool.name, call_id=call_id)
            return None

    def _end(
        self,
        call_id: str,
        tool: Tool,
        result: Result,
        started: float,
        attempts: int,
        arguments: Any,
        text: str | None = None,
        fitted: Any = None,
    ) -> Outcome:
        if result.error is None and text is None:
            text = self._serialize(tool, call_id, result)
        now = self.clock.now()
        elapsed_ms = round((now - started) * 1000.0, 3)
        if result.error is None:
            assert text is not None
            outcome = Outcome(
                call_id,
                tool.name,
                True,
                result.value,
                None,
                text if fitted is None else fitted.text,
                attempts,
                elapsed_ms,
                None if fitted is None else text,
                fitted is not None and fitted.trimmed,
            )
            if self.listeners:
                ev.emit(
                    self.listeners, ev.CallFinished(call_id, tool.name, now, outcome, arguments)
                )
        else:
            error = self.redactor.error(  # what the model sees carries no secrets
                result.error.with_(
                    tool=tool.name, call_id=call_id, attempts=attempts, elapsed_ms=elapsed_ms
                )
            )
            outcome = Outcome.failure(
                call_id, tool.name, error, attempts=attempts, elapsed_ms=elapsed_ms
            )
            if self.listeners:
                ev.emit(self.listeners, ev.CallFailed(call_id, tool.name, now, outcome, arguments))
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
            return [await self.acall(c.name, c.arguments, call_id=c.id) for c in batch]
        limit = max_concurrency or self.max_concurrency
        if limit is None or limit >= len(batch):
            return list(
                await asyncio.gather(
                    *(self.acall(c.name, c.arguments, call_id=c.id) for c in batch)
                )
            )
        sem = asyncio.Semaphore(limit)

        async def one(c: ToolCall) -> Outcome:
            async with sem:
                return await self.acall(c.name, c.arguments, call_id=c.id)

        return list(await asyncio.gather(*(one(c) for c in batch)))

    def call(self, name: str, arguments: Any = None, *, call_id: str | None = None) -> Outcome:
        """Sync twin of ``acall`` (usable from any thread, inside a running loop too)."""
        entry = self._entries.get(name)
        eager = entry is not None and not entry.tool.is_async
        return self._bridge.run(lambda: self.acall(name, arguments, call_id=call_id), eager=eager)

    def call_many(
        self, calls: Iterable[CallLike], *, max_concurrency: int | None = None
    ) -> list[Outcome]:
        """Sync twin of ``acall_many``."""
        batch = list(calls)
        if len(batch) == 1 and not max_concurrency:
            one = _as_call(batch[0])
            return [self.call(one.name, one.arguments, call_id=one.id)]
        return self._bridge.run(lambda: self.acall_many(batch, max_concurrency=max_concurrency))

    def run_sync(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine made by ``make`` to completion from sync code."""
        return self._bridge.run(make)

    # ------------------------------------------------------------------ events & life cycle

    def add_listener(self, listener: ev.Listener) -> None:
        """Add a listener. Tools registered earlier see it too (the list is shared)."""
        self.listeners.append(listener)
        bind_listener(listener, self)

    def _store_event(self, event: ev.Event) -> None:
        if self.listeners:
            ev.emit(self.listeners, event)

    def _pool_event(self, kind: str, detail: dict[str, Any]) -> None:
        if kind == "abandon_cap_reached":
            logger.error(
                "toolsafe: %d sync threads are stuck in calls that ignored their timeout "
                "(cap %s); new sync calls now wait for a free worker until their deadline. "
                "Use backend='process' for tools that hang.",
                detail.get("stuck", 0),
                detail.get("max_abandoned"),
            )
        elif kind == "thread_abandoned":
            logger.warning(
                "toolsafe: abandoned a worker thread stuck in '%s' (%d stuck in all)",
                detail.get("key"),
                detail.get("stuck", 0),
            )
        if self.listeners:
            ev.emit(
                self.listeners,
                ev.PoolEvent("", str(detail.get("key", "")), time.monotonic(), kind, dict(detail)),
            )

    def stats(self) -> dict[str, Any]:
        """Counters for metrics: the backend's workers (busy, stuck and abandoned threads,
        killed and replaced processes) and the store's slots, breakers and cache."""
        backend_stats = getattr(self.backend, "stats", None)
        return {
            "tools": len(self._entries),
            "backend": {"name": self.backend.name, **(backend_stats() if backend_stats else {})},
            "store": self.store.stats(),
        }

    def close(self) -> None:
        """Release worker threads and loops. Stuck threads end when their calls return.

        The backend is this runtime's (even one passed in); a store passed in is left
        open: it may be shared, and whoever made it closes it.
        """
        if self._closed:
            return
        self._closed = True
        self.backend.close()
        closer = getattr(self.store, "close", None)
        if self._owns_store and callable(closer):
            closer()
        self._bridge.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Runtime tools={sorted(self._entries)} backend={self.backend.name}>"


def _caller_cancelled() -> bool:
    task = asyncio.current_task()
    if task is None:
        return True
    cancelling = getattr(task, "cancelling", None)
    if cancelling is None:  # Python 3.10: cannot tell; assume the caller
        return True
    return bool(cancelling())


def _as_call(obj: CallLike) -> ToolCall:
    if isinstance(obj, ToolCall):
        return obj.with_id()
    if isinstance(obj, tuple):
        name, arguments = obj
        return ToolCall(new_call_id(), name, arguments)
    if isinstance(obj, Mapping):
        call_id = obj.get("id") or obj.get("call_id") or new_call_id()
        return ToolCall(str(call_id), str(obj["name"]), obj.get("arguments", obj.get("args")))
    raise TypeError(f"cannot read a tool call from {type(obj).__name__}")
