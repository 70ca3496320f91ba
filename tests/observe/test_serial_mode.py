"""Serial mode: ``Runtime(serial=True)`` or ``TOOLSAFE_SERIAL=1`` runs a batch one call at a time."""

from __future__ import annotations

import threading

import pytest

import toolsafe
from toolsafe import Runtime


class InFlight:
    """Counts calls running at once, from inside the tool body."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.order: list[int] = []

    def enter(self, i: int) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.order.append(i)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def _tool(gauge: InFlight, barrier: threading.Barrier | None = None) -> toolsafe.Tool:
    @toolsafe.tool(timeout=30)
    def step(i: int) -> int:
        gauge.enter(i)
        try:
            if barrier is not None:
                barrier.wait()  # only passes when `parties` calls run together
            return i
        finally:
            gauge.leave()

    return step


def test_batches_run_concurrently_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOOLSAFE_SERIAL", raising=False)
    gauge = InFlight()
    with Runtime([_tool(gauge, threading.Barrier(4, timeout=20))]) as rt:
        assert not rt.serial
        outcomes = rt.call_many([("step", {"i": i}) for i in range(4)])
    assert [o.value for o in outcomes] == [0, 1, 2, 3]
    assert gauge.peak == 4


@pytest.mark.parametrize("how", ["flag", "env"])
async def test_serial_mode_runs_one_call_at_a_time_in_order(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gauge = InFlight()
    if how == "env":
        monkeypatch.setenv("TOOLSAFE_SERIAL", "1")
        rt = Runtime([_tool(gauge)])
    else:
        monkeypatch.delenv("TOOLSAFE_SERIAL", raising=False)
        rt = Runtime([_tool(gauge)], serial=True)
    async with rt:
        assert rt.serial
        outcomes = await rt.acall_many([("step", {"i": i}) for i in range(20)], max_concurrency=8)
    assert [o.value for o in outcomes] == list(range(20))
    assert gauge.peak == 1 and gauge.order == list(range(20))


def test_the_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSAFE_SERIAL", "1")
    assert Runtime(serial=False).serial is False
    monkeypatch.setenv("TOOLSAFE_SERIAL", "0")
    assert Runtime().serial is False
