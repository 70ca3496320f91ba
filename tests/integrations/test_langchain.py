"""toolsafe tools as LangChain tools (and back), with the real langchain-core and LangGraph."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langgraph")

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, ToolException
from langchain_core.tools import tool as lc_tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

import toolsafe
from toolsafe.errors import ConfigurationError, parse_tool_error
from toolsafe.integrations.langchain import (
    ToolsafeLangChainTool,
    ToolsafeToolException,
    from_langchain,
    to_langchain,
)

pytestmark = pytest.mark.langchain


@toolsafe.tool
def add(a: int, b: int = 0) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


@toolsafe.tool
def flaky_upstream(query: str) -> str:
    """Always loses its connection."""
    raise ConnectionResetError("upstream reset the connection")


@toolsafe.tool(timeout=0.1)
async def slow(query: str) -> str:
    """Hangs past its timeout."""
    await asyncio.sleep(30)
    return query


@toolsafe.tool(name="billing.refund")
def refund(order_id: str, config: str = "default") -> str:
    """Refund an order (its argument named `config` must not clash with LangChain's)."""
    return f"refunded {order_id} ({config})"


def _call(name: str, args: Any, call_id: str = "call-1") -> dict[str, Any]:
    return {"type": "tool_call", "id": call_id, "name": name, "args": args}


def _tools_graph(tools: list[BaseTool]) -> Any:
    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    return graph.compile()


@pytest.fixture
def runtime() -> Any:
    with toolsafe.Runtime() as rt:
        yield rt


# --------------------------------------------------------------------------- to_langchain


def test_to_langchain_is_a_base_tool_with_the_exported_schema(runtime: toolsafe.Runtime) -> None:
    lc = to_langchain(add, runtime)
    assert isinstance(lc, BaseTool)
    assert lc.name == "add"
    assert lc.description.startswith("Add two integers.")
    assert lc.args_schema == add.json_schema_closed()
    assert set(lc.args) == {"a", "b"}
    assert lc.get_input_schema() is add.model
    function = convert_to_openai_tool(lc)["function"]
    assert function["name"] == "add"
    assert function["parameters"]["required"] == ["a"]
    assert function["parameters"]["additionalProperties"] is False
    assert runtime.get("add") is add


def test_plain_invoke_returns_the_result_text(runtime: toolsafe.Runtime) -> None:
    lc = to_langchain(add, runtime)
    assert lc.invoke({"a": 2, "b": 3}) == "5"


async def test_async_invoke_returns_the_result_text(runtime: toolsafe.Runtime) -> None:
    lc = to_langchain(add, runtime)
    assert await lc.ainvoke({"a": 2, "b": 5}) == "7"


def test_tool_call_success_is_a_tool_message(runtime: toolsafe.Runtime) -> None:
    message = to_langchain(add, runtime).invoke(_call("add", {"a": 1, "b": 1}, "c-ok"))
    assert isinstance(message, ToolMessage)
    assert message.content == "2"
    assert message.status == "success"
    assert message.tool_call_id == "c-ok"


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_validation_error_is_an_error_tool_message_with_field_details(
    runtime: toolsafe.Runtime, mode: str
) -> None:
    lc = to_langchain(add, runtime)
    call = _call("add", {"a": "2", "c": 1}, "c-bad")
    message = lc.invoke(call) if mode == "sync" else await lc.ainvoke(call)
    assert isinstance(message, ToolMessage)
    assert message.status == "error"
    error = parse_tool_error(message.content)
    assert error is not None
    assert error.type == "InvalidArguments"
    assert error.retryable is False
    assert error.call_id == "c-bad"  # the model's call id is the toolsafe call id
    assert {d["field"] for d in error.details} == {"a", "c"}


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_tool_failure_is_classified_in_the_message(
    runtime: toolsafe.Runtime, mode: str
) -> None:
    lc = to_langchain(flaky_upstream, runtime)
    call = _call("flaky_upstream", {"query": "x"})
    message = lc.invoke(call) if mode == "sync" else await lc.ainvoke(call)
    assert message.status == "error"
    assert message.content.startswith(toolsafe.ERROR_PREFIX)
    error = parse_tool_error(message.content)
    assert error is not None
    assert (error.type, error.retryable) == ("ConnectionResetError", True)
    assert error.message == "upstream reset the connection"


def test_plain_invoke_failure_returns_the_error_line_not_an_exception(
    runtime: toolsafe.Runtime,
) -> None:
    text = to_langchain(flaky_upstream, runtime).invoke({"query": "x"})
    error = parse_tool_error(text)
    assert error is not None and error.type == "ConnectionResetError"


def test_custom_handler_receives_the_tool_error(runtime: toolsafe.Runtime) -> None:
    seen: list[ToolsafeToolException] = []

    def handler(exc: ToolException) -> str:
        assert isinstance(exc, ToolsafeToolException)
        seen.append(exc)
        return f"retry later: {exc.error.type if exc.error else '?'}"

    lc = to_langchain(flaky_upstream, runtime)
    lc.handle_tool_error = handler
    message = lc.invoke(_call("flaky_upstream", {"query": "x"}))
    assert message.content == "retry later: ConnectionResetError"
    assert message.status == "error"
    assert seen[0].outcome.ok is False


def test_single_string_input_fills_the_only_field(runtime: toolsafe.Runtime) -> None:
    @toolsafe.tool
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    lc = to_langchain(shout, runtime)
    assert lc.invoke("hello") == "HELLO"
    assert lc.invoke('{"text": "json"}') == "JSON"


def test_dotted_names_are_exported_and_map_back(runtime: toolsafe.Runtime) -> None:
    lc = to_langchain(refund, runtime)
    assert lc.name == "billing_refund"
    message = lc.invoke(_call("billing_refund", {"order_id": "A1", "config": "fast"}))
    assert message.content == "refunded A1 (fast)"
    assert message.status == "success"


def test_to_langchain_without_runtime_makes_one_for_all_tools() -> None:
    tools = to_langchain([add, flaky_upstream])
    assert [t.name for t in tools] == ["add", "flaky_upstream"]
    assert tools[0].toolsafe_runtime is tools[1].toolsafe_runtime
    assert tools[0].toolsafe_runtime.get("flaky_upstream") is flaky_upstream
    tools[0].toolsafe_runtime.close()


def test_to_langchain_accepts_names_functions_and_a_runtime(runtime: toolsafe.Runtime) -> None:
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    runtime.register(add)
    by_name = to_langchain("add", runtime)
    assert by_name.toolsafe_tool is add
    first = to_langchain(multiply, runtime)
    again = to_langchain(multiply, runtime)  # the same function is not registered twice
    assert first.toolsafe_tool is again.toolsafe_tool
    assert first.invoke({"a": 6, "b": 7}) == "42"
    every = to_langchain(runtime)
    assert sorted(t.name for t in every) == ["add", "multiply"]


def test_a_different_tool_under_a_taken_name_is_refused(runtime: toolsafe.Runtime) -> None:
    runtime.register(add)

    @toolsafe.tool(name="add")
    def other_add(a: int) -> int:
        """Not the registered one."""
        return a

    with pytest.raises(ConfigurationError, match="already registered"):
        to_langchain(other_add, runtime)


def test_runtime_timeout_applies_through_langchain(runtime: toolsafe.Runtime) -> None:
    message = to_langchain(slow, runtime).invoke(_call("slow", {"query": "q"}))
    error = parse_tool_error(message.content)
    assert error is not None
    assert (error.type, error.retryable) == ("TimeoutError", True)


# --------------------------------------------------------------------------- LangGraph ToolNode


def _parallel_message() -> AIMessage:
    return AIMessage(
        "",
        tool_calls=[
            {"id": "t1", "name": "add", "args": {"a": 1, "b": 2}},
            {"id": "t2", "name": "flaky_upstream", "args": {"query": "x"}},
            {"id": "t3", "name": "add", "args": {"a": "not a number"}},
            {"id": "t4", "name": "slow", "args": {"query": "q"}},
            {"id": "t5", "name": "add", "args": {"a": 40, "b": 2}},
        ],
    )


def _check_parallel(messages: list[Any]) -> None:
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in tool_messages] == ["t1", "t2", "t3", "t4", "t5"]
    assert [m.status for m in tool_messages] == ["success", "error", "error", "error", "success"]
    assert tool_messages[0].content == "3"
    assert tool_messages[4].content == "42"
    types = [parse_tool_error(m.content).type for m in tool_messages[1:4]]  # type: ignore[union-attr]
    assert types == ["ConnectionResetError", "InvalidArguments", "TimeoutError"]


