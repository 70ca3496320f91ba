"""The doctor on examples/: every broken tool is flagged for the right reason, and stress
observes the failure where one is observable; every fixed tool passes.

Each folder is diagnosed once per test session (module fixtures): the broken run takes
a few seconds (two calls hang for ``timeout``), the CrewAI import most of the rest.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from toolsafe.doctor import DoctorReport, StressOptions, diagnose

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
OPTIONS = StressOptions(calls=24, distinct=8, timeout=1.5, max_seconds=20)
HAVE = {name: importlib.util.find_spec(name) is not None for name in ("crewai", "langchain_core")}
FRAMEWORK_OF = {"web_search": "crewai", "translate": "crewai", "export_orders": "langchain_core"}

#: tool -> (lint rules that must fire, stress checks that must be observed)
BROKEN = {
    "web_search": ({"TS101", "TS103"}, {"ST01"}),
    "translate": ({"TS201"}, {"ST05"}),
    "export_orders": (set(), {"ST04"}),
    "get_price": ({"TS301"}, {"ST03"}),
    "render_report": ({"TS102"}, {"ST02"}),
    "customer_balance": ({"TS303"}, {"ST06"}),
}


@pytest.fixture(scope="module")
def broken() -> DoctorReport:
    return diagnose(str(EXAMPLES / "broken"), options=OPTIONS)


@pytest.fixture(scope="module")
def fixed() -> DoctorReport:
    return diagnose(str(EXAMPLES / "fixed"), options=OPTIONS)


def _runnable(name: str) -> bool:
    return HAVE.get(FRAMEWORK_OF.get(name, ""), True)


def test_one_broken_tool_per_failure_mode(broken: DoctorReport) -> None:
    assert sorted(t.name for t in broken.tools) == sorted(BROKEN)
    assert broken.exit_code == 1


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_tool_flagged_for_the_right_reason(broken: DoctorReport, name: str) -> None:
    diagnosis = broken.tool(name)
    rules, observed = BROKEN[name]
    assert rules <= {f.rule for f in diagnosis.findings}
    if not _runnable(name):
        assert diagnosis.stress is None and "not installed" in (diagnosis.not_stressed or "")
        assert diagnosis.verdict == ("at-risk" if rules else "unchecked")
        return
    assert diagnosis.stress is not None
    assert observed <= {p.id for p in diagnosis.stress.problems}
    expected = "at-risk" if observed == {"ST06"} else "broken"
    assert diagnosis.verdict == expected


def test_fixed_examples_all_pass(fixed: DoctorReport) -> None:
    names = [t.name for t in fixed.tools]
    assert sorted(names) == sorted([*BROKEN, *BROKEN])  # done right, and wrapped by toolsafe
    for diagnosis in fixed.tools:
        problems = [f.rule for f in diagnosis.problems]
        observed = [p.id for p in diagnosis.stress.problems] if diagnosis.stress else []
        assert (problems, observed) == ([], []), diagnosis.name
        expected = "healthy" if _runnable(diagnosis.name) else "unchecked"
        if diagnosis.framework == "toolsafe":
            expected = "healthy"
        assert diagnosis.verdict == expected, diagnosis.name
    assert fixed.exit_code == 0


def test_toolsafe_isolation_is_what_fixes_the_wrapped_search(fixed: DoctorReport) -> None:
    wrapped = next(t for t in fixed.tools if t.name == "web_search" and t.framework == "toolsafe")
    assert [(f.rule, f.severity) for f in wrapped.findings] == [("TS101", "info")]
    assert wrapped.stress is not None
    assert any("last_query" in note for note in wrapped.stress.notes)
