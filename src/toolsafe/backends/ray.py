"""Run tool attempts as Ray tasks, for when one machine is not enough.

``Runtime(backend="ray")`` starts a small local Ray instance on first use (or
reuses the connection this process already has); ``RayBackend(address=...)``
joins an existing cluster. The guarantees are those of the local backends:

- a timeout cancels the task with ``ray.cancel(force=True)``: the worker process
  running a hung sync tool is killed, and the call returns at its timeout;
- a worker that dies (``os._exit``, a segfault, an OOM kill, a lost node) gives
  the call a structured ``WorkerCrashed`` error;
- the tool's exception crosses back pickled, so its type name, message and
  attributes (an HTTP status, a Retry-After) are classified in the caller's
  process, with the caller's classifiers; an exception that cannot be pickled
  comes back as a ToolFailure of the same type name and message;
- tasks never retry on their own (``max_retries=0``): retrying is the pipeline's
  job, and only for idempotent tools.

Each task deserializes its own copy of a class-based tool, so per-call isolation
is automatic (and ``isolation="shared"`` cannot share anything across workers).
The tool body is shipped once per tool (``ray.put``); each call ships only its
arguments. Results come back whole and the runtime's output budget trims them, as
on every backend (so ``Outcome.trimmed`` and ``full_text`` are right); a returned
iterator is consumed in the worker up to that budget (``backends/_drain.py``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from toolsafe.backends._base import (
    WORKER_CRASHED,
    AttemptTimeout,
    EscapedBaseException,
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

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool, ToolOptions

__all__ = ["WORKER_CRASHED", "RayBackend"]

#: Object store size of a local instance we start (Ray's own default takes 30% of RAM).
_LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024


def _cloudpickle() -> Any:
    from ray import cloudpickle

    return cloudpickle


def _execute(target_blob: bytes, call_blob: bytes) -> bytes:
    """The Ray task body. Never raises: every outcome goes back as a pickled reply.

    Replies: ``("ok", value)`` or ``("err", exc_blob, type_name, message,
    traceback_text, retryable, retry_after_s)`` (``_remote``). Unpickling happens
    here, not in Ray, so a tool whose module the worker cannot import gets a clear
    error instead of a RaySystemError.
    """
    cloudpickle = _cloudpickle()
    try:
        target: Target = cloudpickle.loads(target_blob)
        args, kwargs = cloudpickle.loads(call_blob)
        value = run_target(target, args, kwargs, asyncio.run)
        try:
            return cast(bytes, cloudpickle.dumps(("ok", value)))
        except Exception as exc:
            return _error_reply(not_serializable(value, exc, "the Ray worker"), cloudpickle)
    except BaseException as exc:
        return _error_reply(exc, cloudpickle)


def _error_reply(exc: BaseException, cloudpickle: Any) -> bytes:
    reply = error_reply(exc, cloudpickle.dumps, cloudpickle.loads, frames=5)
    return cast(bytes, cloudpickle.dumps(reply))


def _raise_reply(reply: tuple[Any, ...], tool_name: str, cloudpickle: Any) -> Any:
    return raise_reply(reply, cloudpickle.loads, where="a Ray worker", tool_name=tool_name)


class RayBackend:
    """Runs every attempt (sync or async tools) as a Ray task.

    ``address``: a cluster to join (``"auto"``, ``"ray://host:10001"``); None starts a
    local instance on first use unless this process is already connected.
    ``num_cpus``: CPUs of that local instance (default ``min(4, cpu_count)``).
    ``task_options``: passed to ``.options()`` of every task (``num_cpus=0.25`` for
    I/O-bound tools packs more of them per core; ``resources``, ``runtime_env``).
    ``init_options``: extra ``ray.init`` arguments. A local instance gets the
    caller's ``sys.path`` as its workers' ``PYTHONPATH`` so tools defined in the
    caller's modules import there too; on a real cluster, ship code with a
    ``runtime_env`` as usual.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: int | None = None,
        task_options: Mapping[str, Any] | None = None,
        init_options: Mapping[str, Any] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.task_options: dict[str, Any] = dict(task_options or {})
        self.init_options: dict[str, Any] = dict(init_options or {})
        self.on_event = on_event
        self._lock = threading.Lock()
        self._remote: Any = None
        self._started_ray = False
        self._targets: weakref.WeakKeyDictionary[Tool, Any] = weakref.WeakKeyDictionary()

    # ------------------------------------------------------------------ set-up

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigurationError(
                ["the ray backend needs Ray: pip install 'toolsafe[ray]'"]
            ) from exc
        return ray

    def _ensure(self) -> Any:
        """Connect to Ray once (lazily) and build the remote function."""
        if self._remote is not None:
            return self._remote
        ray = self._ray()
        with self._lock:
            if self._remote is not None:
                return self._remote
            if not ray.is_initialized():
                self._init(ray)
            options: dict[str, Any] = {"max_retries": 0, "num_cpus": 1}
            options.update(self.task_options)
            self._remote = ray.remote(**options)(_execute)
            return self._remote

    def _init(self, ray: Any) -> None:
        options: dict[str, Any] = {
            "address": self.address,
            "include_dashboard": False,
            "log_to_driver": False,
            "ignore_reinit_error": True,
        }
        if self.address is None:
            options["num_cpus"] = self.num_cpus or min(4, os.cpu_count() or 1)
            options["object_store_memory"] = _LOCAL_OBJECT_STORE_BYTES
            env = dict(self.init_options.get("runtime_env") or {})
            env_vars = dict(env.get("env_vars") or {})
            env_vars.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
            env["env_vars"] = env_vars
            options["runtime_env"] = env
        options.update({k: v for k, v in self.init_options.items() if k != "runtime_env"})
        ray.init(**options)
        self._started_ray = True

    def check(self, tool: Tool) -> list[str]:
        """A tool must pickle (cloudpickle) to reach a worker: say so at registration."""
        if not tool.runnable:
            return []  # the runtime reports schema-only tools itself
        try:
            _cloudpickle().dumps(self._target(tool))
        except Exception as exc:
            return [
                f"cannot run on the ray backend: the tool cannot be pickled ({exc}); "
                "define it at module level and keep locks, sockets and clients out of "
                "its instance (create them inside the call)"
            ]
        return []

    @staticmethod
    def _target(tool: Tool, options: ToolOptions | None = None) -> Target:
        # Each task unpickles its own instance: that is the per-call copy already.
        return target_of(tool, copies=False, options=options)

    def _target_ref(self, tool: Tool, options: ToolOptions | None = None) -> Any:
        """The tool's target in Ray's object store (per drain bound: ``options``, a
        runtime's budget when not the tool's own, ``_drain.DRAIN_OPTIONS``)."""
        refs = self._targets.get(tool)
        if refs is None:
            refs = self._targets[tool] = {}
        bound = drain_bound(options or tool.options)
        ref = refs.get(bound)
        if ref is None:
            ref = self._ray().put(_cloudpickle().dumps(self._target(tool, options)))
            refs[bound] = ref
        return ref

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
        remote = self._ensure()
        ray = self._ray()
        cloudpickle = _cloudpickle()
        args, kwargs = tool.call_arguments(arguments, ctx.portable())
        try:
            call_blob = cloudpickle.dumps((args, kwargs))
        except Exception as exc:
            raise ToolFailure(
                f"the arguments of tool '{tool.name}' cannot be pickled for a Ray worker: {exc}",
                type="ArgumentsNotSerializable",
            ) from exc
        ref = remote.remote(self._target_ref(tool, ctx.state.get(DRAIN_OPTIONS)), call_blob)
        waiter = asyncio.wrap_future(ref.future())
        try:
            blob = await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            ray.cancel(ref, force=True)
            self._emit("task_cancelled", key, tool.name, timeout=timeout)
            raise AttemptTimeout(
                f"tool '{tool.name}' did not finish within {timeout:.3g}s; "
                "its Ray task was cancelled and its worker killed"
            ) from None
        except asyncio.CancelledError:
            ray.cancel(ref, force=True)
            raise
        except ray.exceptions.RayError as exc:
            raise self._ray_error(exc, tool.name, key) from None
        return _raise_reply(cloudpickle.loads(blob), tool.name, cloudpickle)

    def _ray_error(self, exc: BaseException, tool_name: str, key: str) -> BaseException:
        """Turn Ray's own failures (not the tool's) into structured errors."""
        rex = self._ray().exceptions
        crash = (
            rex.WorkerCrashedError,
            rex.NodeDiedError,
            rex.OutOfMemoryError,
            rex.ObjectLostError,
            rex.OwnerDiedError,
            rex.LocalRayletDiedError,
        )
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, crash):
            self._emit("worker_crashed", key, tool_name, ray_error=type(exc).__name__)
            return ToolFailure(
                f"the Ray worker running tool '{tool_name}' died during the call "
                f"({type(exc).__name__}: {first_line})",
                type=WORKER_CRASHED,
                retryable=isinstance(exc, (rex.NodeDiedError, rex.OutOfMemoryError)),
                hint="The tool crashed its process (os._exit, a segfault, or memory).",
            )
        if isinstance(exc, rex.TaskCancelledError):
            return ToolFailure(
                f"the Ray task of tool '{tool_name}' was cancelled",
                type="Cancelled",
                retryable=True,
            )
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException) and not isinstance(cause, rex.RayError):
            return cause if isinstance(cause, Exception) else EscapedBaseException(cause)
        return ToolFailure(
            f"Ray could not run tool '{tool_name}': {type(exc).__name__}: {first_line}",
            type="RayError",
            retryable=isinstance(exc, (rex.ObjectStoreFullError, rex.RpcError)),
        )

    def _emit(self, kind: str, key: str, tool_name: str, **detail: Any) -> None:
        if self.on_event is not None:
            self.on_event(kind, {"key": key, "tool": tool_name, "backend": "ray", **detail})

    def close(self) -> None:
        """Shut Ray down only when this backend started it."""
        self._targets = weakref.WeakKeyDictionary()
        with self._lock:
            self._remote = None
            if self._started_ray:
                self._started_ray = False
                ray = self._ray()
                if ray.is_initialized():
                    ray.shutdown()
