"""The express lane answers exactly as the chain does, and hands over whatever it cannot.

Each case runs the same calls twice on fresh runtimes: once with no listener (the
express lane) and once with a listener (the chain, step by step), and compares
the outcomes field by field (ids and timings aside).
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import threading
import time
from typing import Any, Literal

import pydantic
import pytest

import toolsafe
from toolsafe import Breaker, FakeClock, Rate, Retry, Runtime, ToolFailure
from toolsafe._call import Outcome
from toolsafe.observe import events as ev

FULL: dict[str, Any] = {
    "timeout": 5,
    "retry": Retry(attempts=3, initial=0.0, jitter="none"),
    "breaker": Breaker(failures=2, cooldown=60),
    "concurrency": 4,
    "rate": Rate(per_second=1000, burst=1000),
    "max_output_chars": 200,
    "idempotent": True,
}


def _fields(outcome: Outcome) -> tuple[Any, ...]:
    error = outcome.error
    shown = None
    if error is not None:
        shown = (error.type, error.message, error.retryable, error.attempts, error.details)
    return (
        outcome.tool,
        outcome.ok,
        outcome.value,
        shown,
        outcome.attempts,
        outcome.full_text,
        outcome.trimmed,
        outcome.text if error is None else None,
    )


def _both(
    make_tools: Any, calls: list[tuple[str, Any]], *, sync: bool = False, **runtime: Any
) -> list[Any]:
    """The calls' outcomes on the lane and on the chain; asserts the lane was compiled.

    ``sync``: sync tools called with ``Runtime.call`` (their lane is ``sync_express``)."""
    lane_field = "sync_express" if sync else "express"
    seen: list[list[Any]] = []
    for watched in (False, True):
        rt = Runtime(make_tools(), **runtime)
        assert all(getattr(e, lane_field) is not None for e in rt._entries.values())
        taken: list[str] = []
        for entry in rt._entries.values():
            lane_of = getattr(entry, lane_field)

            def counted(name: str, args: Any, call_id: str, lane_of: Any = lane_of) -> Any:
                taken.append(name)
                return lane_of(name, args, call_id)

            setattr(entry, lane_field, counted)
        if watched:
            rt.add_listener(lambda event: None)

        async def run(rt: Runtime = rt) -> list[Any]:
            return [_fields(await rt.acall(name, args)) for name, args in calls]

        if sync:
            seen.append([_fields(rt.call(name, args)) for name, args in calls])
        else:
            seen.append(asyncio.run(run()))
        assert bool(taken) is not watched  # the lane only when nobody watches
        rt.close()
    lane, chain = seen
    assert lane == chain
    return lane


def test_values_text_and_budget_match_the_chain() -> None:
    def tools() -> list[toolsafe.Tool]:
        async def echo(x: Any) -> Any:
            return x

        async def count(n: int) -> int:
            return n

        return [
            toolsafe.tool(echo, **FULL),
            toolsafe.tool(echo, name="plain"),
            toolsafe.tool(count, **FULL),
        ]

    long = "y" * 500
    out = _both(
        tools,
        [
            ("echo", {"x": 1}),
            ("echo", {"x": "text"}),
            ("echo", {"x": {"a": [1, 2]}}),
            ("echo", {"x": long}),  # over budget: trimmed, full text kept
            ("plain", {"x": long}),
            ("count", {"n": "3"}),  # validation refuses (strict): the chain says why
            ("count", '{"n": 3}'),  # JSON text: the chain's parser
        ],
    )
    assert out[0][1] is True and out[0][7] == "1"
    assert out[3][6] is True and out[3][5] is not None
    assert out[4][6] is False and out[4][7] == long
    assert out[5][3][0] == "InvalidArguments"
    assert out[6][2] == 3


def test_optional_parameters_and_their_nulls_match_the_chain() -> None:
    """A tool with defaults keeps the lane's fast validator; an explicit null for an
    optional parameter still means "not given" (the strict OpenAI export's nulls)."""

    def tools() -> list[toolsafe.Tool]:
        async def find(q: str, limit: int = 5, tags: list[str] | None = None) -> Any:
            return [q, limit, tags]

        return [toolsafe.tool(find, **FULL)]

    out = _both(
        tools,
        [
            ("find", {"q": "a"}),
            ("find", {"q": "a", "limit": None}),  # null: the default applies
            ("find", {"q": "a", "limit": 2, "tags": None}),  # a nullable type keeps null
            ("find", {"q": "a", "limit": None, "tags": ["x"]}),
            ("find", {"q": None}),  # required: null refused
            ("find", {"q": "a", "limit": "2"}),  # strict: refused
        ],
    )
    assert [o[2] for o in out[:4]] == [
        ["a", 5, None],
        ["a", 5, None],
        ["a", 2, None],
        ["a", 5, ["x"]],
    ]
    assert out[4][3][0] == out[5][3][0] == "InvalidArguments"


def test_json_text_arguments_match_the_chain() -> None:
    """JSON text (OpenAI-style tool calls, MCP) takes the lane's fast validator; what
    it cannot read as a plain object gets the chain's answer, hostile texts included."""

    def tools() -> list[toolsafe.Tool]:
        async def echo(x: Any, n: int = 0) -> Any:
            return [x, n]

        return [toolsafe.tool(echo, **FULL), toolsafe.tool(echo, name="lax", strict=False)]

    deep = '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    texts = [
        '{"x": 1}',
        '{"x": "caf\u00e9", "n": 2}',
        '{"x": {"a": [1, 2.5, null]}, "n": null}',
        '{"x": 1, "x": 2}',  # duplicate keys: the last one, as json.loads
        '{"x": NaN}',
        '{"x": Infinity}',
        '{"x": "\ud800"}',  # a lone surrogate
        '{"x": ' + "9" * 5000 + "}",  # over Python's integer digits limit
        deep,
        '"{"x": 1}"',  # double-encoded
        '{"x": 1',  # malformed
        "[1, 2]",
        "   ",
        '{"x": 1, "extra": true}',
        '{"x": "' + "y" * 70_000 + '"}',  # longer than FAST_JSON_CHARS
    ]
    calls = [(name, text) for text in texts for name in ("echo", "lax")]
    out = _both(tools, calls)
    assert out[0][2] == [1, 0]
    assert out[2][2] == ["café", 2]
    assert out[6][2] == [2, 0]
    for i in (8, 10, 12, 14, 16, 18, 20, 22, 24, 26):  # strict: refused, as on the chain
        assert out[i][3] is not None and out[i][3][0] == "InvalidArguments", (i, out[i])
    assert out[28][2] == ["y" * 70_000, 0]


