"""The runtime: every call ends in an Outcome, batches keep order, siblings are independent."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from typing import Any

import pytest
from pydantic import BaseModel

import toolsafe
from toolsafe import CallContext, Outcome, Runtime, ToolCall, parse_tool_error
from toolsafe.observe import events as ev


@toolsafe.tool
def add(a: int, b: int = 0) -> int:
    """Add two integers."""
    return a + b


@toolsafe.tool
async def aadd(a: int, b: int = 0) -> int:
    """Add two integers, asynchronously."""
    await asyncio.sleep(0)
    return a + b


class Point(BaseModel):
    x: int
    y: int


@dataclasses.dataclass
class Pair:
    left: str
    right: str


@toolsafe.tool
def shapes(kind: str) -> Any:
    """Return values of several kinds."""
    if kind == "dict":
        return {"a": [1, 2], "b": None}
    if kind == "model":
        return Point(x=1, y=2)
    if kind == "dataclass":
        return Pair("l", "r")
    if kind == "none":
        return None
    if kind == "object":
        return object()
    return kind


@pytest.fixture
def rt() -> Any:
    with Runtime([add, aadd, shapes], timeout=5) as runtime:
        yield runtime


def _call(runtime: Runtime, mode: str, name: str, args: Any) -> Outcome:
    if mode == "sync":
        return runtime.call(name, args)
    return asyncio.run(runtime.acall(name, args))


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("name", ["add", "aadd"])
def test_ok_call_twins(rt: Runtime, mode: str, name: str) -> None:
    outcome = _call(rt, mode, name, {"a": 2, "b": 3})
    assert outcome.ok and outcome.value == 5 and outcome.text == "5"
    assert outcome.error is None and outcome.attempts == 1 and outcome.tool == name
    assert outcome.unwrap() == 5


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_invalid_arguments_never_run_and_name_fields(rt: Runtime, mode: str) -> None:
    outcome = _call(rt, mode, "add", '{"a": "2", "zzz": 1}')
    assert not outcome.ok and outcome.attempts == 0
    assert outcome.error is not None and outcome.error.type == "InvalidArguments"
    assert outcome.error.retryable is False
    fields = {d["field"] for d in outcome.error.details}
    assert fields == {"a", "zzz"}
    parsed = parse_tool_error(outcome.text)
    assert parsed is not None and parsed.type == "InvalidArguments"
    with pytest.raises(toolsafe.ToolCallError) as info:
        outcome.unwrap()
    assert info.value.error.type == "InvalidArguments"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_unknown_tool_suggests_closest(rt: Runtime, mode: str) -> None:
    outcome = _call(rt, mode, "ad", {"a": 1})
    assert outcome.error is not None and outcome.error.type == "UnknownTool"
    assert outcome.error.details["suggestion"] == "add"
    assert sorted(outcome.error.details["available"]) == ["aadd", "add", "shapes"]
    assert "Did you mean 'add'?" in outcome.text
    assert outcome.error.cause is None


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("dict", '{"a":[1,2],"b":null}'),
        ("model", '{"x":1,"y":2}'),
        ("dataclass", '{"left":"l","right":"r"}'),
        ("none", "null"),
        ("plain", "plain"),
    ],
)
def test_results_are_serialized_for_the_model(rt: Runtime, kind: str, text: str) -> None:
    outcome = rt.call("shapes", {"kind": kind})
    assert outcome.ok and outcome.text == text


def test_unserializable_result_is_a_structured_error(rt: Runtime) -> None:
    outcome = rt.call("shapes", {"kind": "object"})
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.type == "ResultNotSerializable"
    assert outcome.error.retryable is False
    assert "object" in outcome.error.message


# --------------------------------------------------------------------------- batches


def test_batch_keeps_order_and_isolates_failures() -> None:
    @toolsafe.tool(timeout=0.3)
    def hang(x: int) -> int:
        """Hang past the timeout."""
        time.sleep(1.5)
        return x

    @toolsafe.tool
    def crash(kind: str) -> str:
        """Raise things that are not ordinary exceptions."""
        if kind == "exit":
            raise SystemExit(3)
        if kind == "recursion":

            def down(n: int) -> int:
                return down(n + 1) + 1

            return str(down(0))
        if kind == "memory":
            raise MemoryError("cannot allocate 10 GB")
        if kind == "interrupt":
            raise KeyboardInterrupt
        raise ValueError(kind)

    with Runtime([add, aadd, hang, crash]) as runtime:
        calls = [
            ToolCall("c1", "add", {"a": 1}),
            ToolCall("c2", "hang", {"x": 1}),
            ToolCall("c3", "crash", {"kind": "exit"}),
            ToolCall("c4", "aadd", {"a": 4}),
            ToolCall("c5", "crash", {"kind": "recursion"}),
            ToolCall("c6", "crash", {"kind": "memory"}),
            ToolCall("c7", "crash", {"kind": "interrupt"}),
            ToolCall("c8", "nope", {}),
            ToolCall("c9", "add", {"a": 9}),
        ]
        started = time.monotonic()
        outcomes = runtime.call_many(calls)
        elapsed = time.monotonic() - started
    assert [o.call_id for o in outcomes] == [c.id for c in calls]
    assert [o.ok for o in outcomes] == [True, False, False, True, False, False, False, False, True]
    assert outcomes[0].value == 1 and outcomes[3].value == 4 and outcomes[8].value == 9
    types = [o.error.type if o.error else None for o in outcomes]
    assert types[1] == "TimeoutError" and outcomes[1].error.retryable  # type: ignore[union-attr]
    assert types[2:8] == [
        "SystemExit",
        None,
        "RecursionError",
        "MemoryError",
        "KeyboardInterrupt",
        "UnknownTool",
    ]
    assert elapsed < 1.4  # the hung call returned at its timeout, not after its sleep


async def test_async_batch_respects_max_concurrency() -> None:
    peak = 0
    active = 0

    @toolsafe.tool
    async def probe(i: int) -> int:
        """Measure concurrency."""
        nonlocal peak, active
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.005)
        active -= 1
        return i

    runtime = Runtime([probe], max_concurrency=7)
    outcomes = await runtime.acall_many([("probe", {"i": i}) for i in range(60)])
    assert [o.value for o in outcomes] == list(range(60))
    assert peak == 7
    runtime.close()


async def test_serial_mode_runs_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSAFE_SERIAL", "1")
    peak = 0
    active = 0

    @toolsafe.tool
    async def probe(i: int) -> int:
        """Measure concurrency."""
        nonlocal peak, active
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.001)
        active -= 1
        return i

    runtime = Runtime([probe])
    assert runtime.serial
    outcomes = await runtime.acall_many([("probe", {"i": i}) for i in range(10)])
    assert [o.value for o in outcomes] == list(range(10)) and peak == 1


def test_batch_accepts_dicts_tuples_and_toolcalls(rt: Runtime) -> None:
    outcomes = rt.call_many(
        [
            {"id": "x", "name": "add", "arguments": '{"a": 1}'},
            ("add", {"a": 2}),
            ToolCall(None, "add", {"a": 3}),
        ]
    )
    assert [o.value for o in outcomes] == [1, 2, 3]
    assert outcomes[0].call_id == "x" and outcomes[2].call_id


# --------------------------------------------------------------------------- timeouts & threads


def test_sync_call_from_inside_a_running_loop(rt: Runtime) -> None:
    async def main() -> Outcome:
        return rt.call("add", {"a": 40, "b": 2})  # a sync callback inside async code

    assert asyncio.run(main()).value == 42


def test_calls_from_many_threads(rt: Runtime) -> None:
    results: dict[int, Any] = {}

    def worker(i: int) -> None:
        results[i] = rt.call("aadd", {"a": i, "b": 1}).value

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: i + 1 for i in range(16)}


async def test_async_timeout_cancels_the_tool() -> None:
    cancelled = asyncio.Event()

    @toolsafe.tool(timeout=0.05)
    async def sleepy() -> str:
        """Sleep forever."""
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    runtime = Runtime([sleepy])
    outcome = await runtime.acall("sleepy")
    assert outcome.error is not None and outcome.error.type == "TimeoutError"
    assert outcome.error.retryable and "cancelled" in outcome.error.message
    assert cancelled.is_set()


def test_deadline_caps_the_attempt_timeout() -> None:
    @toolsafe.tool(timeout=10, deadline=0.2)
    def slow() -> str:
        """Slower than the deadline."""
        time.sleep(1)
        return "late"

    with Runtime([slow]) as runtime:
        started = time.monotonic()
        outcome = runtime.call("slow")
        assert time.monotonic() - started < 0.9
    assert outcome.error is not None and outcome.error.type == "TimeoutError"


def test_stuck_threads_are_counted_and_the_pool_stays_bounded() -> None:
    release = threading.Event()

    @toolsafe.tool(timeout=0.05)
    def stuck() -> str:
        """Ignore the timeout until released."""
        release.wait(10)
        return "done"

    runtime = Runtime([stuck, add], sync_workers=4, max_abandoned_threads=2)
    try:
        outcomes = runtime.call_many([("stuck", {}) for _ in range(6)])
        assert all(o.error is not None and o.error.type == "TimeoutError" for o in outcomes)
        pool = runtime.backend.pool  # type: ignore[attr-defined]
        stats = pool.stats()
        assert stats.stuck >= 2
        assert stats.threads <= 4 + 2  # max_workers + max_abandoned: bounded
        # Another tool still gets a worker: the stuck tool only holds its share.
        assert runtime.call("add", {"a": 1}).value == 1
    finally:
        release.set()
        runtime.close()


async def test_caller_cancellation_propagates() -> None:
    @toolsafe.tool
    async def forever() -> str:
        """Never returns."""
        await asyncio.sleep(3600)
        return "x"

    runtime = Runtime([forever])
    task = asyncio.ensure_future(runtime.acall("forever"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_tool_raising_cancelled_error_is_a_tool_error() -> None:
    @toolsafe.tool
    async def odd() -> str:
        """Raise CancelledError itself, without being cancelled."""
        raise asyncio.CancelledError("upstream task was cancelled")

    runtime = Runtime([odd])
    outcome = await runtime.acall("odd")
    assert outcome.error is not None and outcome.error.type == "CancelledError"


# --------------------------------------------------------------------------- isolation


class SearchTool:
    """Search, remembering the last query on the instance (the classic shared-state bug)."""

    def __init__(self) -> None:
        self.last_query = ""
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def _run(self, query: str) -> str:
        self.last_query = query
        self.seen.append(query)
        time.sleep(0.01)
        return f"{self.last_query}:{len(self.seen)}"


def test_instances_are_isolated_per_call() -> None:
    original = SearchTool()
    with Runtime([original]) as runtime:
        outcomes = runtime.call_many([("search_tool", {"query": f"q{i}"}) for i in range(40)])
        tool = runtime.get("search_tool")
    assert [o.text for o in outcomes] == [f"q{i}:1" for i in range(40)]
    assert original.last_query == "" and original.seen == []
    assert tool.mutated_attributes >= {"last_query"}
    # What calls change in place is copied; the rebound str and the lock no call takes
    # are shared (the per-call copy has its own __dict__, so a rebinding stays on it).
    report = tool.isolation_report
    assert report is not None and report.mode == "copy"
    assert report.copied == ("seen",) and report.shared == ("last_query", "lock")
    assert report.written == ("last_query", "seen") and report.carried == ()
    assert tool.not_isolated == ()


def test_uncopyable_attributes_are_reported() -> None:
    class WithSocket:
        def __init__(self) -> None:
            import socket

            self.sock = socket.socket()
            self.calls = 0

        def run(self, n: int) -> int:
            self.sock.fileno()  # a call uses the socket: it would need a copy
            self.calls += n
            return self.calls

    obj = WithSocket()
    try:
        with pytest.warns(UserWarning, match="a call reads and then rebinds calls"):
            tool = toolsafe.tool(obj)
        assert tool.not_isolated == ("sock",)
        assert tool.isolation_report is not None and tool.isolation_report.carried == ("calls",)
        with Runtime([tool]) as runtime:
            assert [o.value for o in runtime.call_many([("with_socket", {"n": 2})] * 5)] == [2] * 5
        assert obj.calls == 0
    finally:
        obj.sock.close()


def test_shared_isolation_is_opt_in() -> None:
    original = SearchTool()
    with Runtime([toolsafe.tool(original, isolation="shared")]) as runtime:
        runtime.call_many([("search_tool", {"query": f"q{i}"}) for i in range(5)])
    assert sorted(original.seen) == [f"q{i}" for i in range(5)]


def test_factory_isolation_builds_a_fresh_instance_per_call() -> None:
    made: list[SearchTool] = []

    def factory() -> SearchTool:
        made.append(SearchTool())
        return made[-1]

    with Runtime([toolsafe.tool(SearchTool(), isolation=factory)]) as runtime:
        outcomes = runtime.call_many([("search_tool", {"query": "z"})] * 3)
    assert [o.text for o in outcomes] == ["z:1"] * 3 and len(made) == 3


# --------------------------------------------------------------------------- context, listeners, names


def test_call_context_is_injected_not_exposed() -> None:
    @toolsafe.tool
    def whoami(ctx: CallContext, greeting: str) -> str:
        """Say who is calling."""
        return f"{greeting} {ctx.call_id} attempt {ctx.attempt}"

    assert set(whoami.json_schema["properties"]) == {"greeting"}
    with Runtime([whoami]) as runtime:
        outcome = runtime.call("whoami", {"greeting": "hi"}, call_id="abc")
    assert outcome.value == "hi abc attempt 1"


def test_listeners_see_every_step_and_cannot_break_a_call(rt: Runtime) -> None:
    seen: list[ev.Event] = []

    def broken(event: ev.Event) -> None:
        raise RuntimeError("listener bug")

    rt.add_listener(broken)
    rt.add_listener(seen.append)
    ok = rt.call("add", {"a": 1}, call_id="k1")
    bad = rt.call("add", {"a": "x"}, call_id="k2")
    assert ok.ok and not bad.ok
    kinds = [(type(e).__name__, e.call_id) for e in seen]
    assert kinds == [
        ("CallStarted", "k1"),
        ("CallValidated", "k1"),
        ("AttemptStarted", "k1"),
        ("AttemptFinished", "k1"),
        ("CallFinished", "k1"),
        ("CallStarted", "k2"),
        ("CallFailed", "k2"),
    ]
    finished = seen[4]
    assert isinstance(finished, ev.CallFinished) and finished.outcome is not None
    assert finished.outcome.value == 1


def test_dotted_names_export_and_map_back() -> None:
    @toolsafe.tool(name="math.factorial")
    def factorial(number: int) -> int:
        """Factorial."""
        import math

        return math.factorial(number)

    assert factorial.to_openai()["function"]["name"] == "math_factorial"
    assert factorial.to_mcp()["name"] == "math.factorial"
    with Runtime([factorial]) as runtime:
        assert runtime.call("math_factorial", {"number": 5}).value == 120
        assert runtime.call("math.factorial", {"number": 4}).value == 24


def test_registration_reports_every_problem_together() -> None:
    def no_hints(x):  # type: ignore[no-untyped-def]
        return x

    def star(*args: int) -> int:
        return 0

    with pytest.raises(toolsafe.ConfigurationError) as info:
        Runtime([add, add, no_hints, star])
    problems = info.value.problems
    assert len(problems) == 3
    assert any("already registered" in p for p in problems)
    assert any("no type annotation" in p for p in problems)
    assert any("*args" in p for p in problems)


def test_traceback_is_opt_in() -> None:
    @toolsafe.tool
    def boom() -> str:
        """Fail."""
        raise ValueError("bad value")

    with Runtime([boom]) as quiet, Runtime([boom], include_traceback=True) as loud:
        assert quiet.call("boom").error.traceback is None  # type: ignore[union-attr]
        tb = loud.call("boom").error.traceback  # type: ignore[union-attr]
    assert tb is not None and "bad value" in tb and "in boom" in tb


def test_public_all_is_complete_and_importable() -> None:
    public = {n for n in dir(toolsafe) if not n.startswith("_")}
    modules = {"errors", "observe", "backends", "policies", "stores", "integrations", "cli"}
    missing = {n for n in public - set(toolsafe.__all__) - modules if not _is_module(n)}
    assert missing == set(), f"public names missing from __all__: {missing}"
    for name in toolsafe.__all__:
        assert getattr(toolsafe, name) is not None


def _is_module(name: str) -> bool:
    import types

    return isinstance(getattr(toolsafe, name), types.ModuleType)


def test_validation_errors_use_the_name_the_model_called() -> None:
    @toolsafe.tool(name="orders.refund")
    def refund(order_id: int) -> str:
        """Refund an order."""
        return "ok"

    with Runtime([refund]) as runtime:
        outcome = runtime.call("orders_refund", {"order_id": "x"})
    assert outcome.error is not None
    assert "'orders_refund'" in outcome.error.message and "'orders_refund'" in (
        outcome.error.hint or ""
    )
    assert "'orders.refund'" not in outcome.text


def test_exports_are_copies_callers_may_edit() -> None:
    exported = add.to_openai()
    exported["function"]["parameters"]["properties"]["a"]["type"] = "string"
    add.to_anthropic()["input_schema"]["properties"].clear()
    assert add.json_schema["properties"]["a"]["type"] == "integer"
    assert add.to_openai()["function"]["parameters"]["properties"]["a"]["type"] == "integer"
    assert set(add.to_mcp()["inputSchema"]["properties"]) == {"a", "b"}


def test_close_leaves_a_store_it_did_not_make_open() -> None:
    from toolsafe.stores.memory import MemoryStore

    closed: list[str] = []

    class Shared(MemoryStore):
        def close(self) -> None:
            closed.append("shared")

    shared = Shared()
    with Runtime([add], store=shared) as first, Runtime([aadd], store=shared) as second:
        assert first.call("add", {"a": 1}).value == 1
    assert closed == []  # both runtimes closed; the store's owner closes it
    assert second.store is shared


def test_unregister_removes_a_tool_and_its_exported_name() -> None:
    def add(a: int) -> int:
        return a

    def mul(a: int) -> int:
        return a * 2

    with Runtime([toolsafe.tool(add, name="math.add"), mul]) as rt:
        assert rt.call("math_add", {"a": 1}).value == 1
        assert rt.unregister("math.add").name == "math.add"
        gone = rt.call("math_add", {"a": 1})
        assert gone.error is not None and gone.error.type == "UnknownTool"
        assert [t.name for t in rt.tools] == ["mul"]
        rt.register(toolsafe.tool(add, name="math.add"))  # the name is free again
        assert rt.call("math.add", {"a": 3}).value == 3