def test_tool_node_failures_never_abort_their_siblings_sync(runtime: toolsafe.Runtime) -> None:
    graph = _tools_graph(to_langchain([add, flaky_upstream, slow], runtime))
    result = graph.invoke({"messages": [_parallel_message()]})
    _check_parallel(result["messages"])


async def test_tool_node_failures_never_abort_their_siblings_async(
    runtime: toolsafe.Runtime,
) -> None:
    graph = _tools_graph(to_langchain([add, flaky_upstream, slow], runtime))
    result = await graph.ainvoke({"messages": [_parallel_message()]})
    _check_parallel(result["messages"])


def test_a_raising_langchain_tool_aborts_tool_node_but_not_once_wrapped(
    runtime: toolsafe.Runtime,
) -> None:
    """The LangGraph pain this adapter removes: by default ToolNode re-raises tool errors
    (current releases) or flattens them into prose the agent cannot act on (1.0.x)."""

    @lc_tool
    def lookup(key: str) -> str:
        """Look a key up."""
        raise ConnectionError("directory unreachable")

    @lc_tool
    def echo(text: str) -> str:
        """Echo the text."""
        return text

    message = AIMessage(
        "",
        tool_calls=[
            {"id": "a", "name": "lookup", "args": {"key": "k"}},
            {"id": "b", "name": "echo", "args": {"text": "hi"}},
        ],
    )
    try:
        plain = _tools_graph([lookup, echo]).invoke({"messages": [message]})
    except ConnectionError:
        pass  # the whole step aborted, the sibling's answer with it
    else:  # langgraph-prebuilt 1.0.x: "Error: ConnectionError(...)\n Please fix your mistakes."
        flattened = plain["messages"][1].content
        assert "ConnectionError" in flattened and parse_tool_error(flattened) is None

    wrapped = to_langchain([lookup, echo], runtime)
    result = _tools_graph(wrapped).invoke({"messages": [message]})
    lookup_msg, echo_msg = result["messages"][1:]
    assert lookup_msg.status == "error"
    error = parse_tool_error(lookup_msg.content)
    assert error is not None and (error.type, error.retryable) == ("ConnectionError", True)
    assert (echo_msg.status, echo_msg.content) == ("success", "hi")


