"""Hardened CrewAI tools against a flaky upstream (a local HTTP server) and huge outputs.

The server on 127.0.0.1 answers by key: ``flaky-*`` fails twice with 503 then
answers, ``down-*`` is always 503, ``gone-*`` is 404, ``stall-*`` holds the
request until the test ends.
The tool uses ``urllib`` with no timeout, as tools in the wild do.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

pytest.importorskip("crewai", reason="needs the crewai extra: pip install 'toolsafe[crewai]'")

from crewai.tools import BaseTool
from crewai.tools.tool_failure import ToolFailure

import toolsafe
from toolsafe import parse_tool_error
from toolsafe.integrations.crewai import harden
from toolsafe.policies.retry import RetryScheduled


class _Listener(ThreadingHTTPServer):
    # The default backlog (5) drops connects when many calls overlap, and a dropped SYN
    # is retried after 1 s: the doctor would rightly report that as tail latency.
    request_queue_size = 128
    daemon_threads = True

pytestmark = [
    pytest.mark.crewai,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:crewai.*"),
]

PATHS = [pytest.param(True, id="native"), pytest.param(False, id="react")]


class Upstream:
    """What the flaky server saw, and the switch that ends every stalled request."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.url = ""


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    state = Upstream()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            key = self.path.rsplit("/", 1)[-1]
            with state.lock:
                state.requests[key] += 1
                seen = state.requests[key]
            if key.startswith("stall-"):
                state.release.wait(120)
            if key.startswith("gone-"):
                self._send(404, {"detail": f"no item {key}"})
            elif key.startswith("down-"):
                self._send(503, {"detail": "down for maintenance"})
            elif key.startswith("flaky-") and seen <= 2:
                self._send(503, {"detail": "overloaded"})
            else:
                self._send(200, {"key": key, "stock": len(key)})

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = _Listener(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


class InventoryAPI(BaseTool):
    """An HTTP tool with no timeout of its own."""

    name: str = "get_item"
    description: str = "Fetch an item from the inventory service."
    base_url: str

    def _run(self, key: str) -> str:
        with urllib.request.urlopen(f"{self.base_url}/items/{key}") as response:
            return str(response.read().decode())


def _error_of(answer: str) -> toolsafe.ToolError:
    error = parse_tool_error(answer.removeprefix("ANSWER: ").splitlines()[0])
    assert error is not None, answer
    return error


TASK = "Get the item. CALL<get_item> ARGS<key={key}>"


async def test_transient_failures_are_retried_with_backoff_and_crews_finish(
    make_crew: Any, upstream: Upstream
) -> None:
    retries: list[RetryScheduled] = []
    tools = harden(
        [InventoryAPI(base_url=upstream.url)],
        timeout=10,
        retry=toolsafe.Retry(attempts=3, initial=0.05, multiplier=2, jitter="none"),
        idempotent=True,  # a GET: safe to repeat
        listeners=[lambda e: retries.append(e) if isinstance(e, RetryScheduled) else None],
    )
    keys = [f"flaky-{i:02d}" for i in range(20)]
    outputs = await make_crew(tools, TASK).kickoff_for_each_async([{"key": k} for k in keys])
    assert [o.raw for o in outputs] == [
        f'ANSWER: {{"key": "{k}", "stock": {len(k)}}}' for k in keys
    ]
    assert all(o.tasks_output[0].tool_failures == [] for o in outputs)
    assert upstream.requests == dict.fromkeys(keys, 3)  # two 503s, then the answer
    by_call: dict[str, list[float]] = {}
    for event in retries:
        by_call.setdefault(event.call_id, []).append(event.delay)
        assert event.error is not None and event.error.retryable
    assert sorted(by_call.values()) == [[0.05, 0.1]] * len(keys)  # growing waits, per call


@pytest.mark.parametrize("native", PATHS)
def test_permanent_failures_reach_the_agent_as_non_retryable_errors(
    make_crew: Any, upstream: Upstream, native: bool
) -> None:
    tools = harden(
        [InventoryAPI(base_url=upstream.url)],
        retry=toolsafe.Retry(attempts=3, initial=0.01),
        idempotent=True,
    )
    out = make_crew(tools, TASK.replace("{key}", "gone-7"), native=native).kickoff()
    error = _error_of(out.raw)
    assert (error.type, error.retryable, error.attempts) == ("HTTPError", False, 1)
    assert "404" in error.message
    assert upstream.requests == {"gone-7": 1}  # no retry, no re-execution by CrewAI
    [failure] = out.tasks_output[0].tool_failures
    assert failure.failure.retryable is False
    assert _error_of(failure.failure.message) == error


@pytest.mark.parametrize("native", PATHS)
def test_a_stalled_call_returns_at_its_timeout(
    make_crew: Any, upstream: Upstream, native: bool
) -> None:
    tools = harden([InventoryAPI(base_url=upstream.url)], timeout=0.5)
    out = make_crew(tools, TASK.replace("{key}", "stall-1"), native=native).kickoff()
    # The crew has finished while the upstream still holds the request.
    assert not upstream.release.is_set()
    error = _error_of(out.raw)
    assert (error.type, error.retryable, error.attempts) == ("TimeoutError", True, 1)
    assert error.elapsed_ms is not None and error.elapsed_ms >= 500
    assert upstream.requests == {"stall-1": 1}


def test_a_breaker_stops_calling_an_upstream_that_keeps_failing(
    make_crew: Any, upstream: Upstream
) -> None:
    tools = harden(
        [InventoryAPI(base_url=upstream.url)],
        breaker=toolsafe.Breaker(failures=2, cooldown=60),
    )
    errors = [
        _error_of(make_crew(tools, TASK.replace("{key}", key)).kickoff().raw)
        for key in ("down-1", "down-2", "down-3")
    ]
    assert [(e.type, e.retryable) for e in errors] == [
        ("HTTPError", True),
        ("HTTPError", True),
        ("CircuitOpen", True),
    ]
    assert errors[2].retry_after_s is not None and 0 < errors[2].retry_after_s <= 60
    assert upstream.requests == {"down-1": 1, "down-2": 1}  # the third never left


class InFlight:
    """Counts calls inside the gate at once; each call holds until 3 are in (or ``grace``)."""

    cond = threading.Condition()
    now = 0
    peak = 0
    grace = 1.0

    @classmethod
    def reset(cls, grace: float) -> None:
        cls.now = cls.peak = 0
        cls.grace = grace


class Gate(BaseTool):
    name: str = "gate"
    description: str = "Pass through a gate."

    def _run(self, key: str) -> str:
        with InFlight.cond:
            InFlight.now += 1
            InFlight.peak = max(InFlight.peak, InFlight.now)
            InFlight.cond.notify_all()
            InFlight.cond.wait_for(lambda: InFlight.peak >= 3, timeout=InFlight.grace)
            InFlight.now -= 1
        return key


async def test_a_concurrency_limit_holds_across_concurrent_crews(make_crew: Any) -> None:
    task = "Pass. CALL<gate> ARGS<key={key}>"
    keys = [f"g{i}" for i in range(6)]
    InFlight.reset(grace=10.0)
    await make_crew([Gate()], task).kickoff_for_each_async([{"key": k} for k in keys])
    assert InFlight.peak >= 3  # CrewAI alone lets them in together

    InFlight.reset(grace=0.3)  # with the limit, 3 never meet: each pair waits this long
    crew = make_crew([harden(Gate(), concurrency=2, timeout=30)], task)
    outputs = await crew.kickoff_for_each_async([{"key": k} for k in keys])
    assert [o.raw for o in outputs] == [f"ANSWER: {k}" for k in keys]
    assert InFlight.peak == 2


class Flaky(BaseTool):
    name: str = "flaky"
    description: str = "Fails with a dropped connection twice, then answers."
    runs: ClassVar[list[str]] = []

    def _run(self, key: str) -> str:
        Flaky.runs.append(key)
        if len(Flaky.runs) % 3:
            raise ConnectionResetError("connection reset by peer")
        return f"ok:{key}"


def test_retries_count_as_one_usage_of_the_tool() -> None:
    Flaky.runs = []
    tool = harden(
        Flaky(max_usage_count=2), retry=toolsafe.Retry(attempts=3, initial=0), idempotent=True
    )
    assert tool.run(key="a") == "ok:a"
    assert tool.run(key="b") == "ok:b"
    spent = tool.run(key="c")
    assert isinstance(spent, ToolFailure) and "usage limit of 2" in spent.message
    assert (tool.current_usage_count, len(Flaky.runs)) == (2, 6)


class Throttled(BaseTool):
    """Declares a retryable failure the CrewAI way (a returned ToolFailure) twice."""

    name: str = "throttled"
    description: str = "Answers on the third try."
    runs: ClassVar[int] = 0

    def _run(self, key: str) -> Any:
        Throttled.runs += 1
        if Throttled.runs < 3:
            return ToolFailure(message="slow down", code="rate_limited", retryable=True)
        return f"ok:{key}"


def test_a_retryable_tool_failure_the_tool_returns_is_retried_by_policy() -> None:
    Throttled.runs = 0
    tool = harden(Throttled(), retry=toolsafe.Retry(attempts=3, initial=0), idempotent=True)
    assert tool.run(key="x") == "ok:x"
    assert Throttled.runs == 3


class BigExport(BaseTool):
    name: str = "export"
    description: str = "Export the whole table."

    def _run(self, table: str) -> str:
        row = f"{table},0123456789,abcdefghijklmnopqrstuvwxyz\n"
        return row * (10_000_000 // len(row) + 1)


@pytest.mark.parametrize("native", PATHS)
def test_a_10mb_output_reaches_the_agent_trimmed_to_the_budget(
    make_crew: Any, native: bool, tmp_path: Path
) -> None:
    budget = 4000
    record = tmp_path / "calls.jsonl"
    tools = harden(
        [BigExport()], max_output_chars=budget, listeners=[toolsafe.JsonlRecorder(record)]
    )
    assert len(BigExport()._run(table="orders")) >= 10_000_000
    crew = make_crew(tools, "Export. CALL<export> ARGS<table=orders>", native=native)
    out = crew.kickoff()
    llm = crew.agents[0].llm
    [seen] = llm.tool_results(llm.received[-1])
    assert len(seen) <= budget
    assert toolsafe.TRIM_MARKER in seen
    assert seen.startswith("orders,0123456789,")
    assert out.raw == f"ANSWER: {seen}"
    # Recorded: one line for the call.
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line.get("tool") for line in lines] == ["export"]
