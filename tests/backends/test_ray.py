"""The Ray backend on a real local Ray instance: same ToolError guarantees as local backends.

One Ray instance serves the whole module (starting one takes seconds).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

pytest.importorskip("ray")

import toolsafe
from toolsafe import ConfigurationError, Runtime, ToolFailure
from toolsafe.backends.ray import WORKER_CRASHED, RayBackend

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_instance():
    """Start Ray once for the module; runtimes below join it and leave it running."""
    owner = RayBackend(num_cpus=2)
    owner._ensure()
    yield
    owner.close()


@pytest.fixture
def backend(ray_instance: None) -> RayBackend:
    return RayBackend()


@pytest.fixture
def rt(backend: RayBackend):
    runtime = Runtime(backend=backend, timeout=30)
    yield runtime
    runtime.close()


class UpstreamError(Exception):
    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@toolsafe.tool
def double(x: int) -> int:
    """Double x; multiples of 7 fail."""
    if x % 7 == 0:
        raise ValueError(f"seven divides {x}")
    return 2 * x


@toolsafe.tool
async def adouble(x: int) -> int:
    """Double x, asynchronously."""
    await asyncio.sleep(0)
    return 2 * x


@toolsafe.tool
def flaky_upstream(code: int) -> str:
    """Fail the way an HTTP client does."""
    raise UpstreamError(f"upstream said {code}", code)


@toolsafe.tool
def quota() -> str:
    """State the error explicitly."""
    raise ToolFailure("quota exhausted", retryable=True, retry_after_s=7.5, type="QuotaExceeded")


class LockedError(ConnectionError):
    """A transient error holding something that cannot be pickled."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


@toolsafe.tool
def locked_failure() -> str:
    """Fail with an exception that cannot cross back."""
    raise LockedError("socket reset while holding a lock")


@toolsafe.tool
def hang(pid_file: str) -> str:
    """Write this worker's pid, then hang in sync code that no timeout can interrupt."""
    Path(pid_file).write_text(str(os.getpid()))
    while True:
        time.sleep(0.05)


@toolsafe.tool
def crash() -> str:
    """Kill the worker process outright."""
    os._exit(3)


@toolsafe.tool
def where() -> int:
    """The pid of the process running the tool."""
    return os.getpid()


@toolsafe.tool(max_output_chars=200)
def huge(n: int) -> str:
    """A result far larger than its budget."""
    return "x" * n


@toolsafe.tool(max_output_chars=100)
def endless_lines() -> Iterator[str]:
    """An endless generator: consumed in the worker until it passes the budget."""
    i = 0
    while True:
        yield f"line {i}"
        i += 1


@toolsafe.tool
def endless_numbers() -> Iterator[int]:
    """An endless generator with no budget of its own (a runtime-wide one bounds it)."""
    i = 0
    while True:
        yield i
        i += 1


class Counter:
    """A class-based tool that writes to self on every call."""

    name = "counter"

    def __init__(self) -> None:
        self.calls = 0

    def _run(self, step: int) -> int:
        """Count."""
        self.calls += step
        return self.calls


def test_batch_of_1000_keeps_order_and_every_outcome(rt: Runtime) -> None:
    rt.register(double)
    outcomes = rt.call_many([("double", {"x": i}) for i in range(1000)])
    assert len(outcomes) == 1000
    for i, outcome in enumerate(outcomes):
        if i % 7 == 0:
            assert not outcome.ok
            assert outcome.error is not None
            assert outcome.error.type == "ValueError"
            assert outcome.error.message == f"seven divides {i}"
            assert outcome.error.retryable is False
        else:
            assert outcome.ok, outcome.text
            assert outcome.value == 2 * i


def test_tool_runs_in_another_process(rt: Runtime) -> None:
    rt.register(where)
    pid = rt.call("where").unwrap()
    assert isinstance(pid, int)
    assert pid != os.getpid()


async def test_async_tool(rt: Runtime) -> None:
    rt.register(adouble)
    outcome = await rt.acall("adouble", {"x": 21})
    assert outcome.ok, outcome.text
    assert outcome.value == 42


def test_error_type_message_and_attributes_survive_the_hop(rt: Runtime) -> None:
    rt.register(flaky_upstream)
    rt.register(quota)
    server = rt.call("flaky_upstream", {"code": 503}).error
    assert server is not None
    assert (server.type, server.message, server.retryable) == (
        "UpstreamError",
        "upstream said 503",
        True,
    )
    client = rt.call("flaky_upstream", {"code": 404}).error
    assert client is not None and client.retryable is False
    explicit = rt.call("quota").error
    assert explicit is not None
    assert (explicit.type, explicit.message, explicit.retryable, explicit.retry_after_s) == (
        "QuotaExceeded",
        "quota exhausted",
        True,
        7.5,
    )


