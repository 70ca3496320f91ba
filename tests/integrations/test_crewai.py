"""CrewAI integration on real crews (scripted LLM, offline).

Each crew test drives real ``Crew``s on both of CrewAI's tool paths: native
function calling and the ReAct text protocol.
"""

from __future__ import annotations

import asyncio
import copy
import subprocess
import sys
import threading
from typing import Any, ClassVar

import pytest

pytest.importorskip("crewai", reason="needs the crewai extra: pip install 'toolsafe[crewai]'")

from crewai.tools import BaseTool
from crewai.tools import tool as crewai_tool
from crewai.tools.tool_failure import ToolFailure
from pydantic import BaseModel, Field, PrivateAttr

import toolsafe
from toolsafe import ConfigurationError, parse_tool_error
from toolsafe.integrations import crewai as ts_crewai
from toolsafe.integrations.crewai import HardenedTool, harden, to_crewai

pytestmark = [
    pytest.mark.crewai,
    # CrewAI warns about its own deprecated attributes on every crew.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:crewai.*"),
]

PATHS = [pytest.param(True, id="native"), pytest.param(False, id="react")]


# --------------------------------------------------------------------------- tools


class Overlap:
    """Holds each call until the next call arrives (or ``grace`` passes).

    Makes concurrent calls overlap for certain, whatever CrewAI's scheduling,
    without assuming anything about timing: call k reads after call k+1 wrote.
    """

    def __init__(self, grace: float = 2.0) -> None:
        self.grace = grace
        self._cond = threading.Condition()
        self._arrivals = 0

    def wait(self) -> None:
        with self._cond:
            self._arrivals += 1
            me = self._arrivals
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._arrivals > me, timeout=self.grace)


class SessionLookup(BaseTool):
    """The classic shared-state tool: a session dict and a ``last_query`` on ``self``."""

    name: str = "lookup"
    description: str = "Look up the record stored under a key."
    session: dict[str, str] = Field(default_factory=dict)
    last_query: str = ""
    _history: list[str] = PrivateAttr(default_factory=list)
    overlap: ClassVar[Overlap | None] = None

    def _run(self, key: str) -> str:
        self.last_query = key
        self.session["current"] = key
        self._history.append(key)
        if self.overlap is not None:
            self.overlap.wait()
        return f"record[{self.session['current']}|{self.last_query}|{len(self._history)}]"


class Counted(BaseTool):
    """Counts its runs on a class-level counter (shared on purpose: it is the probe)."""

    name: str = "fetch"
    description: str = "Fetch a document."
    runs: ClassVar[list[str]] = []
    fail_with: ClassVar[BaseException | None] = None

    def _run(self, doc: str) -> str:
        Counted.runs.append(doc)
        if Counted.fail_with is not None:
            raise Counted.fail_with
        return f"doc:{doc}"


class Query(BaseModel):
    text: str
    limit: int = 3


class AsyncSearch(BaseTool):
    """An async-only CrewAI tool (``_run`` is a stub), like many I/O tools."""

    name: str = "async_search"
    description: str = "Search asynchronously."
    args_schema: type[BaseModel] = Query

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def _arun(self, text: str, limit: int = 3) -> str:
        await asyncio.sleep(0)
        return f"{text}:{limit}:{threading.current_thread().name != ''}"


@crewai_tool("shout")
def shout(text: str, times: int = 1) -> str:
    """Repeat the text in capitals."""
    return " ".join([text.upper()] * times)


@crewai_tool("ashout")
async def ashout(text: str) -> str:
    """Async: the text in capitals."""
    await asyncio.sleep(0)
    return text.upper()


@pytest.fixture(autouse=True)
def _reset_probes() -> Any:
    Counted.runs = []
    Counted.fail_with = None
    SessionLookup.overlap = None
    yield


# --------------------------------------------------------------------------- shape


