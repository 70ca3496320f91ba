"""Rate limits: token bucket pacing, the observed rate's bound, refusals within the deadline."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import toolsafe
from toolsafe import ConfigurationError, FakeClock, Rate, Runtime
from toolsafe.observe import events as ev
from toolsafe.policies.rate_limit import RateLimitRejected, RateLimitWaited, as_rate


def _stamping_tool(stamps: list[float], now: Any, is_async: bool, **options: Any) -> toolsafe.Tool:
    if is_async:

        async def ping(i: int) -> int:
            stamps.append(now())
            return i

    else:

        def ping(i: int) -> int:  # type: ignore[misc]
            stamps.append(now())
            return i

    return toolsafe.tool(ping, **options)


def _max_in_window(stamps: list[float], rate: float, burst: int) -> float:
    """The largest excess of calls started in any window over ``rate * span + burst``."""
    ordered = sorted(stamps)
    worst = -float("inf")
    for i in range(len(ordered)):
        for j in range(i, len(ordered)):
            worst = max(worst, (j - i + 1) - (rate * (ordered[j] - ordered[i]) + burst))
    return worst


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_bursts_then_paces_exactly(is_async: bool) -> None:
    clock = FakeClock()
    stamps: list[float] = []
    events: list[ev.Event] = []
    tool = _stamping_tool(stamps, clock.now, is_async, rate=Rate(per_second=10, burst=5))
    with Runtime([tool], clock=clock, listeners=[events.append]) as rt:
        for i in range(15):
            assert rt.call("ping", {"i": i}).ok
    assert stamps[:5] == [0.0] * 5
    assert stamps[5:] == pytest.approx([0.1 * k for k in range(1, 11)])
    assert _max_in_window(stamps, 10, 5) <= 1e-9
    assert len([e for e in events if isinstance(e, RateLimitWaited)]) == 10


def test_observed_rate_stays_within_its_bound_under_concurrency() -> None:
    """Real time, 60 concurrent calls through 100/s with a burst of 5."""
    stamps: list[float] = []
    tool = _stamping_tool(stamps, time.monotonic, True, rate=Rate(per_second=100, burst=5))
    with Runtime([tool]) as rt:
        began = time.monotonic()
        outcomes = rt.call_many([("ping", {"i": i}) for i in range(60)])
        elapsed = time.monotonic() - began
    assert all(o.ok for o in outcomes)
    # 55 calls beyond the burst need at least 0.55 s at 100/s (sleeps never end early)
    assert elapsed >= 0.54
    # late wake-ups may bunch a few calls together; allow that, not a broken limit
    assert _max_in_window(stamps, 100, 5) <= 3


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_refuses_when_the_token_comes_after_the_deadline(is_async: bool) -> None:
    clock = FakeClock()
    stamps: list[float] = []
    events: list[ev.Event] = []
    tool = _stamping_tool(stamps, clock.now, is_async, rate="1/s", deadline=0.5)
    with Runtime([tool], clock=clock, listeners=[events.append]) as rt:
        assert rt.call("ping", {"i": 1}).ok
        refused = rt.call("ping", {"i": 2})
        assert refused.error is not None and refused.error.type == "RateLimited"
        assert refused.error.retryable and refused.error.retry_after_s == pytest.approx(1.0)
        assert toolsafe.is_rejection(refused.error) and refused.attempts == 0
        assert len(stamps) == 1 and clock.sleeps == []
        clock.advance(1.0)
        assert rt.call("ping", {"i": 3}).ok
    assert len([e for e in events if isinstance(e, RateLimitRejected)]) == 1


def test_max_wait_bounds_the_wait_without_a_deadline() -> None:
    clock = FakeClock()
    stamps: list[float] = []
    tool = _stamping_tool(stamps, clock.now, False, rate=Rate(per_second=2, burst=1, max_wait=0.4))
    with Runtime([tool], clock=clock) as rt:
        assert rt.call("ping", {"i": 1}).ok
        assert rt.call("ping", {"i": 2}).error.type == "RateLimited"  # type: ignore[union-attr]


def test_tools_on_one_upstream_share_a_bucket() -> None:
    clock = FakeClock()
    stamps: list[float] = []

    def a(i: int) -> int:
        stamps.append(clock.now())
        return i

    def b(i: int) -> int:
        stamps.append(clock.now())
        return i

    tools = [toolsafe.tool(f, upstream="api", rate="4/s") for f in (a, b)]
    with Runtime(tools, clock=clock) as rt:
        for i in range(12):
            assert rt.call("a" if i % 2 else "b", {"i": i}).ok
    assert _max_in_window(stamps, 4, 4) <= 1e-9
    assert stamps[-1] == pytest.approx(2.0)  # 8 beyond the burst of 4, at 4/s


def test_testing_mode_skips_the_waits() -> None:
    clock = FakeClock()
    stamps: list[float] = []
    tool = _stamping_tool(stamps, clock.now, False, rate=Rate(per_second=1, burst=1))
    with Runtime([tool], clock=clock) as rt, toolsafe.testing.set_testing(True):
        for i in range(5):
            assert rt.call("ping", {"i": i}).ok
    assert clock.sleeps == [] and stamps == [0.0] * 5


async def test_async_acall_waits_on_the_clock() -> None:
    clock = FakeClock()
    stamps: list[float] = []
    tool = _stamping_tool(stamps, clock.now, True, rate=Rate(per_second=5, burst=1))
    async with Runtime([tool], clock=clock) as rt:
        results = [await rt.acall("ping", {"i": i}) for i in range(3)]
    assert all(r.ok for r in results)
    assert stamps == pytest.approx([0.0, 0.2, 0.4])
    await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("text", "per_second", "burst"),
    [
        ("20/s", 20.0, 20),
        ("100/min", 100 / 60, 1),
        ("100 / minute", 100 / 60, 1),
        ("5000/h", 5000 / 3600, 1),
        ("10/5s", 2.0, 2),
        ("3/seconds", 3.0, 3),
        ("0.5/s", 0.5, 1),
    ],
)
def test_shorthand(text: str, per_second: float, burst: int) -> None:
    rate = as_rate(text)
    assert rate is not None
    assert rate.per_second == pytest.approx(per_second) and rate.capacity == burst


@pytest.mark.parametrize("text", ["20/x", "fast", "0/s", "20/ms", "/s", "-1/s"])
def test_bad_shorthand(text: str) -> None:
    with pytest.raises(ConfigurationError):
        as_rate(text)


def test_other_option_forms() -> None:
    assert as_rate(None) is None
    assert as_rate(7) == Rate(per_second=7.0)
    assert as_rate({"per_second": 2, "burst": 3}) == Rate(2, 3)
    with pytest.raises(ConfigurationError):
        Rate(per_second=0)
    with pytest.raises(ConfigurationError):
        Rate(per_second=1, burst=0)
