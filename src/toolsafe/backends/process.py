"""The process backend: tool bodies in a pool of worker processes that can be killed.

``Runtime(backend="process")`` (or ``ProcessBackend(max_workers=...)``). Python
threads cannot be stopped; processes can. So here:

- a tool that runs past its timeout (or its call's deadline) is killed with
  SIGKILL (its whole process group, so subprocesses it started go too), the call
  gets its ``TimeoutError`` at once, and a replacement worker is started in the
  background;
- a tool that kills its interpreter (a segfault, ``os._exit``, the kernel's OOM
  killer) gives that call a structured ``WorkerCrashed`` error naming the exit
  code or signal, and the pool carries on with a new worker;
- results and exceptions come back pickled: the exception's type, message and
  attributes (an HTTP status, a Retry-After) are classified in the caller's
  process with the caller's classifiers. An exception that cannot be pickled
  comes back as a ToolFailure with the same type name, message and retryability,
  and the worker's traceback is attached as a note either way;
- a tool that cannot be sent to a worker (a lambda, a function defined inside
  another, an instance holding a lock or a socket) is refused at registration
  with a ConfigurationError.

**Async tools run in the workers too** (on a loop each worker keeps), so a
hanging or crashing async tool is isolated exactly like a sync one; an attempt
costs the same round trip either way. Use the thread backend for async tools
that only await I/O and need no isolation.

Workers start with the ``forkserver`` method where available (``spawn``
elsewhere): never ``fork``, since the caller has threads. As with any
``multiprocessing`` program, a main script needs the ``if __name__ == "__main__":``
guard. ``min_workers`` start when the first tool is registered (which waits for
the first of them to be ready, well under a second), more on demand
up to ``max_workers``, and they stay warm; a call that finds them all busy waits
for one within its attempt's time, then gets a retryable "never started" timeout.
``Runtime(backend="process", sync_workers=N)`` sizes the pool (default: the CPU
count, at least 2). There are no per-tool shares as in the thread pool: a worker
stuck past its time is killed and replaced, not kept, so a hanging tool costs a
worker only for its timeout. ``Runtime.stats()["backend"]["processes"]`` counts
workers started, killed at their timeout, crashed and replaced.
Each call of a class-based tool runs on a per-call copy of the instance the worker
holds, made by the tool's own isolation plan as in the thread backend (shared
attributes stay shared within the worker), so nothing leaks between calls;
``Runtime.close()`` kills the workers: calls waiting for one end with a not-started
``RuntimeClosed``, running ones with a ``RuntimeClosed`` that is not a rejection.
What crosses to a worker and back is in ``backends/_remote.py``. Workers are daemonic
(a tool cannot start ``multiprocessing`` children; ``subprocess`` is fine) and
exit when the caller's process does.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib
import io
import itertools
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, cast

from toolsafe.backends._base import (
    RUNTIME_CLOSED,
    WORKER_CRASHED,
    AttemptTimeout,
    NotStartedTimeout,
    RuntimeClosed,
    check_time_left,
)
from toolsafe.backends._drain import DRAIN_OPTIONS, drain_bound
from toolsafe.backends._remote import (
    Target,
    error_reply,
    not_serializable,
    raise_reply,
    run_target,
    target_of,
)
from toolsafe.errors import ConfigurationError, ToolFailure
from toolsafe.stores._waiters import WaitQueue

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool, ToolOptions

__all__ = ["WORKER_CRASHED", "ProcessBackend"]

#: Seconds a new worker may take to start and report ready.
START_TIMEOUT = 60.0


# --------------------------------------------------------------------------- what crosses


def _tool_function(module: str, qualname: str) -> Callable[..., Any]:
    """In the worker: the function under a ``@tool`` decorator, found by name."""
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    fn = getattr(obj, "fn", None)
    return cast("Callable[..., Any]", fn if fn is not None else obj)


class _Pickler(pickle.Pickler):
    """Pickles a ``@tool``-decorated function by name, although the module's attribute of
    that name is the Tool wrapping it (plain pickle refuses: "not the same object")."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.FunctionType):
            from toolsafe._tool import Tool

            module = sys.modules.get(obj.__module__)
            found: Any = module
            for part in obj.__qualname__.split("."):
                found = getattr(found, part, None)
            if isinstance(found, Tool) and found.fn is obj:
                return _tool_function, (obj.__module__, obj.__qualname__)
        return NotImplemented