def test_failures_retries_and_the_breaker_match_the_chain() -> None:
    def tools() -> list[toolsafe.Tool]:
        state = {"n": 0}

        async def flaky(fail: int) -> str:
            state["n"] += 1
            if state["n"] <= fail:
                raise ToolFailure("try again", retryable=True)
            return f"done after {state['n']}"

        async def broken() -> str:
            raise ValueError("bug")

        async def unserializable() -> Any:
            return object()

        return [
            toolsafe.tool(flaky, **FULL),
            toolsafe.tool(broken, **FULL),
            toolsafe.tool(unserializable, **FULL),
        ]

    out = _both(
        tools,
        [
            ("flaky", {"fail": 1}),  # fails once, the retry succeeds
            ("broken", {}),  # not retryable: one attempt
            ("unserializable", {}),
            ("flaky", {"fail": 100}),  # three attempts fail: the breaker counts one
            ("flaky", {"fail": 100}),  # the second failure opens it
            ("flaky", {"fail": 0}),  # refused by the open breaker, through the chain
        ],
    )
    assert out[0][4] == 2 and out[0][1] is True
    assert out[1][3][0] == "ValueError" and out[1][4] == 1
    assert out[2][3][0] == "ResultNotSerializable"
    assert out[3][4] == 3
    assert out[5][3][0] == "CircuitOpen"


def test_timeouts_and_suspending_bodies_match_the_chain() -> None:
    def tools() -> list[toolsafe.Tool]:
        async def nap(s: float) -> float:
            await asyncio.sleep(s)
            return s

        return [toolsafe.tool(nap, **{**FULL, "timeout": 0.05, "retry": None})]

    out = _both(tools, [("nap", {"s": 0.001}), ("nap", {"s": 1.0})])
    assert out[0][1] is True
    assert out[1][3][0] == "TimeoutError"


