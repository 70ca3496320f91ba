"""Output budgets: structure-aware trimming, the marker, the untrimmed result, summarizers."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import toolsafe
from toolsafe import TRIM_MARKER, ApproxTokenCounter, OutputBudget, Runtime, trim_output

# --------------------------------------------------------------------------- properties

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=300),
    lambda children: (
        st.lists(children, max_size=40)
        | st.dictionaries(st.text(max_size=20), children, max_size=20)
    ),
    max_leaves=120,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values, limit=st.integers(min_value=1, max_value=3000), pretty=st.booleans())
def test_valid_json_in_gives_valid_json_out_and_marker_iff_trimmed(
    value: Any, limit: int, pretty: bool
) -> None:
    text = json.dumps(value, indent=2 if pretty else None, ensure_ascii=False)
    fitted = trim_output(text, max_chars=limit)
    json.loads(fitted.text)  # never invalid
    assert (TRIM_MARKER in fitted.text) == fitted.trimmed or TRIM_MARKER in text
    if len(text) <= limit:
        assert fitted.text == text and not fitted.trimmed
    elif not fitted.trimmed:  # only whitespace went: the same value, compactly
        assert json.loads(fitted.text) == value and len(fitted.text) <= limit
    if limit >= 120:  # from here on there is room for the marker: the budget holds
        assert len(fitted.text) <= limit


@settings(max_examples=150, deadline=None)
@given(text=st.text(min_size=1, max_size=5000), limit=st.integers(min_value=1, max_value=2000))
def test_any_text_fits_and_says_so(text: str, limit: int) -> None:
    fitted = trim_output(text, max_chars=limit)
    if len(text) <= limit:
        assert fitted.text == text and not fitted.trimmed
        return
    assert (TRIM_MARKER in fitted.text) == fitted.trimmed
    if not fitted.trimmed:  # JSON text that fit once re-serialized compactly
        assert json.loads(fitted.text) == json.loads(text)
    if limit >= 120:
        assert len(fitted.text) <= limit


@settings(max_examples=60, deadline=None)
@given(value=json_values, tokens=st.integers(min_value=40, max_value=800))
def test_token_budget_holds_for_json(value: Any, tokens: int) -> None:
    counter = ApproxTokenCounter()
    text = json.dumps(value)
    fitted = trim_output(text, max_tokens=tokens, counter=counter)
    json.loads(fitted.text)
    assert counter.count(fitted.text) <= tokens


# --------------------------------------------------------------------------- shapes


def test_array_keeps_first_items_and_counts_the_rest() -> None:
    rows = [{"id": i, "name": f"row {i}"} for i in range(1000)]
    fitted = trim_output(json.dumps(rows), max_chars=1000)
    out = json.loads(fitted.text)
    assert fitted.trimmed and len(fitted.text) <= 1000
    kept, marker = out[:-1], out[-1]
    assert kept == rows[: len(kept)] and len(kept) > 10
    assert marker.startswith(TRIM_MARKER)
    assert f"showing the first {len(kept)} of 1,000 items" in marker
    assert "ask for less" in marker


def test_object_keeps_its_keys_and_shortens_long_values() -> None:
    doc = {"title": "Report", "body": "word " * 20_000, "tags": ["a", "b"], "n": 3}
    fitted = trim_output(json.dumps(doc), max_chars=1500)
    out = json.loads(fitted.text)
    assert list(out)[:4] == ["title", "body", "tags", "n"]
    assert out["title"] == "Report" and out["tags"] == ["a", "b"] and out["n"] == 3
    assert out["body"].startswith("word word") and "more" not in out["body"][:100]
    assert "[+" in out["body"] and "chars]" in out["body"]
    assert out["_trimmed"].startswith(TRIM_MARKER)
    assert "long values shortened" in out["_trimmed"]
    assert f"{len(json.dumps(doc)):,} characters in all" in out["_trimmed"]
    assert len(fitted.text) <= 1500


def test_text_keeps_head_and_tail_cut_at_line_boundaries() -> None:
    lines = [f"line {i:05d}: some log output" for i in range(10_000)]
    text = "\n".join(lines)
    fitted = trim_output(text, max_chars=2000)
    head, _, rest = fitted.text.partition("\n…\n")
    marker, _, tail = rest.partition("\n…\n")
    assert head.startswith("line 00000") and tail.endswith("line 09999: some log output")
    assert all(line in lines for line in head.split("\n"))  # whole lines only
    assert all(line in lines for line in tail.split("\n"))
    cut = len(text) - len(head) - len(tail)
    assert f"{cut:,} characters cut from the middle" in marker
    assert f"{len(text):,} characters in all" in marker
    assert len(fitted.text) <= 2000


def test_pretty_printed_json_that_fits_compactly_is_not_marked() -> None:
    value = {"a": [1, 2, 3], "b": {"c": "d"}}
    text = json.dumps(value, indent=4)
    fitted = trim_output(text, max_chars=len(json.dumps(value, separators=(",", ":"))))
    assert not fitted.trimmed and json.loads(fitted.text) == value


def test_a_tiny_budget_still_gives_valid_json_with_the_marker() -> None:
    fitted = trim_output(json.dumps(list(range(1000))), max_chars=5)
    assert json.loads(fitted.text) == [f"{TRIM_MARKER}: all 1,000 items cut; ask for less]"]


def test_output_budget_checks_both_limits() -> None:
    budget = OutputBudget(max_chars=100, max_tokens=10, counter=ApproxTokenCounter())
    assert budget.fits("x" * 30)  # 10 tokens
    assert not budget.fits("x" * 31)  # 11 tokens
    assert not OutputBudget(max_chars=10).fits("x" * 11)


# --------------------------------------------------------------------------- in the runtime


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"id": i, "text": "lorem ipsum " * 5} for i in range(n)]


def test_tool_budget_trims_text_but_keeps_value_and_full_text() -> None:
    @toolsafe.tool(max_output_chars=800)
    def search(n: int) -> list[dict[str, Any]]:
        return _rows(n)

    with Runtime([search]) as rt:
        small = rt.call("search", {"n": 2})
        big = rt.call("search", {"n": 500})
    assert not small.trimmed and small.full_text is None
    assert big.ok and big.trimmed and len(big.text) <= 800
    assert TRIM_MARKER in big.text and json.loads(big.text)[-1].startswith(TRIM_MARKER)
    assert big.value == _rows(500)  # the raw value, untouched
    assert big.full_text is not None and json.loads(big.full_text) == _rows(500)


async def test_runtime_default_budget_applies_and_tool_option_wins() -> None:
    @toolsafe.tool
    def plain(n: int) -> str:
        return "x" * n

    @toolsafe.tool(max_output_chars=5000)
    def roomy(n: int) -> str:
        return "x" * n

    async with Runtime([plain, roomy], max_output_chars=300) as rt:
        assert rt.option(rt.get("plain"), "max_output_chars") == 300
        a = await rt.acall("plain", {"n": 4000})
        b = await rt.acall("roomy", {"n": 4000})
    assert a.trimmed and len(a.text) <= 300
    assert not b.trimmed and b.text == "x" * 4000


def test_token_budget_in_the_runtime_uses_the_runtime_counter() -> None:
    @toolsafe.tool(max_output_tokens=100)
    def words(n: int) -> str:
        return " ".join(f"w{i}" for i in range(n))

    with Runtime([words], token_counter="approx") as rt:
        outcome = rt.call("words", {"n": 2000})
    assert outcome.trimmed and ApproxTokenCounter().count(outcome.text) <= 100


def test_sync_summarizer_replaces_trimming_and_runs_off_the_loop() -> None:
    seen: dict[str, Any] = {}

    def summarize(text: str) -> str:
        seen["thread"] = threading.current_thread().name
        seen["chars"] = len(text)
        return f"{len(json.loads(text))} rows; the first is {json.loads(text)[0]['id']}"

    @toolsafe.tool(max_output_chars=200, summarizer=summarize)
    def search(n: int) -> list[dict[str, Any]]:
        return _rows(n)

    with Runtime([search]) as rt:
        outcome = rt.call("search", {"n": 300})
    assert outcome.text == "300 rows; the first is 0" and outcome.trimmed
    assert seen["chars"] == len(outcome.full_text or "")
    assert seen["thread"] != threading.current_thread().name


async def test_async_summarizer_gets_the_budget_and_an_oversized_summary_is_trimmed() -> None:
    budgets: list[OutputBudget] = []

    async def summarize(text: str, budget: OutputBudget) -> str:
        budgets.append(budget)
        await asyncio.sleep(0)
        return "summary " * 100  # longer than allowed: trimmed after all

    @toolsafe.tool(max_output_chars=300, summarizer=summarize)
    async def search(n: int) -> list[dict[str, Any]]:
        return _rows(n)

    async with Runtime([search]) as rt:
        outcome = await rt.acall("search", {"n": 300})
    assert budgets[0].max_chars == 300
    assert outcome.text.startswith("summary summary") and TRIM_MARKER in outcome.text
    assert len(outcome.text) <= 300


def test_failing_summarizer_falls_back_to_trimming(caplog: pytest.LogCaptureFixture) -> None:
    def summarize(text: str) -> str:
        raise RuntimeError("model unavailable")

    @toolsafe.tool(max_output_chars=400, summarizer=summarize)
    def search(n: int) -> list[dict[str, Any]]:
        return _rows(n)

    with Runtime([search]) as rt, caplog.at_level("WARNING", logger="toolsafe"):
        outcome = rt.call("search", {"n": 300})
    assert outcome.ok and outcome.trimmed and TRIM_MARKER in outcome.text
    assert "summarizer of tool search failed (RuntimeError: model unavailable)" in caplog.text


@pytest.mark.parametrize(
    "options",
    [
        {"trim_hint": "Pass page=2 for the next rows."},
        {"extra": {"trim_hint": "Pass page=2 for the next rows."}},  # its former place
    ],
    ids=["option", "extra"],
)
def test_trim_hint_reaches_the_model(options: dict[str, Any]) -> None:
    @toolsafe.tool(max_output_chars=1000, **options)
    def search(n: int) -> list[dict[str, Any]]:
        return _rows(n)

    with Runtime([search]) as rt:
        outcome = rt.call("search", {"n": 300})
    assert "Pass page=2 for the next rows." in outcome.text


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"max_output_chars": "big"}, "max_output_chars='big'"),
        ({"max_output_tokens": 0}, "max_output_tokens=0"),
        ({"summarizer": "short"}, "summarizer='short'"),
        ({"trim_hint": 3}, "trim_hint=3"),
    ],
)
def test_bad_budget_options_fail_at_registration(options: dict[str, Any], needle: str) -> None:
    def lookup(q: str) -> str:
        """Look something up."""
        return q

    with pytest.raises(toolsafe.ConfigurationError) as info:
        toolsafe.Runtime([toolsafe.tool(lookup, **options)])
    assert needle in str(info.value)