def test_scripted_agent_round_trip_through_langgraph(runtime: toolsafe.Runtime) -> None:
    """A scripted model node and ToolNode loop for three turns; the model sees every result."""
    tools = to_langchain([add, flaky_upstream], runtime)
    seen: list[list[tuple[str, str]]] = []
    script = [
        AIMessage("", tool_calls=[{"id": "1", "name": "add", "args": {"a": "2"}}]),
        AIMessage(
            "",
            tool_calls=[
                {"id": "2", "name": "add", "args": {"a": 2, "b": 2}},
                {"id": "3", "name": "flaky_upstream", "args": {"query": "q"}},
            ],
        ),
        AIMessage("2 + 2 = 4; the upstream is down, try later."),
    ]

    def model(state: MessagesState) -> dict[str, Any]:
        results = [
            (m.tool_call_id, m.status) for m in state["messages"] if isinstance(m, ToolMessage)
        ]
        seen.append(results)
        turn = sum(isinstance(m, AIMessage) for m in state["messages"])
        return {"messages": [script[turn]]}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    graph = StateGraph(MessagesState)
    graph.add_node("model", model)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, ["tools", END])
    graph.add_edge("tools", "model")
    final = graph.compile().invoke({"messages": [HumanMessage("what is 2 + 2?")]})

    assert final["messages"][-1].content.startswith("2 + 2 = 4")
    assert seen == [
        [],
        [("1", "error")],
        [("1", "error"), ("2", "success"), ("3", "error")],
    ]
    first_error = parse_tool_error(final["messages"][2].content)
    assert first_error is not None and first_error.details[0]["field"] == "a"