def test_same_name_description_and_schema_for_every_kind_of_tool() -> None:
    session = SessionLookup()

    @toolsafe.tool
    def add(a: int, b: int = 0) -> int:
        """Add two integers."""
        return a + b

    def echo(text: str) -> str:
        """Echo the text."""
        return text

    hardened = harden([session, shout, add, echo, AsyncSearch()])
    assert [type(t) for t in hardened] == [HardenedTool] * 5
    assert all(isinstance(t, BaseTool) for t in hardened)
    assert [t.name for t in hardened] == ["lookup", "shout", "add", "echo", "async_search"]
    assert hardened[0].description == session.description
    assert hardened[0].args_schema is session.args_schema
    assert hardened[1].args_schema is shout.args_schema
    assert hardened[1].description == shout.description
    assert hardened[2].args_schema.model_json_schema()["required"] == ["a"]
    assert hardened[2].description == "Add two integers."
    assert hardened[4].args_schema is Query
    # One runtime for the tools hardened together.
    assert len({id(t.runtime) for t in hardened}) == 1
    assert sorted(t.name for t in hardened[0].runtime.tools) == sorted(t.name for t in hardened)


def test_single_tool_in_single_tool_out_and_to_crewai() -> None:
    one = harden(shout)
    assert isinstance(one, HardenedTool)

    @toolsafe.tool
    def double(x: int) -> int:
        """Double x."""
        return 2 * x

    with toolsafe.Runtime([double]) as runtime:
        crew_tool = to_crewai(double, runtime)
        assert crew_tool.runtime is runtime
        assert crew_tool.toolsafe_tool is double  # the registration already there is used
        assert crew_tool.run(x=21) == "42"


def test_a_deep_copy_shares_the_runtime_and_still_works() -> None:
    hardened = harden(shout)
    clone = copy.deepcopy(hardened)
    assert clone is not hardened and clone.runtime is hardened.runtime
    assert clone.run(text="x", times=2) == "X X"


def test_policy_options_reach_the_toolsafe_tool() -> None:
    hardened = harden(SessionLookup(), timeout=2.5, max_output_chars=100)
    options = hardened.toolsafe_tool.options
    assert options.timeout == 2.5
    assert options.max_output_chars == 100


def test_every_problem_of_every_tool_is_reported_together() -> None:
    class Mismatch(BaseTool):
        name: str = "mismatch"
        description: str = "args_schema says text, _run takes query."
        args_schema: type[BaseModel] = Query

        def _run(self, query: str) -> str:
            return query

    with toolsafe.Runtime() as runtime, pytest.raises(ConfigurationError) as caught:
        harden([Mismatch(), harden(shout)], runtime, listeners=[])
    problems = caught.value.problems
    assert any("'listeners' is a runtime option" in p for p in problems)
    assert any(p.startswith("mismatch: args_schema declares 'text'") for p in problems)
    assert any(p.startswith("mismatch: the run method requires 'query'") for p in problems)
    assert any(p.startswith("shout: already hardened") for p in problems)
    assert runtime.tools == []  # nothing half-registered


def test_name_clashes_are_reported_before_anything_is_registered() -> None:
    @toolsafe.tool(name="shout")
    def other_shout(text: str) -> str:
        """Another tool named shout."""
        return text

    with pytest.raises(ConfigurationError, match="'shout' is already registered"):
        harden([shout, SessionLookup(), other_shout])
    with toolsafe.Runtime([other_shout]) as runtime:
        with pytest.raises(
            ConfigurationError, match="another tool named 'shout' is already registered"
        ):
            harden([SessionLookup(), shout], runtime)
        assert [t.name for t in runtime.tools] == ["shout"]