def _dumps(obj: Any) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


# --------------------------------------------------------------------------- the worker


def _worker_main(conn: Connection) -> None:  # pragma: no cover - runs in the child
    """A worker's life: report ready, then run one attempt per message until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's business
    with contextlib.suppress(OSError):
        os.setpgrp()  # killing the group also stops the tool's own subprocesses
    parent = os.getppid()

    def orphan_watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:  # the pool's process is gone: so are we
                os._exit(0)

    threading.Thread(target=orphan_watch, daemon=True).start()
    conn.send(("ready", os.getpid()))
    targets: dict[int, Target] = {}
    loops: list[asyncio.AbstractEventLoop] = []

    def finish(coro: Any) -> Any:  # one loop per worker, kept for its life
        if not loops:
            loops.append(asyncio.new_event_loop())
        return loops[0].run_until_complete(coro)

    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            os._exit(0)
        _, spec_id, spec_blob, call_blob = message
        try:
            if spec_blob is not None:
                targets[spec_id] = pickle.loads(spec_blob)
            args, kwargs = pickle.loads(call_blob)
            value = run_target(targets[spec_id], args, kwargs, finish)
            try:
                reply = pickle.dumps(("ok", value), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                reply = _error_reply(not_serializable(value, exc, "its worker process"))
        except BaseException as exc:  # everything the tool raises goes back
            reply = _error_reply(exc)
        conn.send_bytes(reply)


def _error_reply(exc: BaseException) -> bytes:
    return pickle.dumps(error_reply(exc, _pickle, pickle.loads), protocol=pickle.HIGHEST_PROTOCOL)


def _pickle(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _raise_reply(data: bytes, tool_name: str, pid: int) -> Any:
    return raise_reply(
        pickle.loads(data), pickle.loads, where=f"worker process {pid}", tool_name=tool_name
    )


# --------------------------------------------------------------------------- the pool


class _Worker:
    __slots__ = ("conn", "pending", "pid", "proc", "seen")

    def __init__(self, proc: Any, conn: Connection, pid: int) -> None:
        self.proc = proc
        self.conn = conn
        self.pid = pid
        self.seen: set[int] = set()
        #: The loop and future of the call this worker runs (for close()).
        self.pending: tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]] | None = None


class _Closing(Exception):
    """Set on a running call's future by close(): its worker is being killed."""


#: ``_arrived``'s "no reply yet".
_NOTHING: Any = object()


