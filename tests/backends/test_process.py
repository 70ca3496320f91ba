"""The process backend: hung tools killed, crashes contained, errors intact across the hop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _process_tools as pt
import psutil
import pytest

import toolsafe
from toolsafe import ConfigurationError, Retry, Runtime
from toolsafe.backends.process import ProcessBackend

#: Slack past a deadline on a loaded shared machine (a kill and a reply are milliseconds).
MARGIN = 1.0
#: Long enough for a worker on a loaded 2-core machine to start the body (0.3 s was not).
HANG_S = 1.0


@pytest.fixture(scope="module")
def rt() -> Iterator[Runtime]:
    tools = [
        pt.add,
        pt.async_double,
        pt.worker_pid,
        pt.busy,
        pt.fails,
        pt.unpicklable_result,
        toolsafe.tool(pt.Notebook()),
        pt.hang.with_options(timeout=HANG_S),
        pt.async_hang.with_options(deadline=HANG_S),
        pt.exits,
        pt.segfault,
        pt.killed,
    ]
    with Runtime(tools, backend=ProcessBackend(2, min_workers=2), timeout=30) as runtime:
        yield runtime


def _gone(pid: int, within: float = 10.0) -> bool:
    limit = time.monotonic() + within
    while time.monotonic() < limit:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                time.sleep(0.01)
                continue
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.01)
    return False


def test_results_cross_intact(rt: Runtime) -> None:
    assert rt.call("add", {"a": 2, "b": 3}).value == 5
    assert rt.call("async_double", {"a": 21}).value == 42  # async tools run in the worker too
    assert rt.call("worker_pid").value != psutil.Process().pid


async def test_async_twin(rt: Runtime) -> None:
    outcomes = await rt.acall_many([("add", {"a": i, "b": 1}) for i in range(20)])
    assert [o.value for o in outcomes] == [i + 1 for i in range(20)]


def test_exceptions_cross_with_type_message_and_classification(rt: Runtime) -> None:
    value = rt.call("fails", {"kind": "value"}).error
    assert value is not None and (value.type, value.message, value.retryable) == (
        "ValueError",
        "bad value 3",
        False,
    )
    assert isinstance(value.exception, ValueError)
    assert any("raised in worker process" in n for n in value.exception.__notes__)
    http = rt.call("fails", {"kind": "http"}).error
    assert http is not None and http.type == "HTTPError" and http.message == "HTTP 503"
    assert http.retryable and http.retry_after_s == 7  # classified here, from its attributes
    assert isinstance(http.exception, pt.HTTPError) and http.exception.status_code == 503
    quota = rt.call("fails", {"kind": "failure"}).error
    assert quota is not None and (quota.type, quota.retryable, quota.retry_after_s) == (
        "QuotaExceeded",
        True,
        2,
    )
    odd = rt.call("fails", {"kind": "unrebuildable"}).error
    assert odd is not None and (odd.type, odd.message) == ("Unrebuildable", "x/y")
    exit_ = rt.call("fails", {"kind": "exit"}).error
    assert exit_ is not None and exit_.type == "SystemExit"
    result = rt.call("unpicklable_result").error
    assert result is not None and result.type == "ResultNotSerializable"
    assert rt.call("add", {"a": 1, "b": 1}).value == 2  # the workers are fine


def test_class_based_tools_get_a_fresh_copy_per_call(rt: Runtime) -> None:
    outcomes = rt.call_many([("notebook", {"line": str(i)}) for i in range(6)])
    assert [o.value for o in outcomes] == [[str(i)] for i in range(6)]


@pytest.mark.parametrize("tool", ["hang", "async_hang"])
def test_a_hung_tool_is_killed_at_its_deadline(rt: Runtime, tool: str, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    killed_before = rt.stats()["backend"]["processes"]["killed_total"]
    began = time.monotonic()
    outcome = rt.call(tool, {"pid_file": str(pid_file)})
    spent = time.monotonic() - began
    assert outcome.error is not None and outcome.error.type == "TimeoutError"
    assert "killed" in outcome.error.message
    assert HANG_S - 0.05 <= spent <= HANG_S + MARGIN
    pid = int(pid_file.read_text())
    assert _gone(pid), f"worker {pid} still alive"
    assert pid not in rt.backend.pids()  # type: ignore[attr-defined]
    assert rt.stats()["backend"]["processes"]["killed_total"] == killed_before + 1
    assert rt.call("add", {"a": 1, "b": 2}).value == 3  # the pool carries on


@pytest.mark.parametrize(
    ("tool", "arguments", "cause", "retryable"),
    [
        ("exits", {"code": 3}, "exit code 3", False),
        ("segfault", {}, "signal SIGSEGV", False),
        ("killed", {}, "signal SIGKILL", True),
    ],
)
def test_a_crash_is_a_structured_error_and_the_pool_carries_on(
    rt: Runtime, tool: str, arguments: dict[str, Any], cause: str, retryable: bool
) -> None:
    crashed_before = rt.stats()["backend"]["processes"]["crashed_total"]
    outcome = rt.call(tool, arguments)
    assert outcome.error is not None and outcome.error.type == "WorkerCrashed"
    assert cause in outcome.error.message and outcome.error.retryable is retryable
    assert _gone(outcome.error.details["pid"])
    assert rt.stats()["backend"]["processes"]["crashed_total"] == crashed_before + 1
    assert [o.value for o in rt.call_many([("add", {"a": i, "b": 0}) for i in range(4)])] == [
        0,
        1,
        2,
        3,
    ]


def test_calls_wait_for_a_free_worker_then_time_out_unstarted() -> None:
    tools = [pt.busy.with_options(timeout=10), pt.add.with_options(timeout=0.2)]
    with Runtime(tools, backend=ProcessBackend(1, min_workers=1)) as runtime:
        assert runtime.call("busy", {"seconds": 0}).ok  # the worker is up
        result: list[Any] = []
        holder = threading.Thread(
            target=lambda: result.append(runtime.call("busy", {"seconds": 1.5}))
        )
        holder.start()
        time.sleep(0.2)
        starved = runtime.call("add", {"a": 1, "b": 1})
        holder.join(20)
    assert starved.error is not None and starved.error.type == "TimeoutError"
    assert "never started" in starved.error.message and toolsafe.is_rejection(starved.error)
    assert result and result[0].value == 1.5


def test_retries_of_a_hung_idempotent_tool_kill_each_attempt(tmp_path: Path) -> None:
    tool = pt.hang.with_options(timeout=0.2, deadline=1.0, retry=Retry(3, initial=0.01))
    with Runtime([tool], backend=ProcessBackend(2, min_workers=2), idempotent=True) as runtime:
        began = time.monotonic()
        outcome = runtime.call("hang", {"pid_file": str(tmp_path / "pid")})
        spent = time.monotonic() - began
        stats = runtime.stats()["backend"]["processes"]
    assert outcome.error is not None and outcome.error.type == "TimeoutError"
    # each attempt that started was killed; a retry may also find no worker restarted yet
    assert outcome.attempts >= 2 and 1 <= stats["killed_total"] <= outcome.attempts
    assert spent <= 1.0 + MARGIN


def test_unpicklable_tools_are_refused_at_registration() -> None:
    import threading as th

    def local(x: int) -> int:
        return x

    class Holder:
        def __init__(self) -> None:
            self.lock = th.Lock()

        def _run(self, x: int) -> int:
            return x

    backend = ProcessBackend(1, min_workers=0)
    try:
        with pytest.raises(ConfigurationError) as info:
            Runtime([toolsafe.tool(local), toolsafe.tool(Holder())], backend=backend)
        text = str(info.value)
        assert "local: cannot run on the process backend" in text
        assert "holder: cannot run on the process backend" in text
    finally:
        backend.close()


def test_close_kills_every_worker() -> None:
    runtime = Runtime([pt.worker_pid], backend=ProcessBackend(2, min_workers=2))
    pid = runtime.call("worker_pid").value
    pids = runtime.backend.pids()  # type: ignore[attr-defined]
    assert pid in pids
    runtime.close()
    assert all(_gone(p) for p in pids)


def test_a_returned_generator_is_consumed_in_the_worker_up_to_the_budget(rt: Runtime) -> None:
    rt.register(pt.endless_lines)
    outcome = rt.call("endless_lines")
    assert outcome.ok and outcome.trimmed, outcome.text
    assert outcome.full_text is not None and outcome.full_text.startswith('["line 0","line 1",')


def test_a_runtime_wide_budget_bounds_a_returned_generator_in_the_worker() -> None:
    # The worker's target carried only the tool's own budget: 1,000,000 characters
    # consumed, then trimmed to the runtime's 300.
    with Runtime(
        [pt.endless_numbers], backend=ProcessBackend(1), timeout=30, max_output_chars=300
    ) as runtime:
        outcome = runtime.call("endless_numbers")
    assert outcome.ok and outcome.trimmed, outcome.text
    assert outcome.full_text is not None and outcome.full_text.startswith("[0,1,2,")
    assert len(outcome.full_text) < 400  # consumption stopped just past the budget
    assert "not consumed past" not in outcome.full_text
