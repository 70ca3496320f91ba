"""Stress on small in-test tools: each failure mode is observed, clean tools pass."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from toolsafe import ToolFailure, tool
from toolsafe.doctor.live import _from_function, _from_object, _from_toolsafe
from toolsafe.doctor.stress import StressOptions, percentile, stress_tool

FAST = StressOptions(calls=16, concurrency=8, distinct=4, timeout=2.0, max_seconds=20)


def problem_ids(result) -> set[str]:
    return {p.id for p in result.problems}


def test_percentile_nearest_rank() -> None:
    assert percentile([], 95) == 0.0
    assert percentile([5.0], 50) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile(list(map(float, range(1, 101))), 95) == 95.0


class LastQuery:
    """Keeps the last query on the instance, like the classic CrewAI bug."""

    def _run(self, query: str) -> str:
        self.last_query = query
        time.sleep(0.003)  # I/O: other threads run meanwhile
        return f"results for {self.last_query}"


def test_shared_instance_state_shows_as_different_results() -> None:
    result = stress_tool(_from_object(LastQuery()), FAST)
    assert result.skipped is None
    assert [p.name for p in result.phases] == ["serial", "threads"]
    assert "ST02" in problem_ids(result)
    evidence = next(p for p in result.problems if p.id == "ST02").evidence
    assert "alone -> 'results for" in evidence[0]


def test_toolsafe_isolation_makes_the_same_class_pass() -> None:
    result = stress_tool(_from_toolsafe(tool(LastQuery())), FAST)
    assert result.problems == []
    assert any("last_query" in note for note in result.notes)


def test_a_hanging_tool_is_reported_not_waited_on() -> None:
    release = threading.Event()

    def lookup(key: str) -> str:
        """Hangs on every call."""
        release.wait(30)
        return key

    try:
        result = stress_tool(_from_function(lookup), StressOptions(calls=8, timeout=0.3))
    finally:
        release.set()
    assert "ST03" in problem_ids(result)
    serial = result.phase("serial")
    assert serial is not None and len(serial.records) == 1  # stopped after the first hang
    assert serial.stopped is not None and "hung" in serial.stopped


def test_errors_only_under_concurrency() -> None:
    busy = threading.Lock()

    def single_user(name: str) -> str:
        """Only one caller at a time, or it fails."""
        if not busy.acquire(blocking=False):
            raise ConnectionError("resource busy")
        try:
            time.sleep(0.005)
            return name
        finally:
            busy.release()

    result = stress_tool(_from_function(single_user), FAST)
    failing = next(p for p in result.problems if p.id == "ST01")
    assert "ConnectionError" in failing.message


def test_output_budget_crash_and_error_text() -> None:
    def dump(size: int) -> str:
        """Returns a lot."""
        return "x" * 1000 * (size + 1)

    big = stress_tool(_from_function(dump), StressOptions(calls=8, max_output_chars=500))
    assert "ST04" in problem_ids(big)

    def broken(text: str) -> str:
        """Crashes."""
        return text.no_such_method()  # type: ignore[attr-defined]

    assert problem_ids(stress_tool(_from_function(broken), FAST)) == {"ST05"}

    def swallow(key: str) -> str:
        """Returns errors as text."""
        return "Error: lookup failed"

    assert problem_ids(stress_tool(_from_function(swallow), FAST)) == {"ST06"}


def test_domain_errors_that_do_not_change_under_concurrency_are_fine() -> None:
    @tool
    def balance(customer_id: int) -> str:
        """Known customers only."""
        if customer_id != 1:
            raise ToolFailure(f"no customer {customer_id}", retryable=False)
        return "1: 10 EUR"

    result = stress_tool(_from_toolsafe(balance), FAST)
    assert result.problems == []
    assert result.phases[0].errors["ToolFailure"] >= 1


def test_async_tools_get_an_asyncio_phase() -> None:
    state = {"current": ""}

    async def remember(name: str) -> str:
        """Async tool with shared state."""
        state["current"] = name
        await asyncio.sleep(0.002)
        return state["current"]

    result = stress_tool(_from_function(remember), FAST)
    assert [p.name for p in result.phases] == ["serial", "asyncio"]
    assert "ST02" in problem_ids(result)


def test_nondeterministic_tools_are_not_blamed_for_shared_state() -> None:
    counter = iter(range(10**6))

    def ticket(queue: str) -> str:
        """Hands out a new number each call."""
        return f"{queue}-{next(counter)}"

    result = stress_tool(_from_function(ticket), FAST)
    assert "ST02" not in problem_ids(result)
    assert any("not deterministic" in note for note in result.notes)


def test_recorded_calls_are_used_instead_of_generated_ones() -> None:
    seen: list[str] = []

    def echo(text: str) -> str:
        """Echo."""
        seen.append(text)
        return text

    options = StressOptions(calls=4, concurrency=2, recorded={"echo": [{"text": "recorded"}]})
    result = stress_tool(_from_function(echo), options)
    assert result.argument_source == "calls file"
    assert set(seen) == {"recorded"}
    assert len(seen) == 1 + 4


def test_a_tool_that_fails_every_call_is_unchecked_with_the_reason() -> None:
    def fetch(url: str) -> str:
        """Refuses every generated URL, as an SSRF guard would."""
        raise ValueError(f"blocked: {url!r} is not an allowed host")

    result = stress_tool(_from_function(fetch), FAST)
    assert result.problems == []
    assert result.unchecked is not None
    assert result.unchecked.startswith("every serial call failed (ValueError x4; first: blocked:")
    assert "--calls-file" in result.unchecked
    assert result.to_dict()["unchecked"] == result.unchecked


def test_a_tool_that_crashes_every_call_is_a_problem_not_unchecked() -> None:
    def broken(text: str) -> str:
        """Crashes on every call."""
        return text.no_such_method()  # type: ignore[attr-defined]

    result = stress_tool(_from_function(broken), FAST)
    assert problem_ids(result) == {"ST05"} and result.unchecked is None


def test_one_successful_call_is_enough_to_compare() -> None:
    def picky(n: int) -> str:
        """Only n == 0 works."""
        if n:
            raise LookupError(n)
        return "zero"

    result = stress_tool(_from_function(picky), StressOptions(calls=8, distinct=8))
    assert result.phase("serial") is not None
    assert any(r.ok for r in result.phases[0].records)
    assert result.unchecked is None


def test_checks_are_a_catalogue_of_functions(monkeypatch) -> None:
    from toolsafe.doctor import stress_checks

    assert list(stress_checks.STRESS_CHECKS) == [
        "ST03", "ST05", "ST01", "ST02", "ST07", "ST04", "ST06"
    ]  # fmt: skip
    assert len({c.name for c in stress_checks.STRESS_CHECKS.values()}) == 7
    for check in stress_checks.STRESS_CHECKS.values():
        assert check.why and check.fix and check.severity in {"error", "warning"}
        assert callable(check.run)

    seen: list[int] = []

    def always(c: stress_checks.Comparison) -> list:
        seen.append(len(c.serial.records))
        return [stress_checks.STRESS_CHECKS["ST99"].problem("seen", ["evidence"])]

    extra = stress_checks.StressCheck("ST99", "test-check", "warning", "why", "fix", always)
    monkeypatch.setitem(stress_checks.STRESS_CHECKS, "ST99", extra)

    def echo(text: str) -> str:
        """Echo."""
        return text

    result = stress_tool(_from_function(echo), FAST)
    assert seen == [4]  # registered is enough: the runner calls every check
    [problem] = result.problems
    assert (problem.id, problem.why, problem.fix, problem.evidence) == (
        "ST99",
        "why",
        "fix",
        ["evidence"],
    )
    assert problem.to_dict()["fix"] == "fix"


def test_framework_tools_with_their_own_arun_get_an_asyncio_phase() -> None:
    """Framework identity, not a package-name prefix: langchain_community and crewai_tools
    tools that implement _arun are driven on asyncio too; framework defaults are not."""
    pytest.importorskip("langchain_community")
    pytest.importorskip("crewai_tools")
    from crewai_tools import WaitTool
    from langchain_community.tools.json.tool import JsonGetValueTool, JsonSpec
    from langchain_core.tools import StructuredTool

    json_tool = _from_object(JsonGetValueTool(spec=JsonSpec(dict_={"a": {"b": 1}})))
    assert json_tool.acall is not None
    result = stress_tool(json_tool, FAST)
    assert [p.name for p in result.phases] == ["serial", "threads", "asyncio"]
    assert _from_object(WaitTool()).acall is not None

    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    plain = _from_object(StructuredTool.from_function(shout))
    assert plain.acall is None  # StructuredTool's own _arun only runs the sync function