def test_an_unpicklable_exception_keeps_its_name_message_and_verdict(rt: Runtime) -> None:
    rt.register(locked_failure)
    error = rt.call("locked_failure").error
    assert error is not None
    assert (error.type, error.message, error.retryable) == (
        "LockedError",
        "socket reset while holding a lock",
        True,
    )


def test_remote_traceback_is_kept_when_asked_for(backend: RayBackend) -> None:
    with Runtime([flaky_upstream], backend=backend, include_traceback=True) as runtime:
        error = runtime.call("flaky_upstream", {"code": 500}).error
    assert error is not None and error.traceback is not None
    assert "raised in a Ray worker" in error.traceback
    assert "raise UpstreamError" in error.traceback


def test_hung_sync_tool_is_killed_at_its_timeout(rt: Runtime, tmp_path: Path) -> None:
    rt.register(hang, timeout=1.5)
    pid_file = tmp_path / "pid"
    began = time.monotonic()
    outcome = rt.call("hang", {"pid_file": str(pid_file)})
    elapsed = time.monotonic() - began
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.type == "TimeoutError"
    assert outcome.error.retryable is True
    assert "cancelled" in outcome.error.message
    assert 1.5 <= elapsed < 6.0
    pid = int(pid_file.read_text())
    assert pid != os.getpid()
    give_up = time.monotonic() + 15
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < give_up, "the hung worker is still alive"
        time.sleep(0.1)


def test_os_exit_gives_a_structured_error_and_the_backend_carries_on(rt: Runtime) -> None:
    rt.register(crash)
    rt.register(double)
    outcome = rt.call("crash")
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.type == WORKER_CRASHED
    assert outcome.error.retryable is False
    assert "died" in outcome.error.message
    assert outcome.text.startswith('Error executing tool: {"error": true, "type": "WorkerCrashed"')
    assert rt.call("double", {"x": 4}).value == 8


def test_each_call_gets_a_fresh_copy_of_a_class_based_tool(rt: Runtime) -> None:
    counter = Counter()
    rt.register(counter)
    assert [rt.call("counter", {"step": 5}).value for _ in range(3)] == [5, 5, 5]
    assert counter.calls == 0


def test_a_large_result_is_trimmed_by_the_runtime_budget_as_on_every_backend(
    rt: Runtime,
) -> None:
    rt.register(huge)
    outcome = rt.call("huge", {"n": 100_000})
    assert outcome.ok and outcome.trimmed
    assert len(outcome.text) <= 200 and "trimmed" in outcome.text
    assert outcome.full_text == "x" * 100_000  # the worker sent it whole: nothing lost


def test_a_returned_generator_is_consumed_in_the_worker_up_to_the_budget(rt: Runtime) -> None:
    rt.register(endless_lines)
    outcome = rt.call("endless_lines")
    assert outcome.ok and outcome.trimmed
    assert outcome.full_text is not None and outcome.full_text.startswith('["line 0","line 1",')


def test_a_runtime_wide_budget_bounds_a_returned_generator_in_the_worker(
    backend: RayBackend,
) -> None:
    # The task's target carried only the tool's own budget (1,000,000 characters).
    with Runtime([endless_numbers], backend=backend, timeout=30, max_output_chars=300) as rt:
        outcome = rt.call("endless_numbers")
    assert outcome.ok and outcome.trimmed, outcome.text
    assert outcome.full_text is not None and outcome.full_text.startswith("[0,1,2,")
    assert len(outcome.full_text) < 400 and "not consumed past" not in outcome.full_text


def test_unpicklable_tool_is_refused_at_registration(rt: Runtime) -> None:
    class Locked:
        name = "locked"

        def __init__(self) -> None:
            self.lock = threading.Lock()

        def _run(self) -> str:
            """Hold a lock."""
            return "no"

    with pytest.raises(ConfigurationError, match="cannot be pickled"):
        rt.register(Locked())


def test_backend_by_name_reuses_the_connection(ray_instance: None) -> None:
    with Runtime([double], backend="ray") as runtime:
        assert runtime.backend.name == "ray"
        assert runtime.call("double", {"x": 5}).value == 10
    import ray

    assert ray.is_initialized()  # closing a runtime does not stop a Ray it did not start


def test_caller_deadline_cancels_the_task(rt: Runtime, tmp_path: Path) -> None:
    rt.register(hang, timeout=30, deadline=1.0)
    outcome: Any = rt.call("hang", {"pid_file": str(tmp_path / "pid")})
    assert outcome.error.type == "TimeoutError"
    assert outcome.elapsed_ms < 6000