def _closing(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(_Closing())


@dataclass
class _Spec:
    id: int
    blob: bytes


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(AttemptTimeout())


def _signal_name(code: int | None) -> str:
    if code is None:
        return "an unknown cause"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class ProcessBackend:
    """Runs every attempt in a worker process (see the module docstring)."""

    name = "process"

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        context: str | None = None,
        start_timeout: float = START_TIMEOUT,
        min_workers: int = 1,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.max_workers = max(1, max_workers or max(2, os.cpu_count() or 2))
        methods = multiprocessing.get_all_start_methods()
        chosen = context or ("forkserver" if "forkserver" in methods else "spawn")
        if chosen == "fork":
            raise ConfigurationError(
                ["the process backend does not use 'fork' (the caller has threads)"]
            )
        self._mp: Any = multiprocessing.get_context(chosen)
        if chosen == "forkserver":
            # Workers fork from a server that has imported toolsafe once: a new worker is
            # ready in tens of milliseconds instead of paying the imports each time.
            self._mp.set_forkserver_preload(["__main__", "toolsafe.backends.process"])
        self.min_workers = min(self.max_workers, max(0, min_workers))
        self.context = chosen
        self.start_timeout = start_timeout
        self._on_event = on_event
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._starting = 0
        self._waiters = WaitQueue()
        self._specs: weakref.WeakKeyDictionary[Tool, dict[tuple[int, bool], _Spec]] = (
            weakref.WeakKeyDictionary()
        )
        self._spec_ids = itertools.count(1)
        self._closed = False
        self._started_total = 0
        self._killed_total = 0
        self._crashed_total = 0
        self._replaced_total = 0
        self._failed_starts = 0
        #: Set once the first worker is ready (or failed to start).
        self._ready = threading.Event()
        _LIVE.add(self)

    # ------------------------------------------------------------------ registration

    def check(self, tool: Tool) -> list[str]:
        """A tool must pickle to reach a worker: say so at registration, not per call."""
        if not tool.runnable:
            return []  # the runtime reports schema-only tools itself
        self.warm(wait=True)
        try:
            self._spec(tool)
        except Exception as exc:
            return [
                f"cannot run on the process backend: the tool cannot be sent to a worker "
                f"process ({type(exc).__name__}: {exc}); define it at module level and keep "
                "locks, sockets and clients out of its instance (create them inside the call)"
            ]
        fn = tool.fn
        main = sys.modules.get("__main__")
        if fn is not None and fn.__module__ == "__main__" and not getattr(main, "__file__", None):
            return [
                "cannot run on the process backend: it is defined in an interactive session, "
                "which worker processes cannot import; define it in a module"
            ]
        return []

    def warm(self, *, wait: bool = False) -> None:
        """Start workers up to ``min_workers`` in the background; with ``wait``, block until
        the first is ready (up to ``start_timeout``). Registration does both, so a first
        call does not spend its timeout waiting for a process to start."""
        with self._lock:
            while (
                not self._closed
                and len(self._idle) + len(self._busy) + self._starting < self.min_workers
            ):
                self._starting += 1
                threading.Thread(
                    target=self._start, name="toolsafe-process-start", daemon=True
                ).start()
            waiting = wait and self.min_workers > 0 and not self._ready.is_set()
        if waiting:
            self._ready.wait(self.start_timeout)

    def _spec(self, tool: Tool, options: ToolOptions | None = None) -> _Spec:
        """The tool's pickled target (per drain bound: ``options``, a runtime's budget
        when not the tool's own, ``_drain.DRAIN_OPTIONS``), made once."""
        specs = self._specs.get(tool)
        if specs is None:
            specs = self._specs[tool] = {}
        bound = drain_bound(options or tool.options)
        spec = specs.get(bound)
        if spec is None:
            spec = _Spec(next(self._spec_ids), _dumps(target_of(tool, options=options)))
            specs[bound] = spec
        return spec

    # ------------------------------------------------------------------ one attempt

    async def run(
        self,
        tool: Tool,
        arguments: dict[str, Any],
        ctx: CallContext,
        *,
        timeout: float | None,
        key: str,
    ) -> Any:
        check_time_left(timeout, tool.name)
        spec = self._spec(tool, ctx.state.get(DRAIN_OPTIONS))
        try:
            call_blob = _dumps(tool.call_arguments(arguments, ctx.portable()))
        except Exception as exc:
            raise ToolFailure(
                f"the arguments of tool '{tool.name}' cannot be sent to a worker process: {exc}",
                type="ArgumentsNotSerializable",
            ) from exc
        loop = asyncio.get_running_loop()
        began = loop.time()
        worker = await self._checkout(timeout, tool.name)
        remaining = None if timeout is None else max(0.0, timeout - (loop.time() - began))
        blob = None if spec.id in worker.seen else spec.blob
        try:
            worker.conn.send_bytes(pickle.dumps(("run", spec.id, blob, call_blob)))
        except (OSError, ValueError):  # it died while idle: the body never ran
            self._lost(worker, killed=False)
            raise NotStartedTimeout(
                f"tool '{tool.name}': its worker process died before the call started"
            ) from None
        worker.seen.add(spec.id)
        fut: asyncio.Future[bytes | None] = loop.create_future()
        fd = worker.conn.fileno()
        loop.add_reader(fd, self._readable, worker, fut)
        timer = loop.call_later(remaining, _expire, fut) if remaining is not None else None
        worker.pending = (loop, fut)
        try:
            data = await fut
        except AttemptTimeout:
            data = self._arrived(worker)  # on a busy loop the timer may run before the reader
            if data is _NOTHING:
                self._lost(worker, killed=True, reason="timeout", tool=tool.name, key=key)
                raise AttemptTimeout(
                    f"tool '{tool.name}' did not finish within {timeout:.3g}s; "
                    f"its worker process (pid {worker.pid}) was killed"
                ) from None
        except _Closing:
            raise ToolFailure(
                f"tool '{tool.name}' was stopped during the call: its runtime was closed "
                f"and its worker process (pid {worker.pid}) killed",
                type=RUNTIME_CLOSED,
                hint="The tool may have done part of its work; the runtime is shut down.",
            ) from None
        except asyncio.CancelledError:
            self._lost(worker, killed=True, reason="cancelled", tool=tool.name, key=key)
            raise
        finally:
            worker.pending = None
            loop.remove_reader(fd)
            if timer is not None:
                timer.cancel()
        if data is None:
            code = await self._exit_code(worker)
            self._lost(worker, killed=False, reason="crashed", tool=tool.name, key=key)
            raise self._crash_error(tool.name, worker.pid, code)
        self._checkin(worker)
        return _raise_reply(data, tool.name, worker.pid)

    @staticmethod
    def _arrived(worker: _Worker) -> Any:
        """The reply already in the pipe (None: the worker died), else ``_NOTHING``."""
        try:
            if not worker.conn.poll(0):
                return _NOTHING
            return worker.conn.recv_bytes()
        except (EOFError, OSError):
            return None

    @staticmethod
    def _readable(worker: _Worker, fut: asyncio.Future[bytes | None]) -> None:
        if fut.done():
            return
        try:
            data: bytes | None = worker.conn.recv_bytes()
        except (EOFError, OSError):
            data = None  # the worker's end closed: it died
        fut.set_result(data)

    @staticmethod
    async def _exit_code(worker: _Worker) -> int | None:
        """The dead worker's exit code (it closed its pipe, so it is exiting now)."""
        for _ in range(100):
            code = cast("int | None", worker.proc.exitcode)
            if code is not None:
                return code
            await asyncio.sleep(0.005)
        return None

    @staticmethod
    def _crash_error(tool_name: str, pid: int, code: int | None) -> ToolFailure:
        oom = code == -signal.SIGKILL
        return ToolFailure(
            f"the worker process (pid {pid}) running tool '{tool_name}' died during the call "
            f"({_signal_name(code)})",
            type=WORKER_CRASHED,
            # Killed from outside (the OOM killer sends SIGKILL) may pass; a segfault or
            # os._exit from the tool itself will most likely happen again.
            retryable=oom,
            hint=(
                "Killed by SIGKILL: out of memory?"
                if oom
                else "The tool crashed its interpreter (a segfault, os._exit, abort)."
            ),
            details={"pid": pid, "exitcode": code},
        )

    # ------------------------------------------------------------------ workers

    async def _checkout(self, timeout: float | None, tool_name: str) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeClosed(tool_name)
            while self._idle:
                worker = self._idle.pop()
                if worker.proc.is_alive():
                    self._busy.add(worker)
                    return worker
                self._retire(worker)  # died while idle
            self._grow()
            waiter = self._waiters.push()
        granted, worker = await self._waiters.wait(waiter, timeout, self._lock, self._checkin)
        if granted and worker is None:  # close() woke every waiter
            raise RuntimeClosed(
                tool_name, "its runtime was closed while the call waited for a worker process"
            )
        if not granted:
            raise NotStartedTimeout(
                f"tool '{tool_name}' waited {timeout or 0:.3g}s for a worker process and never "
                f"started: all {self.max_workers} workers were busy or starting"
            )
        return cast(_Worker, worker)

    def _checkin(self, worker: _Worker | None) -> None:
        """A worker is free: hand it to the oldest waiter, or park it (lock not held)."""
        if worker is None:  # a waiter woken by close() gave back its "no worker"
            return
        with self._lock:
            self._busy.discard(worker)
            self._offer(worker)

    def _offer(self, worker: _Worker) -> None:
        """Lock held."""
        while True:
            waiter = self._waiters.pop_live()
            if waiter is None:
                self._idle.append(worker)
                return
            if self._waiters.grant(waiter, worker):
                self._busy.add(worker)
                return

    def _grow(self) -> None:
        """Start a worker when callers wait and the pool has room (lock held)."""
        live = len(self._idle) + len(self._busy) + self._starting
        if live < self.max_workers and self._starting < max(1, len(self._waiters) + 1):
            self._starting += 1
            threading.Thread(target=self._start, name="toolsafe-process-start", daemon=True).start()

    def _start(self) -> None:
        worker: _Worker | None = None
        try:
            parent, child = self._mp.Pipe(duplex=True)
            proc = self._mp.Process(
                target=_worker_main, args=(child,), name="toolsafe-worker", daemon=True
            )
            proc.start()
            child.close()
            if parent.poll(self.start_timeout):
                kind, pid = parent.recv()
                if kind == "ready":
                    worker = _Worker(proc, parent, pid)
            if worker is None:
                proc.kill()
                proc.join(5)
        except Exception as exc:
            self._notify("worker_start_failed", {"error": f"{type(exc).__name__}: {exc}"})
        with self._lock:
            self._starting -= 1
            if worker is None:
                self._failed_starts += 1
                self._ready.set()  # do not keep registration waiting on a broken start
                return
            self._started_total += 1
            self._ready.set()
            if self._closed:
                self._kill(worker)
                return
            self._offer(worker)

    def _lost(
        self,
        worker: _Worker,
        *,
        killed: bool,
        reason: str = "died",
        tool: str = "",
        key: str = "",
    ) -> None:
        """A worker is gone (killed by us, or dead): reap it and start a replacement."""
        if killed:
            self._kill(worker)
        with self._lock:
            self._busy.discard(worker)
            if killed:
                self._killed_total += 1
            elif reason == "crashed":
                self._crashed_total += 1
            self._replaced_total += 1
            if not self._closed:
                self._grow_replacement()
        self._retire(worker)
        self._notify(
            "worker_killed" if killed else "worker_crashed",
            {"key": key, "tool": tool, "pid": worker.pid, "reason": reason},
        )

    def _grow_replacement(self) -> None:
        """Lock held: keep the pool warm after a loss."""
        self._starting += 1
        threading.Thread(target=self._start, name="toolsafe-process-start", daemon=True).start()

    @staticmethod
    def _kill(worker: _Worker) -> None:
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except OSError:
            with contextlib.suppress(Exception):
                worker.proc.kill()

    @staticmethod
    def _retire(worker: _Worker) -> None:
        """Close our end and reap the process off the caller's thread."""
        with contextlib.suppress(Exception):
            worker.conn.close()
        threading.Thread(target=worker.proc.join, args=(10,), daemon=True).start()

    def _notify(self, kind: str, detail: dict[str, Any]) -> None:
        if self._on_event is not None:
            with contextlib.suppress(Exception):
                self._on_event(kind, {"backend": "process", **detail})

    # ------------------------------------------------------------------ stats & life cycle

    def pids(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        with self._lock:
            return [w.pid for w in [*self._idle, *self._busy]]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "processes": {
                    "idle": len(self._idle),
                    "busy": len(self._busy),
                    "starting": self._starting,
                    "waiting": len(self._waiters),
                    "max_workers": self.max_workers,
                    "started_total": self._started_total,
                    "killed_total": self._killed_total,
                    "crashed_total": self._crashed_total,
                    "replaced_total": self._replaced_total,
                    "failed_starts": self._failed_starts,
                    "context": self.context,
                }
            }

    def close(self) -> None:
        """Kill every worker (a hung one included) and reap them."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle.clear()
            self._busy.clear()
            while (waiter := self._waiters.pop_live()) is not None:
                self._waiters.grant(waiter, None)  # no worker: RuntimeClosed in _checkout
        for worker in workers:
            self._kill(worker)
            pending = worker.pending
            if pending is not None:  # its caller must not wait on a pipe nobody writes to
                with contextlib.suppress(RuntimeError):  # that loop is closed
                    pending[0].call_soon_threadsafe(_closing, pending[1])
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.conn.close()
            with contextlib.suppress(Exception):
                worker.proc.join(5)
        _LIVE.discard(self)


_LIVE: weakref.WeakSet[ProcessBackend] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:  # pragma: no cover - interpreter exit
    """Kill workers before multiprocessing's own exit handler would wait for them."""
    for backend in list(_LIVE):
        with contextlib.suppress(Exception):
            backend.close()