def test_an_empty_bucket_or_a_full_limit_goes_through_the_chain() -> None:
    async def main() -> None:
        @toolsafe.tool(concurrency=1, timeout=1, rate=Rate(per_second=1, burst=1, max_wait=0))
        async def one(s: float) -> float:
            await asyncio.sleep(s)
            return s

        rt = Runtime([one])
        first, second = await asyncio.gather(
            rt.acall("one", {"s": 0.05}), rt.acall("one", {"s": 0})
        )
        assert first.ok
        assert second.error is not None and second.error.type == "RateLimited"
        assert rt.store.holders("one") == 0
        rt.close()

        @toolsafe.tool(concurrency=1, timeout=1)
        async def slot(s: float) -> float:
            await asyncio.sleep(s)
            return s

        rt = Runtime([slot])
        outs = await asyncio.gather(*(rt.acall("slot", {"s": 0.01}) for _ in range(5)))
        assert all(o.ok for o in outs)  # the others waited for the slot in the chain
        assert rt.store.holders("slot") == 0
        rt.close()

    asyncio.run(main())


def test_cancelling_the_caller_gives_the_slot_back() -> None:
    async def main() -> None:
        @toolsafe.tool(concurrency=2, timeout=5)
        async def hang() -> str:
            await asyncio.Event().wait()
            return "never"

        rt = Runtime([hang])
        task = asyncio.ensure_future(rt.acall("hang"))
        await asyncio.sleep(0.01)
        assert rt.store.holders("hang") == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert rt.store.holders("hang") == 0
        rt.close()

    asyncio.run(main())


async def _aecho(x: int) -> int:
    return x


def _echo(x: int) -> int:
    return x


@pytest.mark.parametrize("echo", [_aecho, _echo], ids=["async", "sync"])
def test_metrics_and_outcomes_count_lane_calls(echo: Any) -> None:
    rt = Runtime([toolsafe.tool(echo, name="echo", **FULL)])
    outs = [rt.call("echo", {"x": i}) for i in range(3)]
    assert [o.value for o in outs] == [0, 1, 2]
    assert len({o.call_id for o in outs}) == 3
    assert rt.call("echo", {"x": 1}, call_id="given").call_id == "given"
    stats = rt.metrics.snapshot()["tools"]["echo"]
    assert stats["calls"] == 4 and stats["ok"] == 4 and stats["attempts"] == 4
    rt.close()


def test_watchers_idempotency_keys_and_other_steps_take_the_chain() -> None:
    async def echo(x: int) -> int:
        return x

    seen: list[ev.Event] = []
    rt = Runtime([toolsafe.tool(echo), toolsafe.tool(echo, name="cached", cache=True)])
    assert rt._entries["echo"].express is not None
    assert rt._entries["cached"].express is None  # the cache step has no immediate form
    rt.add_listener(seen.append)
    assert rt.call("echo", {"x": 1}).ok
    assert any(isinstance(e, ev.AttemptStarted) for e in seen)
    rt.close()

    def sync_echo(x: int) -> int:
        return x

    rt = Runtime([toolsafe.tool(sync_echo)])
    assert rt._entries["sync_echo"].express is not None  # acall's: awaits the worker
    assert rt._entries["sync_echo"].sync_express is not None  # call's: waits in the thread
    rt.close()
    rt = Runtime([toolsafe.tool(echo)])
    assert rt._entries["echo"].sync_express is None  # an async tool: acall's lane only
    rt.close()


# --------------------------------------------------------------------------- batches


def test_a_batch_starts_calls_eagerly_in_order_and_keeps_input_order() -> None:
    """``acall_many`` answers lane calls that never suspend at once (no Task), gathers
    the ones that suspend, and returns every outcome in input order."""
    started: list[int] = []
    tasks: list[Any] = []

    async def work(x: int, pause: bool = False) -> int:
        started.append(x)
        tasks.append(asyncio.current_task())
        if pause:
            await asyncio.sleep(0.01 * (5 - x))  # later calls finish first
            tasks.append(asyncio.current_task())
        return x * 10

    rt = Runtime([toolsafe.tool(work, **FULL)])
    calls = [("work", {"x": i, "pause": i % 2 == 1}) for i in range(6)]

    async def main() -> list[Outcome]:
        caller = asyncio.current_task()
        outs = await rt.acall_many(calls)
        # every call's first step ran in the caller's task (no Task for a call that
        # never suspends); the three that suspended went on in Tasks of their own
        assert [t is caller for t in tasks] == [True] * 6 + [False] * 3
        return outs

    outs = asyncio.run(main())
    assert [o.value for o in outs] == [0, 10, 20, 30, 40, 50]
    assert all(o.ok for o in outs)
    assert started == [0, 1, 2, 3, 4, 5]  # each call's first step, in input order
    assert rt.metrics.snapshot()["tools"]["work"]["ok"] == 6
    assert len({o.call_id for o in outs}) == 6


