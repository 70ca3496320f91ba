"""Closing a runtime: queued calls end at once as not-started rejections; later calls too."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import _process_tools as pt
import pytest

import toolsafe
from toolsafe import Outcome, Runtime
from toolsafe.backends.process import ProcessBackend


def _wait_for(predicate: Callable[[], bool], seconds: float = 10) -> None:
    limit = time.monotonic() + seconds
    while not predicate() and time.monotonic() < limit:
        time.sleep(0.005)
    assert predicate()


def _assert_closed(outcome: Outcome | None) -> None:
    assert outcome is not None and outcome.error is not None, outcome
    assert outcome.error.type == "RuntimeClosed", outcome.error
    assert "not started" in outcome.error.message and "abandoned" not in outcome.error.message
    assert outcome.error.retryable and toolsafe.is_rejection(outcome.error)


def _busy_and_queued(rt: Runtime) -> tuple[int, int]:
    pool = rt.stats()["backend"]["pool"]
    return pool["busy"], pool["queued"]


def _sync_tools(release: threading.Event, timeout: float) -> list[toolsafe.Tool]:
    ran: list[int] = []

    def hold(i: int) -> int:
        ran.append(i)
        release.wait(20)
        return i

    return [toolsafe.tool(hold, timeout=timeout)]


@pytest.mark.parametrize("timeout", [0, 30], ids=["no-timeout", "timeout"])
@pytest.mark.parametrize("path", ["sync-callers", "async-batch"])
def test_close_ends_queued_sync_calls_as_not_started(timeout: float, path: str) -> None:
    release = threading.Event()
    rt = Runtime(_sync_tools(release, timeout), sync_workers=1)
    outcomes: dict[int, Outcome] = {}

    def one(i: int) -> None:
        outcomes[i] = rt.call("hold", {"i": i})

    def batch() -> None:
        async def main() -> list[Outcome]:
            return await rt.acall_many([("hold", {"i": i}) for i in range(4)])

        outcomes.update(enumerate(asyncio.run(main())))

    if path == "sync-callers":
        threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
        threads[0].start()
        _wait_for(lambda: rt.stats()["backend"]["pool"]["busy"] == 1)
        for t in threads[1:]:
            t.start()
    else:
        threads = [threading.Thread(target=batch)]
        threads[0].start()
    # One running, three queued (three queued alone may be the first not started yet:
    # submitted as ready, the worker not yet at it, and two waiting behind it).
    _wait_for(lambda: _busy_and_queued(rt) == (1, 3))
    rt.close()
    release.set()
    for t in threads:
        t.join(10)
        assert not t.is_alive(), "a caller queued at close() is still waiting"
    running = [i for i, o in outcomes.items() if o.ok]
    assert len(running) == 1 and outcomes[running[0]].value == running[0]  # it ran and ended
    for i, outcome in outcomes.items():
        if i not in running:
            _assert_closed(outcome)


def test_calls_after_close_are_a_clear_rejection() -> None:
    @toolsafe.tool
    def echo(x: int) -> int:
        return x

    @toolsafe.tool
    async def aecho(x: int) -> int:
        return x

    rt = Runtime([echo, aecho])
    assert rt.call("echo", {"x": 1}).value == 1
    rt.close()
    _assert_closed(rt.call("echo", {"x": 1}))
    _assert_closed(rt.call("aecho", {"x": 1}))
    _assert_closed(asyncio.run(rt.acall("echo", {"x": 1})))
    assert "closed" in rt.call("echo", {"x": 1}).error.message  # type: ignore[union-attr]


def test_process_backend_close_ends_calls_waiting_for_a_worker(tmp_path: object) -> None:
    backend = ProcessBackend(1, min_workers=1)
    rt = Runtime([pt.hang.with_options(timeout=0)], backend=backend)
    outcomes: list[Outcome] = []

    def one(i: int) -> None:
        outcomes.append(rt.call("hang", {"pid_file": f"{tmp_path}/pid{i}"}))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    _wait_for(lambda: backend.stats()["processes"]["waiting"] == 2)
    rt.close()  # kills the hung worker and ends its call; the waiting two are rejected
    for t in threads:
        t.join(10)
        assert not t.is_alive(), "a caller is still waiting after close()"
    errors = [o.error for o in outcomes if o.error is not None]
    assert len(errors) == 3 and all(e.type == "RuntimeClosed" for e in errors)
    stopped = [e for e in errors if not toolsafe.is_rejection(e)]
    assert len(stopped) == 1 and "stopped during the call" in stopped[0].message
    for outcome in outcomes:
        if outcome.error is not stopped[0]:
            _assert_closed(outcome)