# --------------------------------------------------------------------------- from_langchain


def test_from_langchain_validates_strictly_with_the_langchain_schema(
    runtime: toolsafe.Runtime,
) -> None:
    @lc_tool
    def multiply(a: int, b: int = 1) -> int:
        """Multiply two integers."""
        return a * b

    tool = from_langchain(multiply)
    assert tool.name == "multiply"
    assert tool.description == "Multiply two integers."
    assert tool.json_schema["required"] == ["a"]
    runtime.register(tool)
    assert runtime.call("multiply", {"a": 6, "b": 7}).text == "42"
    bad = runtime.call("multiply", {"a": "6", "x": 1})
    assert bad.error is not None and bad.error.type == "InvalidArguments"
    assert {d["field"] for d in bad.error.details} == {"a", "x"}


def test_from_langchain_applies_the_runtime_timeout_to_a_sync_tool(
    runtime: toolsafe.Runtime,
) -> None:
    release = threading.Event()

    @lc_tool
    def stuck(key: str) -> str:
        """Blocks until released."""
        release.wait(10)
        return key

    runtime.register(from_langchain(stuck, timeout=0.1))
    try:
        outcome = runtime.call("stuck", {"key": "k"})
    finally:
        release.set()
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("TimeoutError", True)


async def test_from_langchain_runs_a_native_coroutine_on_the_loop(
    runtime: toolsafe.Runtime,
) -> None:
    threads: list[int] = []

    async def _fetch(url: str) -> str:
        threads.append(threading.get_ident())
        return f"fetched {url}"

    from langchain_core.tools import StructuredTool

    fetch = StructuredTool.from_function(coroutine=_fetch, name="fetch", description="Fetch.")
    tool = from_langchain(fetch)
    assert tool.is_async
    runtime.register(tool)
    outcome = await runtime.acall("fetch", {"url": "u"})
    assert outcome.text == "fetched u"
    assert threads == [threading.get_ident()]


def test_from_langchain_turns_off_langchains_own_error_swallowing(
    runtime: toolsafe.Runtime,
) -> None:
    @lc_tool
    def quota(key: str) -> str:
        """Runs out of quota."""
        raise ToolException("quota exhausted")

    quota.handle_tool_error = True

    assert quota.invoke({"key": "k"}) == "quota exhausted"  # LangChain alone: a "success"
    runtime.register(from_langchain(quota))
    outcome = runtime.call("quota", {"key": "k"})
    assert outcome.ok is False
    assert outcome.error is not None and outcome.error.message == "quota exhausted"
    assert quota.handle_tool_error is True  # the user's tool is untouched


class CounterTool(BaseTool):
    """A LangChain tool that keeps per-call state on the instance (the classic bug)."""

    name: str = "counter"
    description: str = "Counts the items of a list."
    current: list[str] = []

    def _run(self, items: list[str]) -> str:
        self.current = []
        for item in items:
            self.current.append(item)
            time.sleep(0.001)
        return ",".join(self.current)


def test_from_langchain_isolates_subclass_state_per_call(runtime: toolsafe.Runtime) -> None:
    shared = CounterTool()
    runtime.register(from_langchain(shared))
    calls = [("counter", {"items": [f"{i}-{j}" for j in range(20)]}) for i in range(16)]
    outcomes = runtime.call_many(calls)
    for i, outcome in enumerate(outcomes):
        assert outcome.text == ",".join(f"{i}-{j}" for j in range(20))
    assert shared.current == []


def test_round_trip_keeps_one_tool(runtime: toolsafe.Runtime) -> None:
    lc = to_langchain(add, runtime)
    assert from_langchain(lc) is add
    assert isinstance(to_langchain(lc, runtime), ToolsafeLangChainTool)


def test_from_langchain_rejects_other_objects() -> None:
    with pytest.raises(ConfigurationError, match="LangChain BaseTool"):
        from_langchain(add)  # type: ignore[arg-type]


