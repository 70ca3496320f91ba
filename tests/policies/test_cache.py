"""Result cache: keyed by canonical validated arguments, TTL, errors never cached."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import toolsafe
from toolsafe import Cache, ConfigurationError, FakeClock, Runtime
from toolsafe.observe import events as ev
from toolsafe.policies.cache import CacheHit, as_cache, cache_key


def _counting(calls: list[dict[str, Any]], is_async: bool, **options: Any) -> toolsafe.Tool:
    if is_async:

        async def lookup(city: str, days: int = 1) -> dict[str, Any]:
            await asyncio.sleep(0)
            calls.append({"city": city, "days": days})
            return {"city": city, "days": days, "temps": [20] * days}

    else:

        def lookup(city: str, days: int = 1) -> dict[str, Any]:  # type: ignore[misc]
            calls.append({"city": city, "days": days})
            return {"city": city, "days": days, "temps": [20] * days}

    return toolsafe.tool(lookup, **options)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_hits_skip_the_tool_until_the_ttl_passes(is_async: bool) -> None:
    calls: list[dict[str, Any]] = []
    clock = FakeClock()
    events: list[ev.Event] = []
    with Runtime(
        [_counting(calls, is_async, cache=60)], clock=clock, listeners=[events.append]
    ) as rt:
        first = rt.call("lookup", {"city": "Oslo", "days": 2})
        again = rt.call("lookup", '{"days": 2, "city": "Oslo"}')  # same arguments, other order
        assert first.ok and again.ok and again.value == first.value and again.text == first.text
        assert len(calls) == 1 and again.attempts == 0
        assert rt.call("lookup", {"city": "Oslo"}).ok  # other arguments, other entry
        assert len(calls) == 2
        clock.advance(60)
        rt.call("lookup", {"city": "Oslo", "days": 2})
        assert len(calls) == 3
    assert len([e for e in events if isinstance(e, CacheHit)]) == 1


def test_defaults_and_explicit_values_share_an_entry() -> None:
    calls: list[dict[str, Any]] = []
    with Runtime([_counting(calls, False, cache=Cache(ttl=60))], clock=FakeClock()) as rt:
        rt.call("lookup", {"city": "Rome"})
        rt.call("lookup", {"city": "Rome", "days": 1})
    assert len(calls) == 1  # the key is built from the *validated* arguments


def test_errors_are_never_cached() -> None:
    runs = 0

    def flaky(q: str) -> str:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise ConnectionError("down")
        return "fine"

    with Runtime([toolsafe.tool(flaky, cache=60)], clock=FakeClock()) as rt:
        assert not rt.call("flaky", {"q": "x"}).ok
        assert rt.call("flaky", {"q": "x"}).value == "fine"
        assert rt.call("flaky", {"q": "x"}).value == "fine"
    assert runs == 2


def test_a_caller_mutating_its_result_does_not_change_the_next_one() -> None:
    calls: list[dict[str, Any]] = []
    with Runtime([_counting(calls, False, cache=60)], clock=FakeClock()) as rt:
        first = rt.call("lookup", {"city": "Lima"})
        first.value["temps"].append(99)
        second = rt.call("lookup", {"city": "Lima"})
        second.value["temps"].clear()
        third = rt.call("lookup", {"city": "Lima"})
    assert third.value == {"city": "Lima", "days": 1, "temps": [20]}
    assert len(calls) == 1


def test_cache_lives_in_the_store_not_the_tool() -> None:
    calls: list[dict[str, Any]] = []
    tool = _counting(calls, False, cache=60)
    with Runtime([tool], clock=FakeClock()) as one:
        one.call("lookup", {"city": "Kyiv"})
    with Runtime([tool], clock=FakeClock()) as two:  # a new runtime, a new store
        two.call("lookup", {"city": "Kyiv"})
    assert len(calls) == 2
    assert not any("cache" in k for k in vars(tool))


def test_key_is_canonical_and_namespaced_by_tool() -> None:
    assert cache_key("t", {"a": 1, "b": [1, 2]}) == cache_key("t", {"b": [1, 2], "a": 1})
    assert cache_key("t", {"a": 1}) != cache_key("u", {"a": 1})
    assert cache_key("t", {"a": 1}) != cache_key("t", {"a": "1"})
    assert cache_key("t", {"x": object()}) is None  # no JSON form: not cached


def test_cache_option_forms() -> None:
    assert as_cache(None) is None and as_cache(0) is None
    assert as_cache(30) == Cache(ttl=30)
    assert as_cache(True) == Cache()
    with pytest.raises(ConfigurationError):
        Cache(ttl=-1)
    with pytest.raises(ConfigurationError):
        as_cache("forever")