def test_batch_calls_run_in_their_own_context_as_tasks_would() -> None:
    """A body setting a ContextVar changes neither its siblings nor the caller, before
    and after it suspends (as with ``gather``'s one Task per call)."""
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="caller")

    async def mark(x: int) -> str:
        seen = var.get()
        var.set(f"call {x}")
        if x % 2:
            await asyncio.sleep(0)
            if var.get() != f"call {x}":
                return "lost its own value"
        return seen

    rt = Runtime([toolsafe.tool(mark, **FULL)])

    async def main() -> tuple[list[Any], str]:
        outs = await rt.acall_many([("mark", {"x": i}) for i in range(4)])
        return [o.value for o in outs], var.get()

    values, after = asyncio.run(main())
    assert values == ["caller"] * 4
    assert after == "caller"


def test_cancelling_a_batch_gives_every_slot_back() -> None:
    """Calls started eagerly that suspend are Tasks the batch cancels with itself."""

    async def slow(x: int) -> int:
        await asyncio.sleep(10 if x else 0)
        return x

    options = dict(FULL, concurrency=8)
    rt = Runtime([toolsafe.tool(slow, **options)])
    store = rt.store

    async def main() -> None:
        task = asyncio.ensure_future(rt.acall_many([("slow", {"x": i}) for i in range(5)]))
        await asyncio.sleep(0.05)
        assert store.holders("slow") == 4  # x=0 done, four sleeping
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert store.holders("slow") == 0

    asyncio.run(main())


# --------------------------------------------------------------------------- refusals


class _Counting(Runtime):
    """Counts the calls the express lane hands to the chain."""

    handed = 0

    def _through_chain(self, name: str, arguments: Any, call_id: str) -> Any:
        self.handed += 1
        return super()._through_chain(name, arguments, call_id)


class _Color(enum.Enum):
    red = "red"
    blue = "blue"


class _Inner(pydantic.BaseModel):
    n: int
    tags: list[str] | None = None


# Every optional field nullable: no nulls to drop, so the fast validator applies.
async def _rich(
    name: str,
    count: int,
    ratio: float | None = None,
    color: _Color | None = None,
    mode: Literal["a", "b"] | None = None,
    when: datetime.date | None = None,
    ids: list[int] | None = None,
    inner: _Inner | None = None,
    password: str | None = None,
    api_key: int | None = None,
) -> str:
    return "ok"


#: Invalid and hostile arguments for ``_rich`` (and a few it accepts after all: JSON-mode
#: values, an integral float, a repairable list repr).
_REFUSED: list[Any] = [
    {"name": 1, "count": "two"},
    {},
    {"name": "n", "count": 1, "extra": 2},
    {"name": "n", "count": None},
    {"name": "n", "count": 1.5},
    {"name": "n", "count": 4.0},
    {"name": "n", "count": "3"},
    {"name": "n", "count": True},
    {"name": "n", "count": 1, "color": "green"},
    {"name": "n", "count": 1, "color": "red"},
    {"name": "n", "count": 1, "mode": "c"},
    {"name": "n", "count": 1, "when": "yesterday"},
    {"name": "n", "count": 1, "when": "2020-01-01"},
    {"name": "n", "count": 1, "ids": "[1, 2]"},
    {"name": "n", "count": 1, "ids": [1, "x", 2.5, None]},
    {"name": "n", "count": 1, "inner": {"n": "x", "tags": [1]}},
    {"name": "n", "count": 1, "inner": "{'n': 1}"},
    {"name": "n", "count": 1, "inner": {"n": 1, "password": "p4ss", "extra": 2}},
    {"name": "n", "count": 1, "password": 123},
    {"name": "n", "count": 1, "api_key": "sk-abcdefghijklmnopqrstuvwx1234"},
    {"name": "Bearer abcdefghijklmnop123", "count": "https://u:pw@host/x"},
    {"name": "n" * 3000, "count": "c" * 3000},
    {"name": "é" * 400, "count": "\\u0070assword=abc"},
    {"name": "n", "count": 1, **{f"e{i}": "v" for i in range(30)}},
    {"name": "n", "count": "x", **{f"k{i}": i for i in range(300)}},
    {"count": -(10**30), "x" * 1000: 1},
    {"name": "n", "count": [[[[[[1]]]]]]},
    {"name": float("nan"), "count": float("inf")},
    {"name": "\udcff", "count": 1},
    '{"name": 1, "count": "two"}',
    "not json",
]