def test_crewai_is_not_imported_by_toolsafe_and_missing_crewai_is_explained() -> None:
    code = (
        "import sys, toolsafe\n"
        "assert 'crewai' not in sys.modules, 'import toolsafe imported crewai'\n"
        "sys.modules['crewai'] = None\n"
        "try:\n"
        "    import toolsafe.integrations.crewai\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "pip install 'toolsafe[crewai]'" in out.stdout


# --------------------------------------------------------------------------- calls, no crew


def test_results_and_failures_through_the_public_tool_api() -> None:
    fetch = harden(Counted())
    assert fetch.run(doc="a") == "doc:a"
    assert fetch.run("b") == "doc:b"  # positional, as BaseTool.run allows
    Counted.fail_with = FileNotFoundError(2, "No such file", "c.txt")
    failure = fetch.run(doc="c")
    assert isinstance(failure, ToolFailure)
    assert failure.retryable is False
    error = parse_tool_error(failure.as_agent_message())
    assert error is not None
    assert (error.type, error.retryable, error.tool) == ("FileNotFoundError", False, "fetch")
    assert failure.details["type"] == "FileNotFoundError"
    Counted.fail_with = ConnectionResetError("reset by peer")
    transient = fetch.run(doc="d")
    assert isinstance(transient, ToolFailure) and transient.retryable is True
    assert Counted.runs == ["a", "b", "c", "d"]


@pytest.mark.filterwarnings("ignore:function callbacks cannot be serialized")
def test_plain_string_errors_where_crewai_has_no_tool_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ts_crewai, "_CrewAIToolFailure", None)
    fetch = harden(Counted())
    Counted.fail_with = PermissionError("denied")
    text = fetch.run(doc="x")
    assert isinstance(text, str)
    error = parse_tool_error(text)
    assert error is not None and (error.type, error.retryable) == ("PermissionError", False)
    # CrewAI would cache that string: the hardened tool's cache function refuses it.
    assert fetch.cache_function({"doc": "x"}, text) is False
    assert fetch.cache_function({"doc": "x"}, "doc:x") is True


def test_validation_is_strict_and_field_level_on_run_and_invoke() -> None:
    hardened = harden(shout)
    structured = hardened.to_structured_tool()
    for result in (
        hardened.run(text="hi", times="2"),
        structured.invoke({"text": "hi", "times": "2"}),
        structured.invoke('{"text": "hi", "times": "2"}'),
    ):
        assert isinstance(result, ToolFailure)
        error = parse_tool_error(result.message)
        assert error is not None and error.type == "InvalidArguments"
        assert error.retryable is False
        assert error.details == [
            {
                "field": "times",
                "expected": "integer",
                "received": '"2" (string)',
                "message": "Input should be a valid integer",
            }
        ]
    assert structured.invoke({"text": "hi", "times": 2}) == "HI HI"


