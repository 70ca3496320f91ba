"""The chaos run: hostile arguments mixed with hangs, crashes, huge and unserializable
outputs and stuck sync threads, through one runtime; every call must end in a result
or a structured error, within its timeout.

Used at a small size by ``tests/chaos/test_chaos.py`` (in ``make test``) and at full
size by ``python -m tests.chaos`` (``make chaos``), which writes the figures to
``bench/results/10_chaos.md`` for BENCHMARKS.md. Timing is measured, not asserted,
in the unit test (a shared machine); the full run's verdict checks it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import random
import resource
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from toolsafe import Outcome, Runtime, ToolFailure, parse_tool_error

#: Each attempt's timeout (seconds); a call must end within it (+ a margin).
TIMEOUT = 0.2
#: How long a stuck sync body ignores its timeout (then it returns, and its thread is free).
STUCK_S = 0.6

_release = threading.Event()  # set at the end: no stuck body outlives the run


# --------------------------------------------------------------------------- tools


async def ok(value: int = 0, text: str = "") -> dict[str, Any]:
    """Answer at once."""
    return {"value": value, "text": text}


async def hang(value: int = 0) -> str:
    """Never answer (cancellable): the timeout ends it."""
    await asyncio.sleep(3600)
    return "never"


def stuck(value: int = 0) -> str:
    """A sync body that ignores its timeout for a while (its thread is abandoned)."""
    _release.wait(STUCK_S)
    return "late"


def slow(ms: int = 1) -> str:
    """A short blocking body."""
    time.sleep(min(max(ms, 0), 20) / 1000)
    return "slept"


class _StrRaises(Exception):
    def __str__(self) -> str:
        raise KeyboardInterrupt


class _HeadersRaise(Exception):
    status_code = 503

    @property
    def headers(self) -> Any:
        raise RuntimeError("no headers")


_CRASHES: list[Any] = [
    lambda: ValueError("bad value"),
    lambda: ConnectionResetError(104, "reset"),
    _StrRaises,
    lambda: _HeadersRaise("upstream"),
    lambda: ToolFailure("quota", retryable=True, retry_after_s=float("inf")),
    lambda: RuntimeError("x" * 1_000_000),
    lambda: RecursionError("deep"),
]


def crash(kind: int = 0) -> str:
    """Raise one of the hostile exceptions."""
    raise _CRASHES[kind % len(_CRASHES)]()


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


_OUTPUTS: list[Any] = [
    lambda: "y" * 2_000_000,  # huge: the output budget trims it
    lambda: {"rows": list(range(50_000))},
    object,  # unserializable
    lambda: {1, 2, 3},
    lambda: _deep(3000),  # too deep to serialize
    lambda: os.fsdecode(b"file-\xff.txt"),  # a lone surrogate
    lambda: {"mean": float("nan")},
    lambda: 10**5000,
]


def output(kind: int = 0) -> Any:
    """Return one of the hostile outputs."""
    return _OUTPUTS[kind % len(_OUTPUTS)]()


TOOLS = [ok, hang, stuck, slow, crash, output]


def make_runtime() -> Runtime:
    return Runtime(TOOLS, timeout=TIMEOUT, max_output_chars=4000)


# --------------------------------------------------------------------------- arguments


def _hostile_arguments(rng: random.Random) -> Any:
    pick = rng.randrange(12)
    if pick == 0:
        return "[" * 50_000 + "]" * 50_000
    if pick == 1:
        return '{"value": ' + "9" * 5000 + "}"
    if pick == 2:
        return {"value": 10**5000}
    if pick == 3:
        return '{"value": NaN}'
    if pick == 4:
        return {"text": "a\udcff"}
    if pick == 5:
        return {f"k{i}": i for i in range(rng.choice((10, 5000)))}
    if pick == 6:
        return "{'value': True,"
    if pick == 7:
        return {"value": "3"}
    if pick == 8:
        return {"value": _deep(500)}
    if pick == 9:
        return {"value": 4.0}  # accepted: an integer
    if pick == 10:
        return b'{"value": 1}'
    return object()


_KINDS = ["ok", "hang", "stuck", "slow", "crash", "output", "hostile", "unknown"]
_WEIGHTS = [30, 8, 4, 10, 12, 12, 22, 2]


def _one(rng: random.Random) -> tuple[str, str, Any]:
    """(kind, tool name, arguments) of one random call."""
    kind = rng.choices(_KINDS, _WEIGHTS)[0]
    if kind == "hostile":
        return kind, rng.choice(["ok", "slow", "crash", "output"]), _hostile_arguments(rng)
    if kind == "unknown":
        return kind, "x" * rng.choice((5, 100_000)), {}
    if kind == "ok":
        return kind, "ok", {"value": rng.randrange(100), "text": "t"}
    if kind == "slow":
        return kind, "slow", {"ms": rng.randrange(20)}
    if kind in ("crash", "output"):
        return kind, kind, {"kind": rng.randrange(100)}
    return kind, kind, {}


# --------------------------------------------------------------------------- the run


@dataclass
class ChaosReport:
    calls: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    lateness_ms: list[float] = field(default_factory=list)  # elapsed - timeout, timed-out calls
    idle_lateness_ms: list[float] = field(default_factory=list)
    max_text: int = 0
    rss_mb: list[float] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    stuck_after: int = -1
    seconds: float = 0.0

    @property
    def structured(self) -> int:
        return self.ok + sum(self.errors.values())


def _fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # pragma: no cover - not Linux
        return -1


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _check(report: ChaosReport, kind: str, outcome: Any) -> None:
    report.calls += 1
    report.kinds[kind] += 1
    if not isinstance(outcome, Outcome):
        report.problems.append(f"{kind}: not an Outcome: {type(outcome).__name__}")
        return
    text = outcome.text
    report.max_text = max(report.max_text, len(text))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        report.problems.append(f"{kind}: text is not valid UTF-8")
    if "NaN" in text and outcome.ok and not isinstance(outcome.value, str):
        report.problems.append(f"{kind}: NaN in result text")
    if outcome.ok:
        report.ok += 1
        return
    parsed = parse_tool_error(text)
    if parsed is None or outcome.error is None:
        report.problems.append(f"{kind}: error text does not parse: {text[:200]!r}")
        return
    report.errors[parsed.type] += 1
    if parsed.type == "TimeoutError":
        report.lateness_ms.append(outcome.elapsed_ms - TIMEOUT * 1000)
    if len(text) > 20_000:
        report.problems.append(f"{kind}: error text of {len(text):,} chars")


async def _batch(
    runtime: Runtime, rng: random.Random, size: int, report: ChaosReport, concurrency: int
) -> None:
    plan = [_one(rng) for _ in range(size)]
    sem = asyncio.Semaphore(concurrency)

    async def run(kind: str, name: str, arguments: Any) -> tuple[str, Any]:
        async with sem:
            try:
                return kind, await runtime.acall(name, arguments)
            except BaseException as exc:  # the promise broken: record it, do not stop
                return kind, exc

    for kind, outcome in await asyncio.gather(*(run(*call) for call in plan)):
        _check(report, kind, outcome)


async def _idle(runtime: Runtime, calls: int, report: ChaosReport) -> None:
    """Timeouts on an idle loop: one hanging call at a time (plus a stuck sync one)."""
    for index in range(calls):
        name = ("hang", "stuck")[index % 2]
        outcome = await runtime.acall(name, {})
        _check(report, f"idle-{name}", outcome)
        if not outcome.ok and outcome.error is not None and outcome.error.type == "TimeoutError":
            report.idle_lateness_ms.append(outcome.elapsed_ms - TIMEOUT * 1000)


def run_chaos(
    calls: int, *, seed: int = 12, batch: int = 500, concurrency: int = 500, idle_calls: int = 20
) -> ChaosReport:
    """Run ``calls`` random calls in batches, then ``idle_calls`` timeouts on an idle loop."""
    rng = random.Random(seed)
    report = ChaosReport()
    _release.clear()
    started = time.perf_counter()
    with make_runtime() as runtime:

        async def main() -> None:
            await _batch(runtime, rng, min(batch, calls), report, concurrency)  # warm-up
            gc.collect()
            report.rss_mb.append(_rss_mb())
            report.fds.append(_fds())
            done = min(batch, calls)
            while done < calls:
                size = min(batch, calls - done)
                await _batch(runtime, rng, size, report, concurrency)
                done += size
                report.rss_mb.append(_rss_mb())
                report.fds.append(_fds())
            await asyncio.sleep(STUCK_S)  # let stuck bodies finish before the idle phase
            await _idle(runtime, idle_calls, report)

        asyncio.run(main())
        _release.set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            stuck_now = runtime.stats()["backend"].get("stuck", 0)
            if not stuck_now:
                break
            time.sleep(0.05)
        report.stuck_after = runtime.stats()["backend"].get("stuck", 0)
    report.seconds = time.perf_counter() - started
    gc.collect()
    return report


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(report: ChaosReport) -> dict[str, Any]:
    late = report.lateness_ms
    idle = report.idle_lateness_ms
    return {
        "calls": report.calls,
        "structured": report.structured,
        "problems": len(report.problems),
        "ok": report.ok,
        "errors": dict(report.errors.most_common()),
        "timeouts": len(late),
        "late_p50_ms": round(percentile(late, 0.5), 1),
        "late_p99_ms": round(percentile(late, 0.99), 1),
        "late_max_ms": round(max(late), 1) if late else None,
        "idle_late_max_ms": round(max(idle), 1) if idle else None,
        "idle_late_p50_ms": round(percentile(idle, 0.5), 1),
        "max_text_chars": report.max_text,
        "rss_mb_first_last_max": [
            round(report.rss_mb[0]),
            round(report.rss_mb[-1]),
            round(max(report.rss_mb)),
        ]
        if report.rss_mb
        else None,
        "fds_first_last_max": [report.fds[0], report.fds[-1], max(report.fds)]
        if report.fds
        else None,
        "stuck_after": report.stuck_after,
        "seconds": round(report.seconds, 1),
    }


if __name__ == "__main__":  # pragma: no cover - python tests/chaos/_chaos.py N
    import sys

    print(json.dumps(summary(run_chaos(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))))