def test_from_langchain_reads_a_json_schema_args_schema(runtime: toolsafe.Runtime) -> None:
    from langchain_core.tools import StructuredTool

    def _greet(**kwargs: Any) -> str:
        return f"hello {kwargs['who']} x{kwargs.get('times', 1)}"

    schema = {
        "type": "object",
        "properties": {"who": {"type": "string"}, "times": {"type": "integer"}},
        "required": ["who"],
    }
    greet = StructuredTool.from_function(
        func=_greet, name="greet", description="Greet someone.", args_schema=schema
    )
    runtime.register(from_langchain(greet))
    assert runtime.call("greet", {"who": "Ada", "times": 2}).text == "hello Ada x2"
    bad = runtime.call("greet", {"who": 3})
    assert bad.error is not None and bad.error.type == "InvalidArguments"
    assert bad.error.details[0]["field"] == "who"


# --------------------------------------------------------------------------- docs and example

ROOT = Path(__file__).resolve().parents[2]


def test_docs_page_runs() -> None:
    """Every ```python block of docs/langchain.md runs (in order); ```py blocks compile."""
    text = (ROOT / "docs" / "langchain.md").read_text()
    for block in re.findall(r"```py\n(.*?)```", text, re.S):
        compile(block, "docs/langchain.md", "exec")
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        '[{"customer":"c-42","status":"open","id":"A-1"}]',
        "customer c-7",
    ]
    assert "examples/langchain_quickstart.py" in text


def test_quickstart_example_runs() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "langchain_quickstart.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == 'tool call_1 [success]: {"city":"Oslo","temp":21,"unit":"celsius"}'
    kinds = [parse_tool_error(line.split(": ", 1)[1]) for line in lines[1:4]]
    assert [(k.type, k.retryable) for k in kinds if k] == [
        ("ConnectionResetError", True),
        ("TimeoutError", True),
        ("InvalidArguments", False),
    ]
    assert all("[error]" in line for line in lines[1:4])
    assert lines[4].startswith("model: Oslo is at 21°C")


# --------------------------------------------------------------------------- policies, isolation reports


def test_to_langchain_takes_policy_keywords_like_harden() -> None:
    wrapped = to_langchain([add], timeout=2, retry=None)
    assert wrapped[0].toolsafe_tool.options.timeout == 2
    assert wrapped[0].invoke({"a": 1, "b": 2}) == "3"
    with (
        toolsafe.Runtime() as runtime,
        pytest.raises(ConfigurationError, match="'max_in_flight' is a runtime option"),
    ):
        to_langchain([add], runtime, max_in_flight=2)
    with pytest.raises(ConfigurationError, match="unknown tool option 'timout'"):
        to_langchain([add], timout=2)  # a typo is named, not a TypeError


class Uncopyable:
    """A client that refuses to be copied (a socket, a driver, a DB engine)."""

    def __init__(self) -> None:
        self.queries = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        raise TypeError("cannot copy a connection")

    def query(self, text: str) -> str:
        self.queries += 1  # a call changes the client: it would need a copy
        return f"rows for {text}"


class DatabaseTool(BaseTool):
    name: str = "db_query"
    description: str = "Query the database."
    db: Any = None
    seen: list[str] = []

    def _run(self, text: str) -> str:
        self.seen.append(text)
        return self.db.query(text)


def test_from_langchain_reports_its_isolation_truthfully() -> None:
    original = DatabaseTool(db=Uncopyable(), seen=[])
    tool = from_langchain(original)
    report = tool.isolation_report
    assert report is not None and report.mode == "copy"
    assert tool.not_isolated == ("db",)  # a call uses it and it could not be copied
    assert "seen" in report.copied
    with toolsafe.Runtime([tool]) as runtime:
        assert runtime.call("db_query", {"text": "x"}).value == "rows for x"
    assert original.seen == []  # the per-call copy took the write
    assert original.db.queries == 1  # the client could not be copied: shared, and said so
    shared = from_langchain(add_lc)
    assert shared.isolation_report is not None and shared.isolation_report.mode == "shared"


@lc_tool
def add_lc(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b
