"""Lint and the doctor's static part on real third-party tools, against hand-checked findings.

The corpus is the installed crewai-tools and langchain-community at the versions pinned
in pyproject's ``thirdparty`` extra; ``corpus_expected.json`` lists, per tool, the
findings a reader of the tool's source confirmed (and says how it was checked). The test
prints precision and recall per package and fails below the floors: they are set from
what lint reaches today (recorded in BENCHMARKS.md), so a change that loses true
findings or adds false ones shows up here.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from pathlib import Path

import pytest

from toolsafe.doctor import diagnose
from toolsafe.doctor.discover import Discovery, discover
from toolsafe.doctor.lint import lint_sites

EXPECTED = json.loads((Path(__file__).parent / "corpus_expected.json").read_text())
PACKAGES = EXPECTED["packages"]
#: The floors (precision, recall) this test enforces, per package.
FLOORS = {"crewai_tools": (0.95, 0.95), "langchain_community.tools": (0.95, 0.95)}
#: Tools found in the whole package (helpers and abstract bases excluded).
TOOL_COUNTS = {"crewai_tools": 125, "langchain_community.tools": 160}
PROBLEMS = frozenset({"error", "warning"})


def _installed(target: str) -> Discovery:
    spec = PACKAGES[target]
    top = target.split(".")[0]
    if importlib.util.find_spec(top) is None:
        pytest.skip(f"{spec['distribution']} is not installed (pip install -e '.[thirdparty]')")
    version = importlib.metadata.version(spec["distribution"])
    if version != spec["version"]:
        pytest.skip(f"{spec['distribution']} {version} installed, the corpus is {spec['version']}")
    return discover(target, live=False)


def _checked(target: str, part: str | None = None) -> dict[str, dict[str, str]]:
    """The hand-checked tools: the development set ("tools"), the held-out set, or both."""
    spec = PACKAGES[target]
    if part is not None:
        return dict(spec[part])
    return {**spec["tools"], **spec["held_out"]}


def _score(expected: set[tuple[str, str]], found: set[tuple[str, str]]) -> tuple[float, float]:
    hits = len(expected & found)
    precision = hits / len(found) if found else 1.0
    recall = hits / len(expected) if expected else 1.0
    return precision, recall


@pytest.fixture(scope="module", params=sorted(PACKAGES))
def corpus(request: pytest.FixtureRequest) -> tuple[str, Discovery, dict[str, set[str]]]:
    target = request.param
    found = _installed(target)
    by_key = lint_sites(found)
    names = set(_checked(target))
    predicted: dict[str, set[str]] = {name: set() for name in names}
    for site in found.sites:
        if site.qualname in names:
            predicted[site.qualname] |= {
                f.rule for f in by_key.get(site.key, []) if f.severity in PROBLEMS
            }
    return target, found, predicted


def test_every_corpus_tool_is_found_once(corpus) -> None:
    target, found, _ = corpus
    names = [s.qualname for s in found.sites]
    for name in _checked(target):
        assert names.count(name) == 1, name
    print(f"\n{target}: {len(found.sites)} tools found")
    assert len(found.sites) == TOOL_COUNTS[target]


@pytest.mark.parametrize("part", ["tools", "held_out", None])
def test_lint_precision_and_recall_against_hand_checked_findings(corpus, part) -> None:
    target, _, predicted = corpus
    checked = _checked(target, part)
    expected = {(tool, rule) for tool, rules in checked.items() for rule in rules}
    found = {(tool, rule) for tool, rules in predicted.items() if tool in checked for rule in rules}
    precision, recall = _score(expected, found)
    label = {"tools": "development set", "held_out": "held-out set", None: "all"}[part]
    print(
        f"\n{target}, {label} ({len(checked)} tools, {len(expected)} true findings): "
        f"precision {precision:.1%}, recall {recall:.1%}"
    )
    for tool, rule in sorted(found - expected):
        print(f"  false positive: {tool} {rule}")
    for tool, rule in sorted(expected - found):
        print(f"  missed: {tool} {rule}")
    if part is None:
        floor_p, floor_r = FLOORS[target]
        assert precision >= floor_p and recall >= floor_r


def test_the_doctor_reports_the_same_static_findings(corpus) -> None:
    target, found, predicted = corpus
    names = set(_checked(target))
    where = {
        (str(s.path.resolve()), s.line): s.qualname for s in found.sites if s.qualname in names
    }
    report = diagnose(target, stress=False)
    seen = {}
    for diagnosis in report.tools:
        if diagnosis.path is None:
            continue
        qualname = where.get((str(Path(diagnosis.path).resolve()), diagnosis.line))
        if qualname is not None:
            seen[qualname] = {f.rule for f in diagnosis.problems}
    assert seen == predicted
