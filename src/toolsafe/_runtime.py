"""The runtime: a registry of tools, a pipeline of policies, a backend, a store, listeners.

``Runtime`` puts the parts together: it registers tools (``_registry``), builds
each tool's pipeline (``_assembly``) and runs calls through it (``_lifecycle``:
every call ends in an ``Outcome``, never an exception). Policies see only its
``PipelineEnv``, never the runtime.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from typing import Any

from toolsafe._assembly import assemble
from toolsafe._clock import Clock, SystemClock
from toolsafe._lifecycle import CallLifecycle
from toolsafe._log import logger
from toolsafe._pipeline import PipelineEnv, resolve_options
from toolsafe._registry import Registry
from toolsafe._sync import SyncBridge
from toolsafe._tool import Tool, ToolOptions, as_tool
from toolsafe.backends import registry as backends
from toolsafe.backends._base import Backend
from toolsafe.errors import ConfigurationError
from toolsafe.observe import events as ev
from toolsafe.observe._hub import Observability, bind_listener
from toolsafe.policies import policy_problems
from toolsafe.policies.timeout import DEFAULT_TIMEOUT
from toolsafe.stores._base import Store
from toolsafe.stores.memory import MemoryStore

__all__ = ["DEFAULT_TIMEOUT", "Runtime"]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


class Runtime(CallLifecycle):
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
            bind_listener(listener, self.redactor)
        self.max_concurrency = max_concurrency
        self.serial = _env_flag("TOOLSAFE_SERIAL") if serial is None else serial
        self.include_traceback = include_traceback
        #: Attempts of all tools in flight at once (a global bulkhead; None: no limit).
        self.max_in_flight = max_in_flight
        #: close() closes the store only if this runtime made it: a store passed in
        #: (a RedisStore) may be shared by several runtimes, and its owner closes it.
        self._owns_store = store is None
        if store is None:
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
        self._registry = Registry()
        self._entries = self._registry.entries  # read on every call
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
        return backends.create(
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

    def unregister(self, name: str) -> Tool:
        """Remove the tool ``name`` (e.g. an MCP upstream stopped listing it); return it.

        Calls already in flight finish on its pipeline; later calls get ``UnknownTool``.
        State it shares with others (its upstream's breaker, rate and concurrency) stays.
        """
        return self._registry.remove(name).tool

    def _problems(self, tool: Tool, pending: Sequence[Tool] = ()) -> list[str]:
        problems = self._registry.name_problems(tool, pending)
        peers = [(e.tool, e.options) for e in self._entries.values()]
        peers.extend((t, self._resolved(t)) for t in pending)
        problems.extend(policy_problems(tool, self._resolved(tool), peers))
        problems.extend(self.backend.check(tool))
        return problems

    def _resolved(self, tool: Tool) -> ToolOptions:
        return resolve_options(tool.options, self.defaults)

    def _install(self, tool: Tool) -> None:
        entry = assemble(
            tool,
            self._resolved(tool),
            env=self.env,
            backend=self.backend,
            max_in_flight=self.max_in_flight,
            lane=(self._end, self._end_text, self._end_refused, self._through_chain),
        )
        self._registry.add(entry)

    def option(self, tool: Tool, name: str) -> Any:
        """The tool's own option, else the runtime default."""
        value = getattr(tool.options, name)
        if value is None:
            value = getattr(self.defaults, name)
        return value

    @property
    def tools(self) -> list[Tool]:
        return self._registry.tools

    def get(self, name: str) -> Tool:
        """The tool registered as ``name`` (or under its exported name)."""
        return self._registry.lookup(name).tool

    # ------------------------------------------------------------------ events & life cycle

    def add_listener(self, listener: ev.Listener) -> None:
        """Add a listener. Tools registered earlier see it too (the list is shared)."""
        self.listeners.append(listener)
        bind_listener(listener, self.redactor)

    def _store_event(self, event: ev.Event) -> None:
        if self.listeners:  # stamped on this runtime's clock, like every event
            ev.emit(self.listeners, dataclasses.replace(event, at=self.clock.now()))

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
                ev.PoolEvent("", str(detail.get("key", "")), self.clock.now(), kind, dict(detail)),
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