def test_per_call_isolation_of_fields_and_pydantic_private_attrs() -> None:
    original = SessionLookup()
    hardened = harden(original)
    SessionLookup.overlap = Overlap(grace=1.0)
    keys = [f"k{i}" for i in range(12)]
    results: dict[str, Any] = {}

    def call(key: str) -> None:
        results[key] = hardened.run(key=key)

    threads = [threading.Thread(target=call, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {k: f"record[{k}|{k}|1]" for k in keys}
    # The shared instance was never written; the lock CrewAI keeps privately is shared.
    assert original.session == {} and original.last_query == "" and original._history == []
    assert hardened.toolsafe_tool.not_isolated == ()
    assert "last_query" in hardened.toolsafe_tool.mutated_attributes  # rebound on the copy


def test_async_tools_with_and_without_a_running_loop() -> None:
    search, loud = harden([AsyncSearch(), ashout])
    assert search.run(text="q", limit=2) == "q:2:True"
    assert loud.run(text="hey") == "HEY"
    assert loud.to_structured_tool().invoke({"text": "x"}) == "X"

    async def inside_a_loop() -> tuple[Any, ...]:
        return (
            search.run(text="sync-in-loop"),  # a sync caller inside a running loop
            await search.arun(text="a", limit=1),
            await loud.arun(text="b"),
            await loud.to_structured_tool().ainvoke({"text": "c"}),
        )

    assert asyncio.run(inside_a_loop()) == ("sync-in-loop:3:True", "a:1:True", "B", "C")


def test_one_usage_per_call_and_max_usage_count_respected() -> None:
    limited = Counted(max_usage_count=2)
    hardened = harden(limited)
    assert hardened.max_usage_count == 2
    assert hardened.run(doc="1") == "doc:1"
    Counted.fail_with = ConnectionError("down")
    assert isinstance(hardened.run(doc="2"), ToolFailure)
    spent = hardened.run(doc="3")
    assert isinstance(spent, ToolFailure)
    error = parse_tool_error(spent.message)
    assert error is not None
    assert (error.type, error.retryable) == ("UsageLimitExceeded", False)
    assert "usage limit of 2" in error.message
    assert hardened.current_usage_count == 2
    assert Counted.runs == ["1", "2"]


def test_max_usage_count_holds_on_the_structured_tool_path_too() -> None:
    hardened = harden(Counted(max_usage_count=1))
    assert hardened.toolsafe_tool.options.max_calls == 1  # the runtime counts uses
    structured = hardened.to_structured_tool()
    assert structured.invoke({"doc": "1"}) == "doc:1"
    spent = structured.invoke({"doc": "2"})
    assert isinstance(spent, ToolFailure) and "usage limit of 1" in spent.message
    assert isinstance(hardened.run(doc="3"), ToolFailure)  # one count for both paths
    assert Counted.runs == ["1"]


class SlackPost(BaseTool):
    """Declares its own failure the CrewAI way: returns a ToolFailure (HTTP 200, ok=false)."""

    name: str = "post"
    description: str = "Post a message to a channel."

    def _run(self, channel: str) -> Any:
        return ToolFailure(message=f"no channel {channel}", code="channel_not_found")


def test_a_tool_failure_the_tool_returns_becomes_the_structured_error() -> None:
    result = harden(SlackPost()).run(channel="ops")
    assert isinstance(result, ToolFailure) and result.retryable is False
    error = parse_tool_error(result.message)
    assert error is not None
    assert (error.type, error.message, error.retryable) == ("ToolFailure", "no channel ops", False)
    assert error.details == {"reason": "tool_reported", "code": "channel_not_found"}


# --------------------------------------------------------------------------- real crews


def _answers(outputs: list[Any]) -> list[str]:
    return [o.raw for o in outputs]


TASK = "Look up the record. CALL<lookup> ARGS<key={key}>"


async def test_without_toolsafe_concurrent_crews_cross_talk(make_crew: Any) -> None:
    SessionLookup.overlap = Overlap()
    crew = make_crew([SessionLookup()], TASK)
    keys = [f"k{i:02d}" for i in range(50)]
    outputs = await crew.kickoff_for_each_async([{"key": k} for k in keys])
    wrong = [(k, a) for k, a in zip(keys, _answers(outputs)) if a != f"ANSWER: record[{k}|{k}|1]"]
    # The shared instance mixes crews up: answers carry another crew's key.
    assert len(wrong) >= 25, wrong
    assert any(a.split("[")[1].split("|")[0] != k for k, a in wrong)


@pytest.mark.parametrize("kickoff", ["kickoff_for_each_async", "akickoff_for_each"])
async def test_with_harden_every_crew_answers_for_its_own_input(
    make_crew: Any, kickoff: str
) -> None:
    SessionLookup.overlap = Overlap()
    original = SessionLookup()
    crew = make_crew([harden(original)], TASK)
    keys = [f"k{i:02d}" for i in range(50)]
    outputs = await getattr(crew, kickoff)([{"key": k} for k in keys])
    assert _answers(outputs) == [f"ANSWER: record[{k}|{k}|1]" for k in keys]
    assert original.session == {} and original._history == []


@pytest.mark.parametrize("native", PATHS)
def test_crewai_reruns_a_raising_tool_but_a_hardened_one_runs_once(
    make_crew: Any, native: bool
) -> None:
    task = "Fetch it. CALL<fetch> ARGS<doc=report>"
    Counted.fail_with = FileNotFoundError(2, "No such file", "report")
    make_crew([Counted()], task, native=native).kickoff()
    # CrewAI itself: the native path runs once; the ReAct path re-runs it (2 x 3 rounds).
    assert len(Counted.runs) == (1 if native else 6)

    Counted.runs = []
    out = make_crew([harden(Counted())], task, native=native).kickoff()
    assert Counted.runs == ["report"]
    error = parse_tool_error(out.raw.removeprefix("ANSWER: ").splitlines()[0])
    assert error is not None
    assert (error.type, error.retryable, error.attempts) == ("FileNotFoundError", False, 1)
    failures = out.tasks_output[0].tool_failures
    assert [(f.tool_name, f.failure.retryable) for f in failures] == [("fetch", False)]


@pytest.mark.parametrize("native", PATHS)
def test_invalid_arguments_get_a_field_level_error_the_model_can_fix(
    make_crew: Any, native: bool
) -> None:
    task = 'Shout it. CALL<shout> ARGS<text=hi;times="2"> FIX<text=hi;times=2>'
    llm_crew = make_crew([harden(shout)], task, native=native)
    out = llm_crew.kickoff()
    assert out.raw == "ANSWER: HI HI"
    llm = llm_crew.agents[0].llm
    first_result = llm.tool_results(llm.received[-1])[0]
    error = parse_tool_error(first_result.splitlines()[0])
    assert error is not None and (error.type, error.retryable) == ("InvalidArguments", False)
    assert [d["field"] for d in error.details] == ["times"]
    assert error.details[0]["expected"] == "integer"
    assert "times" in (error.hint or "")


# --------------------------------------------------------------------------- contracts, names, policies


class TextArgs(BaseModel):
    txt: str = Field(description="The text.")


class DefaultedInCode(BaseTool):
    """crewai-tools' RAG shape: the schema requires a field the code defaults."""

    name: str = "txt_search"
    description: str = "Search a text."
    args_schema: type[BaseModel] = TextArgs

    def _run(self, txt: str | None = None) -> str:
        return f"found {txt}"


class RenamedInCode(BaseTool):
    """The schema and the code disagree on the name: every call would crash."""

    name: str = "renamed"
    description: str = "Renamed."
    args_schema: type[BaseModel] = TextArgs

    def _run(self, text: str) -> str:
        return text


def test_a_schema_stricter_than_the_code_is_a_warning_not_a_refusal() -> None:
    with pytest.warns(UserWarning, match="'txt' is required in args_schema but has a default"):
        hardened = harden(DefaultedInCode())
    assert hardened.toolsafe_tool.warnings == (
        "'txt' is required in args_schema but has a default in the run method",
    )
    assert hardened.run(txt="a") == "found a"


def test_a_harmful_mismatch_is_refused_with_its_opt_out_named() -> None:
    with pytest.raises(ConfigurationError) as info:
        harden(RenamedInCode())
    assert any("contract='warn'" in p for p in info.value.problems)
    with pytest.warns(UserWarning) as caught:
        hardened = harden(RenamedInCode(), contract="warn")
    assert any("declares 'txt' but the run method has no parameter" in str(w.message) for w in caught)
    failure = hardened.run(txt="a")  # the mismatch, hit: a structured failure, not a crash
    assert isinstance(failure, ToolFailure) and '"type": "TypeError"' in failure.message


def test_to_crewai_is_an_alias_of_harden() -> None:
    assert to_crewai is harden
    assert [t.name for t in to_crewai([shout, SessionLookup()])] == ["shout", "lookup"]


def test_hardening_the_same_tool_twice_on_one_runtime_reuses_its_registration() -> None:
    original = SessionLookup()
    with toolsafe.Runtime() as runtime:
        first = harden(original, runtime)
        second = harden(original, runtime)
        assert first.toolsafe_tool is second.toolsafe_tool
        with pytest.raises(ConfigurationError, match="already registered, with other options"):
            harden(original, runtime, timeout=3)