def test_refusals_match_the_chain_to_the_byte() -> None:
    """The lane refuses invalid arguments itself (from the fast validator's error, not
    validating again) with the chain's very text and ``to_dict()``: strict and lax,
    repair on, with and without redaction."""
    setups: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({}, {}),
        (FULL, {}),
        ({**FULL, "strict": False}, {}),
        ({**FULL, "repair": True}, {}),
        (FULL, {"redact": ["hunter2", "p4ss"]}),
        (FULL, {"redact": False}),
    ]
    for options, runtime in setups:
        seen: list[list[Any]] = []
        handed = []
        for watched in (False, True):
            rt = _Counting(
                [toolsafe.tool(_rich, name="rich", **options)], clock=FakeClock(), **runtime
            )
            if watched:
                rt.add_listener(lambda event: None)

            async def run(rt: Runtime = rt) -> list[Any]:
                out = []
                for i, args in enumerate(_REFUSED):
                    o = await rt.acall("rich", args, call_id=f"c{i}")
                    out.append((o.ok, o.text, o.error and o.error.to_dict(), o.attempts))
                return out

            seen.append(asyncio.run(run()))
            handed.append(rt.handed)
            rt.close()
        lane, chain = seen
        assert lane == chain, options
        assert sum(1 for ok, *_ in lane if not ok) >= 24, options
        # Only JSON text, values to check first (NaN, a lone surrogate) and what the
        # slower checks accept after all (4.0, "red", a date, repairs) go to the chain.
        assert 0 < handed[0] <= 9, (options, handed)


# --------------------------------------------------------------------------- sync tools


@pytest.mark.parametrize("sync", [True, False], ids=["call", "acall"])
def test_sync_values_text_budget_and_failures_match_the_chain(sync: bool) -> None:
    def tools() -> list[toolsafe.Tool]:
        state = {"n": 0}

        def echo(x: Any) -> Any:
            return x

        def count(n: int) -> int:
            return n

        def flaky(fail: int) -> str:
            state["n"] += 1
            if state["n"] <= fail:
                raise ToolFailure("try again", retryable=True)
            return f"done after {state['n']}"

        def broken() -> str:
            raise ValueError("bug")

        def unserializable() -> Any:
            return object()

        def letters(n: int) -> Any:
            return iter("abcdefghij"[:n])

        return [
            toolsafe.tool(echo, **FULL),
            toolsafe.tool(echo, name="plain"),
            toolsafe.tool(count, **FULL),
            toolsafe.tool(flaky, **FULL),
            toolsafe.tool(broken, **FULL),
            toolsafe.tool(unserializable, **FULL),
            toolsafe.tool(letters, **FULL),
        ]

    long = "y" * 500
    out = _both(
        tools,
        [
            ("echo", {"x": 1}),
            ("echo", {"x": {"a": [1, 2]}}),
            ("echo", {"x": long}),  # over budget: trimmed, full text kept
            ("plain", {"x": long}),
            ("count", {"n": "3"}),  # validation refuses (strict): the chain says why
            ("count", '{"n": 3}'),  # JSON text: the chain's parser
            ("letters", {"n": 3}),  # a returned iterator, consumed on the worker
            ("flaky", {"fail": 1}),  # fails once, the retry succeeds
            ("broken", {}),  # not retryable: one attempt
            ("unserializable", {}),
            ("flaky", {"fail": 100}),  # three attempts fail: the breaker counts one
            ("flaky", {"fail": 100}),  # the second failure opens it
            ("flaky", {"fail": 0}),  # refused by the open breaker, through the chain
        ],
        sync=sync,
    )
    assert out[0][1] is True and out[0][7] == "1"
    assert out[2][6] is True and out[2][5] is not None
    assert out[3][6] is False and out[3][7] == long
    assert out[4][3][0] == "InvalidArguments"
    assert out[5][2] == 3
    assert out[6][2] == ["a", "b", "c"]
    assert out[7][4] == 2 and out[7][1] is True
    assert out[8][3][0] == "ValueError" and out[8][4] == 1
    assert out[9][3][0] == "ResultNotSerializable"
    assert out[10][4] == 3
    assert out[12][3][0] == "CircuitOpen"


