"""Stuck threads: a bounded share per tool, replacement up to a cap, and counts in stats()."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

import toolsafe
from toolsafe import Runtime
from toolsafe.observe import events as ev


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def _tools(release: threading.Event, **hang_options: object) -> list[toolsafe.Tool]:
    def hang() -> str:
        release.wait()
        return "late"

    def quick() -> str:
        return "quick"

    return [toolsafe.tool(hang, timeout=0.05, **hang_options), toolsafe.tool(quick, timeout=2)]


def _wait_for(predicate: object, seconds: float = 10) -> None:
    limit = time.monotonic() + seconds
    while not predicate() and time.monotonic() < limit:  # type: ignore[operator]
        time.sleep(0.005)


def test_a_hanging_tool_cannot_take_more_than_its_share(release: threading.Event) -> None:
    with Runtime(_tools(release), sync_workers=4, sync_share=1) as rt:
        first = rt.call("hang")
        assert first.error is not None and first.error.type == "TimeoutError"
        assert "abandoned" in first.error.message and not toolsafe.is_rejection(first.error)
        second = rt.call("hang")  # its only thread is stuck: it waits in its own queue
        assert second.error is not None and second.error.type == "TimeoutError"
        assert "never started" in second.error.message and toolsafe.is_rejection(second.error)
        assert rt.call("quick").value == "quick"  # other tools are not starved
        pool = rt.stats()["backend"]["pool"]
        assert pool["stuck"] == 1 and pool["stuck_by_key"] == {"hang": 1}
        assert pool["abandoned_total"] == 1
        release.set()
        _wait_for(lambda: rt.stats()["backend"]["pool"]["stuck"] == 0)
        assert rt.stats()["backend"]["pool"]["stuck"] == 0


@pytest.mark.parametrize(
    "options",
    [{"sync_share": 2}, {"extra": {"sync_share": 2}}],  # the option, and its former place
    ids=["option", "extra"],
)
def test_a_tool_may_have_its_own_share(
    release: threading.Event, options: dict[str, object]
) -> None:
    tools = _tools(release, **options)
    with Runtime(tools, sync_workers=4, sync_share=1) as rt:
        outcomes = rt.call_many([("hang", {})] * 3)
        messages = sorted(o.error.message for o in outcomes if o.error is not None)
        assert sum("abandoned" in m for m in messages) == 2
        assert sum("never started" in m for m in messages) == 1
        assert rt.stats()["backend"]["pool"]["stuck_by_key"] == {"hang": 2}


def test_when_every_worker_is_stuck_new_calls_time_out_unstarted(
    release: threading.Event,
) -> None:
    """The documented end state: no replacement beyond the cap, so work queues and each
    call ends at its own timeout with a retryable 'never started' error; an event says so."""
    events: list[ev.Event] = []
    with Runtime(
        _tools(release),
        sync_workers=2,
        sync_share=2,
        max_abandoned_threads=0,
        listeners=[events.append],
    ) as rt:
        rt.call_many([("hang", {})] * 2)
        pool = rt.stats()["backend"]["pool"]
        assert pool["stuck"] == 2 and pool["cap_reached_total"] >= 1
        starved = rt.call("quick")
        assert starved.error is not None and starved.error.type == "TimeoutError"
        assert "never started" in starved.error.message and "stuck" in starved.error.message
        assert [e.kind for e in events if isinstance(e, ev.PoolEvent)].count(
            "abandon_cap_reached"
        ) >= 1
        release.set()
        _wait_for(lambda: rt.stats()["backend"]["pool"]["stuck"] == 0)
        assert rt.call("quick").value == "quick"  # the pool heals when the threads return


def test_stuck_threads_are_replaced_up_to_the_cap(release: threading.Event) -> None:
    def hang_a() -> str:
        release.wait()
        return "late"

    def hang_b() -> str:
        release.wait()
        return "late"

    def quick() -> str:
        return "quick"

    tools = [
        toolsafe.tool(hang_a, timeout=0.05),
        toolsafe.tool(hang_b, timeout=0.05),
        toolsafe.tool(quick, timeout=0.2),
    ]
    with Runtime(tools, sync_workers=1, sync_share=1, max_abandoned_threads=1) as rt:
        assert "abandoned" in rt.call("hang_a").error.message  # type: ignore[union-attr]
        assert rt.call("quick").value == "quick"  # served by the replacement thread
        assert "abandoned" in rt.call("hang_b").error.message  # type: ignore[union-attr]
        starved = rt.call("quick")  # two stuck, one replacement allowed: no worker left
        assert starved.error is not None and "never started" in starved.error.message
        pool = rt.stats()["backend"]["pool"]
        assert pool["stuck"] == 2 and pool["threads"] == 2 and pool["cap_reached_total"] == 1
