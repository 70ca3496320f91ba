"""Retry: backoff, Retry-After, the deadline, idempotency, and what is never retried."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import toolsafe
from toolsafe import ConfigurationError, FakeClock, Retry, Runtime, ToolFailure
from toolsafe.observe import events as ev
from toolsafe.policies.retry import RetryScheduled, RetryStopped, as_retry


class Flaky:
    """Fails with ``error`` until its ``succeed_on``-th call."""

    def __init__(self, succeed_on: int, error: BaseException) -> None:
        self.calls = 0
        self.succeed_on = succeed_on
        self.error = error

    def step(self, x: int) -> int:
        self.calls += 1
        if self.calls < self.succeed_on:
            raise self.error
        return x * 2


def _sync_tool(flaky: Flaky, **options: Any) -> toolsafe.Tool:
    def flaky_tool(x: int) -> int:
        return flaky.step(x)

    return toolsafe.tool(flaky_tool, **options)


def _async_tool(flaky: Flaky, **options: Any) -> toolsafe.Tool:
    async def flaky_tool(x: int) -> int:
        await asyncio.sleep(0)
        return flaky.step(x)

    return toolsafe.tool(flaky_tool, **options)


MAKERS = [pytest.param(_sync_tool, id="sync"), pytest.param(_async_tool, id="async")]


@pytest.mark.parametrize("make", MAKERS)
def test_succeeds_on_third_attempt_with_growing_backoff(make: Any) -> None:
    flaky = Flaky(3, ConnectionError("reset"))
    events: list[ev.Event] = []
    clock = FakeClock()
    tool = make(flaky, retry=Retry(attempts=3, initial=0.1, jitter="none"), idempotent=True)
    with Runtime([tool], clock=clock, listeners=[events.append]) as rt:
        outcome = rt.call("flaky_tool", {"x": 21})
    assert outcome.ok and outcome.value == 42 and outcome.attempts == 3
    assert flaky.calls == 3
    started = [e.attempt for e in events if isinstance(e, ev.AttemptStarted)]
    assert started == [1, 2, 3]
    scheduled = [e for e in events if isinstance(e, RetryScheduled)]
    assert [e.attempt for e in scheduled] == [1, 2]
    assert [e.delay for e in scheduled] == pytest.approx([0.1, 0.2])
    assert scheduled[0].delay < scheduled[1].delay
    assert all(e.error is not None and e.error.type == "ConnectionError" for e in scheduled)
    assert clock.sleeps == pytest.approx([0.1, 0.2])


async def test_async_twin_through_acall() -> None:
    flaky = Flaky(3, TimeoutError("slow"))
    clock = FakeClock()
    tool = _async_tool(flaky, retry=Retry(attempts=5, jitter="none"), idempotent=True)
    async with Runtime([tool], clock=clock) as rt:
        outcome = await rt.acall("flaky_tool", {"x": 1})
    assert outcome.ok and outcome.attempts == 3


@pytest.mark.parametrize("make", MAKERS)
def test_gives_up_after_attempts_and_says_how_many(make: Any) -> None:
    flaky = Flaky(99, ConnectionError("down"))
    events: list[ev.Event] = []
    tool = make(flaky, retry=4, idempotent=True)
    with Runtime([tool], clock=FakeClock(), listeners=[events.append]) as rt:
        outcome = rt.call("flaky_tool", {"x": 1})
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.attempts == 4 and outcome.attempts == 4
    assert outcome.error.type == "ConnectionError" and outcome.error.retryable
    assert flaky.calls == 4
    stopped = [e for e in events if isinstance(e, RetryStopped)]
    assert [(e.attempt, e.reason) for e in stopped] == [(4, "attempts")]


@pytest.mark.parametrize("make", MAKERS)
def test_non_retryable_errors_are_never_retried(make: Any) -> None:
    flaky = Flaky(99, ValueError("bad input"))
    tool = make(flaky, retry=5, idempotent=True)
    with Runtime([tool], clock=FakeClock()) as rt:
        outcome = rt.call("flaky_tool", {"x": 1})
    assert outcome.error is not None and outcome.error.type == "ValueError"
    assert not outcome.error.retryable and outcome.attempts == 1 and flaky.calls == 1


def test_validation_errors_are_never_retried() -> None:
    flaky = Flaky(1, ValueError())
    tool = _sync_tool(flaky, retry=5, idempotent=True)
    with Runtime([tool], clock=FakeClock()) as rt:
        outcome = rt.call("flaky_tool", {"x": "not a number"})
    assert outcome.error is not None and outcome.error.type == "InvalidArguments"
    assert outcome.attempts == 0 and flaky.calls == 0


def test_tools_that_do_not_say_are_not_retried_after_they_ran() -> None:
    """The safe default: a tool not declared idempotent may have applied its effect."""
    flaky = Flaky(2, ConnectionError("reset after the request was sent"))
    events: list[ev.Event] = []
    tool = _sync_tool(flaky, retry=3)
    with Runtime([tool], clock=FakeClock(), listeners=[events.append]) as rt:
        outcome = rt.call("flaky_tool", {"x": 1})
    assert not outcome.ok and outcome.attempts == 1 and flaky.calls == 1
    stopped = [e for e in events if isinstance(e, RetryStopped)]
    assert [e.reason for e in stopped] == ["not_idempotent"]


def test_idempotent_false_is_the_same_as_not_saying() -> None:
    flaky = Flaky(2, TimeoutError())
    with Runtime([_sync_tool(flaky, retry=3, idempotent=False)], clock=FakeClock()) as rt:
        assert rt.call("flaky_tool", {"x": 1}).attempts == 1


def test_runtime_wide_idempotent_default() -> None:
    flaky = Flaky(2, TimeoutError())
    with Runtime([_sync_tool(flaky)], clock=FakeClock(), retry=3, idempotent=True) as rt:
        outcome = rt.call("flaky_tool", {"x": 1})
    assert outcome.ok and outcome.attempts == 2


async def test_non_idempotent_tool_is_retried_when_it_never_started() -> None:
    """A rejection (no slot before the attempt's time ran out) is safe to retry."""
    gate = asyncio.Event()
    calls = 0

    @toolsafe.tool(upstream="api", concurrency=1, timeout=5)
    async def hold() -> str:
        await gate.wait()
        return "held"

    @toolsafe.tool(upstream="api", concurrency=1, timeout=0.05, retry=Retry(3, initial=0.01))
    async def once(x: int) -> int:
        nonlocal calls
        calls += 1
        return x

    events: list[ev.Event] = []
    async with Runtime([hold, once], listeners=[events.append]) as rt:
        holder = asyncio.ensure_future(rt.acall("hold", {}))
        await asyncio.sleep(0.01)
        blocked = await rt.acall("once", {"x": 1}, call_id="blocked")
        gate.set()
        assert (await holder).ok
    assert blocked.error is not None and blocked.error.type == "ConcurrencyLimited"
    assert blocked.attempts == 3 and calls == 0  # retried: the tool body never ran
    retried = [e for e in events if isinstance(e, RetryScheduled) and e.call_id == "blocked"]
    assert len(retried) == 2


@pytest.mark.parametrize("make", MAKERS)
def test_retry_after_is_a_floor_on_the_wait(make: Any) -> None:
    flaky = Flaky(2, ToolFailure("busy", retryable=True, retry_after_s=7))
    clock = FakeClock()
    tool = make(flaky, retry=Retry(attempts=2, initial=0.1, jitter="none"), idempotent=True)
    with Runtime([tool], clock=clock) as rt:
        outcome = rt.call("flaky_tool", {"x": 1})
    assert outcome.ok and clock.sleeps == [7]


def test_retry_after_beyond_max_retry_after_ends_the_call_with_it() -> None:
    flaky = Flaky(2, ToolFailure("quota", retryable=True, retry_after_s=3600))
    clock = FakeClock()
    tool = _sync_tool(flaky, retry=Retry(attempts=3, max_retry_after=60), idempotent=True)
    with Runtime([tool], clock=clock) as rt:
        outcome = rt.call("flaky_tool", {"x": 1})
    assert outcome.error is not None and outcome.error.retry_after_s == 3600
    assert outcome.attempts == 1 and clock.sleeps == []


@pytest.mark.parametrize("make", MAKERS)
def test_never_sleeps_past_the_deadline(make: Any) -> None:
    flaky = Flaky(99, ConnectionError("down"))
    events: list[ev.Event] = []
    clock = FakeClock()
    tool = make(
        flaky,
        retry=Retry(attempts=10, initial=1.0, multiplier=2.0, jitter="none"),
        idempotent=True,
        deadline=5.0,
    )
    with Runtime([tool], clock=clock, listeners=[events.append]) as rt:
        outcome = rt.call("flaky_tool", {"x": 1})
    # waits 1, 2 (t=3); the next wait of 4 would end past t=5: stop with the real error
    assert clock.sleeps == [1.0, 2.0]
    assert outcome.attempts == 3 and outcome.error is not None
    assert outcome.error.type == "ConnectionError"
    assert clock.now() <= 5.0
    assert [e.reason for e in events if isinstance(e, RetryStopped)] == ["deadline"]


def test_retry_after_past_the_deadline_is_not_waited_for() -> None:
    flaky = Flaky(2, ToolFailure("later", retryable=True, retry_after_s=30))
    clock = FakeClock()
    tool = _sync_tool(flaky, retry=3, idempotent=True, deadline=10)
    with Runtime([tool], clock=clock) as rt:
        outcome = rt.call("flaky_tool", {"x": 1})
    assert outcome.attempts == 1 and clock.sleeps == []


def test_testing_mode_turns_retries_and_waits_off() -> None:
    flaky = Flaky(3, ConnectionError())
    clock = FakeClock()
    tool = _sync_tool(flaky, retry=Retry(attempts=5, initial=10), idempotent=True)
    with Runtime([tool], clock=clock) as rt:
        with toolsafe.testing.set_testing(True):
            assert toolsafe.testing.is_testing()
            assert rt.call("flaky_tool", {"x": 1}).attempts == 1
        assert not toolsafe.testing.is_testing()
        flaky.calls = 0
        with toolsafe.testing.set_testing(True, attempts=3):
            outcome = rt.call("flaky_tool", {"x": 1})
        assert outcome.ok and outcome.attempts == 3
        assert clock.sleeps == [0.0, 0.0]


def test_set_testing_as_a_plain_call() -> None:
    restore = toolsafe.testing.set_testing(True, attempts=2)
    try:
        assert toolsafe.testing.testing_attempts() == 2
    finally:
        toolsafe.testing.set_testing(False)
    assert toolsafe.testing.testing_attempts() is None
    del restore
    with pytest.raises(ValueError):
        toolsafe.testing.set_testing(True, attempts=0)


# --------------------------------------------------------------------------- options


def test_option_forms() -> None:
    assert as_retry(None) is None and as_retry(False) is None
    assert as_retry(1) is None  # one attempt is no retry
    assert as_retry(4) == Retry(attempts=4)
    assert as_retry(True) == Retry()
    assert as_retry({"attempts": 2, "jitter": "none"}) == Retry(attempts=2, jitter="none")
    with pytest.raises(ConfigurationError):
        as_retry("often")


def test_bad_options_are_reported_at_registration() -> None:
    def f(x: int) -> int:
        return x

    with pytest.raises(ConfigurationError) as info:
        Runtime([toolsafe.tool(f, retry=0, rate="fast", breaker="yes")])
    text = str(info.value)
    assert "retry=0" in text and "rate='fast'" in text and "breaker='yes'" in text
    with pytest.raises(ConfigurationError, match="multiplier"):
        Retry(multiplier=0.5)
    with pytest.raises(ConfigurationError, match="jitter"):
        Retry(jitter="some")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- properties


@given(
    attempts=st.integers(2, 20),
    initial=st.floats(0, 10),
    multiplier=st.floats(1, 10),
    max_backoff=st.floats(0, 100),
    retry=st.integers(1, 200),
    draw=st.floats(0, 1, exclude_max=True),
)
def test_backoff_stays_within_its_cap(
    attempts: int, initial: float, multiplier: float, max_backoff: float, retry: int, draw: float
) -> None:
    options = Retry(
        attempts=attempts,
        initial=initial,
        multiplier=multiplier,
        max_backoff=max_backoff,
        rng=lambda: draw,
    )
    cap = options.cap(retry)
    assert 0 <= options.backoff(retry) <= cap <= max_backoff
    try:
        grown = initial * multiplier ** (retry - 1)
    except OverflowError:
        grown = float("inf")
    assert cap == min(max_backoff, grown)
    # the cap never shrinks from one retry to the next
    assert options.cap(retry + 1) >= cap
    exact = Retry(initial=initial, multiplier=multiplier, max_backoff=max_backoff, jitter="none")
    assert exact.backoff(retry) == exact.cap(retry)


@given(st.lists(st.sampled_from(["ok", "transient", "permanent"]), min_size=1, max_size=12))
def test_attempts_never_exceed_the_limit(script: list[str]) -> None:
    calls = 0

    def scripted(x: int) -> str:
        nonlocal calls
        step = script[min(calls, len(script) - 1)]
        calls += 1
        if step == "transient":
            raise ConnectionError("again")
        if step == "permanent":
            raise ValueError("no")
        return "done"

    tool = toolsafe.tool(scripted, retry=Retry(attempts=4), idempotent=True)
    with Runtime([tool], clock=FakeClock()) as rt:
        outcome = rt.call("scripted", {"x": 1})

    def step(i: int) -> str:
        return script[min(i, len(script) - 1)]

    expected = next((i + 1 for i in range(4) if step(i) != "transient"), 4)
    assert outcome.attempts == calls == expected
    assert outcome.ok == (step(expected - 1) == "ok")