def test_a_sync_timeout_matches_the_chain_and_the_slot_waits_for_the_body() -> None:
    release = threading.Event()

    def tools() -> list[toolsafe.Tool]:
        def hold(wait: bool) -> str:
            if wait:
                release.wait(5)
            return "back"

        return [toolsafe.tool(hold, **{**FULL, "timeout": 0.05, "retry": None})]

    release.clear()
    rt = Runtime(tools())
    assert rt._entries["hold"].sync_express is not None
    out = rt.call("hold", {"wait": True})
    assert out.error is not None and out.error.type == "TimeoutError"
    assert "abandoned" in out.error.message
    assert rt.store.holders("hold") == 1  # the body runs on: its slot with it
    release.set()
    for _ in range(500):
        if rt.store.holders("hold") == 0:
            break
        time.sleep(0.01)
    assert rt.store.holders("hold") == 0
    assert rt.call("hold", {"wait": False}).value == "back"
    rt.close()

    def naps() -> list[toolsafe.Tool]:
        def nap(s: float) -> float:
            time.sleep(s)
            return s

        return [toolsafe.tool(nap, **{**FULL, "timeout": 0.05, "retry": None})]

    for sync in (True, False):
        out = _both(naps, [("nap", {"s": 0.001}), ("nap", {"s": 0.3})], sync=sync)
        assert out[0][1] is True
        assert out[1][3][0] == "TimeoutError"

    async def timed_out() -> Outcome:  # acall's lane: the slot waits for the body too
        return await rt.acall("hold", {"wait": True})

    release.clear()
    rt = Runtime(tools())
    out = asyncio.run(timed_out())
    assert out.error is not None and "abandoned" in out.error.message
    assert rt.store.holders("hold") == 1
    release.set()
    for _ in range(500):
        if rt.store.holders("hold") == 0:
            break
        time.sleep(0.01)
    assert rt.store.holders("hold") == 0
    rt.close()


def test_cancelling_an_acall_of_a_sync_tool_keeps_the_slot_until_the_body_returns() -> None:
    release = threading.Event()

    @toolsafe.tool(concurrency=2, timeout=5)
    def hold() -> str:
        release.wait(5)
        return "back"

    async def main(rt: Runtime) -> None:
        task = asyncio.ensure_future(rt.acall("hold"))
        await asyncio.sleep(0.05)
        assert rt.store.holders("hold") == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert rt.store.holders("hold") == 1  # the body still runs on its thread
        release.set()
        for _ in range(500):
            if rt.store.holders("hold") == 0:
                break
            await asyncio.sleep(0.01)
        assert rt.store.holders("hold") == 0

    rt = Runtime([hold])
    assert rt._entries["hold"].express is not None
    asyncio.run(main(rt))
    rt.close()


def test_sync_lane_hands_a_full_limit_to_the_chain_and_works_inside_a_loop() -> None:
    @toolsafe.tool(concurrency=1, timeout=5)
    def slot(s: float) -> float:
        time.sleep(s)
        return s

    rt = Runtime([slot])
    outs: list[Outcome] = []
    threads = [
        threading.Thread(target=lambda: outs.append(rt.call("slot", {"s": 0.02}))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outs) == 4 and all(o.ok for o in outs)  # the others waited in the chain
    assert rt.store.holders("slot") == 0

    async def inside() -> list[Outcome]:  # a sync call from async code
        return [rt.call("slot", {"s": 0}), rt.call("slot", {"s": "x"})]

    good, bad = asyncio.run(inside())
    assert good.value == 0
    assert bad.error is not None and bad.error.type == "InvalidArguments"
    rt.close()
    closed = rt.call("slot", {"s": 0})
    assert closed.error is not None and closed.error.type == "RuntimeClosed"
