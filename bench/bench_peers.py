"""Peers (issue 17): the same trivial tools through each framework's own tool path and
through toolsafe, in one run, every figure beside a baseline measured in the same run.

Tools: an async no-op, a sync no-op, a sync tool blocking 50 ms, an async tool
sleeping 50 ms, and invalid arguments (a string for an integer). Paths:

- CrewAI: ``BaseTool.run`` (the body inline, in the caller's thread) and
  ``CrewStructuredTool.ainvoke`` (async bodies awaited, sync ones on the loop's
  default executor);
- LangChain: ``StructuredTool.invoke`` (inline) and ``ainvoke`` (sync bodies on the
  default executor), ``handle_validation_error=True`` so bad arguments become text;
- LangGraph: ``ToolNode.invoke`` / ``ainvoke`` of an ``AIMessage`` holding one tool
  call, the node alone (the runtime a graph would hand it, no Pregel loop);
- OpenAI Agents SDK: ``FunctionTool.on_invoke_tool(ctx, json)`` of a ``@function_tool``;
- Pydantic AI: ``ToolManager.handle_call`` of a ``FunctionToolset`` tool (its
  validation, its retry accounting, a worker thread for a sync body);
- plain baselines: ``await f(x)``, ``f(x)``, ``asyncio.to_thread``, a bare
  ``asyncio.gather``;
- toolsafe: bare (``Runtime.acall`` / ``Runtime.call`` with the defaults: strict
  validation, a 30 s timeout, sync bodies on the worker pool) and full (timeout,
  retry, breaker, rate limit, concurrency limit, output budget, on the memory store).

CrewAI, LangChain and LangGraph are measured in the interpreter that runs the bench
(``.venv``); the OpenAI Agents SDK and Pydantic AI in ``.venv-latest`` (CrewAI's pins
keep them apart), each process with its own floors and its own toolsafe rows so a
ratio never crosses processes. Each batch row runs in a fresh process. A peer that is
not installed is skipped with a note. The Redis row runs a private ``redis-server``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench._report import ROOT, Report, quiet_frameworks

quiet_frameworks()

#: Per call: rounds per variant (alternating), and the seconds one round should last.
ROUNDS = 7
ROUND_S = 0.04
#: A batch row whose warm-up batch (a tenth of the size) says it would take longer
#: than this is not run (the whole section must stay within a few minutes).
BATCH_CAP_S = 12.0

#: Options of the full pipeline: all on, none in the way (nothing fails or waits).
FULL: dict[str, Any] = {
    "timeout": 30,
    "idempotent": False,
    "retry": ("Retry", {"attempts": 3}),
    "breaker": ("Breaker", {"failures": 5}),
    "concurrency": 20_000,
    "rate": ("Rate", {"per_second": 10_000_000, "burst": 1_000_000}),
    "max_output_chars": 10_000,
}

MAIN_PEERS = ("crewai", "langchain", "langgraph")
LATEST_PEERS = ("openai_agents", "pydantic_ai")
GOOD = {"x": 1}
BAD = {"x": "one"}


# --------------------------------------------------------------------------- the tools


def snoop(x: int) -> int:
    """Return x."""
    return x


async def anoop(x: int) -> int:
    """Return x."""
    return x


def sblock(x: int) -> int:
    """Block 50 ms, return x."""
    time.sleep(0.05)
    return x


async def asleep(x: int) -> int:
    """Sleep 50 ms, return x."""
    await asyncio.sleep(0.05)
    return x


BODIES: dict[str, Callable[..., Any]] = {
    "anoop": anoop,
    "snoop": snoop,
    "sblock": sblock,
    "asleep": asleep,
}

#: A path: ("async", make) where make() returns an awaitable, or ("sync", call).
Path_ = tuple[str, Callable[[], Any]]


class Skip(Exception):
    """This path cannot run here (its framework is not installed, or it has no such path)."""


# --------------------------------------------------------------------------- paths


def _floor(path: str, body: str, bad: bool) -> Path_:
    fn = BODIES[body]
    if bad:
        import pydantic

        checked = pydantic.validate_call(anoop)

        async def invalid() -> str:
            try:
                await checked(**BAD)
            except pydantic.ValidationError as exc:
                return str(exc)
            raise AssertionError("accepted")

        return "async", invalid
    if path == "direct":
        if asyncio.iscoroutinefunction(fn):
            return "async", lambda: fn(1)
        return "sync", lambda: fn(1)
    if path == "to_thread":
        if asyncio.iscoroutinefunction(fn):
            raise Skip("async body")
        return "async", lambda: asyncio.to_thread(fn, 1)
    if path == "handoff":
        return "sync", _handoff(fn)
    raise Skip(path)


def _handoff(fn: Callable[..., Any]) -> Callable[[], Any]:
    """The floor of any worker-thread path: the body on a parked thread, handed over
    and back with two raw locks (no queue, no future, no timeout)."""
    import _thread
    import threading

    go, done = _thread.allocate_lock(), _thread.allocate_lock()
    go.acquire()
    done.acquire()
    box: list[Any] = [None]

    def worker() -> None:
        while True:
            go.acquire()
            box[0] = fn(1)
            done.release()

    threading.Thread(target=worker, daemon=True).start()

    def call() -> Any:
        go.release()
        done.acquire()
        return box[0]

    return call


def _crewai(path: str, body: str, bad: bool) -> Path_:
    try:
        from crewai.tools import BaseTool
        from crewai.tools.structured_tool import CrewStructuredTool
    except ImportError as exc:
        raise Skip(f"crewai not installed ({exc.name})") from exc
    fn = BODIES[body]
    args = BAD if bad else GOOD
    if path == "run":
        if asyncio.iscoroutinefunction(fn):
            raise Skip("BaseTool.run of an async body runs asyncio.run")

        class Noop(BaseTool):
            name: str = "noop"
            description: str = "Return x."

            def _run(self, x: int) -> int:
                return int(fn(x))

        tool = Noop()
        if bad:

            def run_bad() -> str:
                try:
                    tool.run(**args)
                except ValueError as exc:
                    return str(exc)
                raise AssertionError("accepted")

            return "sync", run_bad
        return "sync", lambda: tool.run(**args)
    structured = CrewStructuredTool.from_function(fn, name="noop")
    if bad:

        async def ainvoke_bad() -> str:
            try:
                await structured.ainvoke(args)
            except ValueError as exc:
                return str(exc)
            raise AssertionError("accepted")

        return "async", ainvoke_bad
    return "async", lambda: structured.ainvoke(args)


def _langchain_tool(fn: Callable[..., Any]) -> Any:
    from langchain_core.tools import StructuredTool

    is_async = asyncio.iscoroutinefunction(fn)
    return StructuredTool.from_function(
        func=None if is_async else fn,
        coroutine=fn if is_async else None,
        name="noop",
        description="Return x.",
        handle_validation_error=True,
    )


def _langchain(path: str, body: str, bad: bool) -> Path_:
    try:
        import langchain_core  # noqa: F401
    except ImportError as exc:
        raise Skip("langchain-core not installed") from exc
    fn = BODIES[body]
    tool = _langchain_tool(fn)
    args = BAD if bad else GOOD
    if path == "invoke":
        if asyncio.iscoroutinefunction(fn):
            raise Skip("invoke of an async-only tool")
        return "sync", lambda: tool.invoke(args)
    return "async", lambda: tool.ainvoke(args)


def _langgraph(path: str, body: str, bad: bool) -> Path_:
    try:
        from langchain_core.messages import AIMessage
        from langgraph._internal._constants import CONFIG_KEY_RUNTIME
        from langgraph.prebuilt import ToolNode
        from langgraph.runtime import DEFAULT_RUNTIME
    except ImportError as exc:
        raise Skip(f"langgraph not installed ({exc.name})") from exc
    fn = BODIES[body]
    node = ToolNode([_langchain_tool(fn)])
    config: Any = {"configurable": {CONFIG_KEY_RUNTIME: DEFAULT_RUNTIME}}
    call = {"name": "noop", "args": BAD if bad else GOOD, "id": "c1", "type": "tool_call"}
    state = {"messages": [AIMessage(content="", tool_calls=[call])]}
    if path == "invoke":
        if asyncio.iscoroutinefunction(fn):
            raise Skip("invoke of an async-only tool")
        return "sync", lambda: node.invoke(state, config)
    return "async", lambda: node.ainvoke(state, config)


def _openai_agents(path: str, body: str, bad: bool) -> Path_:
    try:
        from agents import function_tool
        from agents.tool_context import ToolContext
    except ImportError as exc:
        raise Skip("openai-agents not installed") from exc
    tool = function_tool(BODIES[body], name_override="noop")
    text = json.dumps(BAD if bad else GOOD)
    ctx: Any = ToolContext(context=None, tool_name="noop", tool_call_id="c1", tool_arguments=text)
    return "async", lambda: tool.on_invoke_tool(ctx, text)


def _pydantic_ai(path: str, body: str, bad: bool) -> Path_:
    try:
        from pydantic_ai import RunContext
        from pydantic_ai import Tool as PydanticTool
        from pydantic_ai.messages import ToolCallPart
        from pydantic_ai.models.test import TestModel
        from pydantic_ai.tool_manager import ToolManager
        from pydantic_ai.toolsets import FunctionToolset
        from pydantic_ai.usage import RunUsage
    except ImportError as exc:
        raise Skip(f"pydantic-ai not installed ({exc.name})") from exc
    from pydantic_ai.exceptions import ToolRetryError

    toolset: Any = FunctionToolset([PydanticTool(BODIES[body], name="noop", max_retries=10**9)])
    ctx: Any = RunContext(deps=None, model=TestModel(), usage=RunUsage())
    manager = asyncio.run(ToolManager(toolset).for_run_step(ctx))
    part = ToolCallPart("noop", json.dumps(BAD if bad else GOOD), tool_call_id="c1")
    if bad:

        async def handle_bad() -> Any:
            try:
                await manager.handle_call(part)
            except ToolRetryError as exc:
                manager.failed_tools.clear()
                return exc.tool_retry
            raise AssertionError("accepted")

        return "async", handle_bad
    return "async", lambda: manager.handle_call(part)


def _toolsafe_options(full: bool) -> dict[str, Any]:
    import toolsafe

    if not full:
        return {}
    out: dict[str, Any] = {}
    for name, value in FULL.items():
        if isinstance(value, tuple):
            cls, kwargs = value
            value = getattr(toolsafe, cls)(**kwargs)
        out[name] = value
    return out


def _runtime(body: str, full: bool) -> Any:
    import toolsafe

    tool = toolsafe.tool(BODIES[body], name="noop", **_toolsafe_options(full))
    return toolsafe.Runtime([tool])


def _toolsafe(path: str, body: str, bad: bool, *, full: bool) -> Path_:
    runtime = _runtime(body, full)
    args = BAD if bad else GOOD
    if path == "call":
        if asyncio.iscoroutinefunction(BODIES[body]):
            raise Skip("Runtime.call of an async tool drives a loop of its own")
        return "sync", lambda: runtime.call("noop", args)
    if path == "acall_json":  # JSON text, as OpenAI-style tool calls carry them
        text = json.dumps(args)
        return "async", lambda: runtime.acall("noop", text)
    return "async", lambda: runtime.acall("noop", args)


PEERS: dict[str, Callable[[str, str, bool], Path_]] = {
    "floor": _floor,
    "crewai": _crewai,
    "langchain": _langchain,
    "langgraph": _langgraph,
    "openai_agents": _openai_agents,
    "pydantic_ai": _pydantic_ai,
    "toolsafe": lambda p, b, bad: _toolsafe(p, b, bad, full=False),
    "toolsafe_full": lambda p, b, bad: _toolsafe(p, b, bad, full=True),
}


def _build(spec: str, body: str, bad: bool = False) -> Path_:
    peer, _, path = spec.partition(".")
    return PEERS[peer](path, body, bad)


def _is_ok(result: Any, bad: bool) -> bool:
    """A sanity check of one answer: the value 1 for a good call, some error for a bad one."""
    ok = getattr(result, "ok", None)
    if ok is not None:  # a toolsafe Outcome
        return bool(ok) != bad
    if bad:
        return result is not None
    content = getattr(result, "content", None)
    if isinstance(result, dict) and "messages" in result:  # a LangGraph ToolNode's state
        content = result["messages"][-1].content
    text = str(content if content is not None else result)
    return text.strip("'\"") == "1"


# --------------------------------------------------------------------------- per call

#: (section, spec, body, kind of path it stands for); the section's rows, in order.
PER_CALL: list[tuple[str, str, str, str]] = [
    ("async", "floor.direct", "anoop", "floor"),
    ("async", "crewai.ainvoke", "anoop", "peer"),
    ("async", "langchain.ainvoke", "anoop", "peer"),
    ("async", "langgraph.ainvoke", "anoop", "peer"),
    ("async", "openai_agents.invoke", "anoop", "peer"),
    ("async", "pydantic_ai.handle_call", "anoop", "peer"),
    ("async", "toolsafe.acall", "anoop", "toolsafe"),
    ("async", "toolsafe_full.acall", "anoop", "toolsafe"),
    ("async", "toolsafe_full.acall_json", "anoop", "toolsafe"),
    ("sync", "floor.direct", "snoop", "floor"),
    ("sync", "floor.to_thread", "snoop", "floor"),
    ("sync", "floor.handoff", "snoop", "floor"),
    ("sync", "crewai.run", "snoop", "inline"),
    ("sync", "crewai.ainvoke", "snoop", "peer"),
    ("sync", "langchain.invoke", "snoop", "inline"),
    ("sync", "langchain.ainvoke", "snoop", "peer"),
    ("sync", "langgraph.invoke", "snoop", "peer"),
    ("sync", "langgraph.ainvoke", "snoop", "peer"),
    ("sync", "openai_agents.invoke", "snoop", "peer"),
    ("sync", "pydantic_ai.handle_call", "snoop", "peer"),
    ("sync", "toolsafe.call", "snoop", "toolsafe"),
    ("sync", "toolsafe.acall", "snoop", "toolsafe"),
    ("sync", "toolsafe_full.call", "snoop", "toolsafe"),
    ("sync", "toolsafe_full.acall", "snoop", "toolsafe"),
    ("invalid", "floor.validate_call", "anoop", "floor"),
    ("invalid", "crewai.run", "snoop", "peer"),
    ("invalid", "crewai.ainvoke", "anoop", "peer"),
    ("invalid", "langchain.invoke", "snoop", "peer"),
    ("invalid", "langchain.ainvoke", "anoop", "peer"),
    ("invalid", "langgraph.ainvoke", "anoop", "peer"),
    ("invalid", "openai_agents.invoke", "anoop", "peer"),
    ("invalid", "pydantic_ai.handle_call", "anoop", "peer"),
    ("invalid", "toolsafe.acall", "anoop", "toolsafe"),
    ("invalid", "toolsafe_full.acall", "anoop", "toolsafe"),
    ("invalid", "toolsafe_full.acall_json", "anoop", "toolsafe"),
]


def _calibrated(once: Callable[[], float]) -> int:
    """Calls per round so that one round lasts about ``ROUND_S`` (warms the path up too)."""
    n, spent = 0, 0.0
    while spent < ROUND_S / 2 or n < 10:
        spent += once()
        n += 1
    return max(10, min(50_000, int(n * ROUND_S / spent)))


def per_call(peers: list[str]) -> dict[str, Any]:
    """µs per call of every PER_CALL row whose peer is in ``peers`` (and the floors and
    toolsafe rows), median of ROUNDS alternating rounds; skipped rows with their reason."""
    wanted = {"floor", "toolsafe", "toolsafe_full", *peers}
    sync_paths: dict[str, Callable[[], Any]] = {}
    async_paths: dict[str, Callable[[], Any]] = {}
    skipped: dict[str, str] = {}
    for section, spec, body, _ in PER_CALL:
        if spec.partition(".")[0] not in wanted:
            continue
        key = f"{section}/{spec}"
        try:
            kind, fn = _build(spec, body, bad=section == "invalid")
        except Skip as exc:
            skipped[key] = str(exc)
            continue
        (async_paths if kind == "async" else sync_paths)[key] = fn
    out: dict[str, float] = {}

    def check(key: str, result: Any) -> None:
        if not _is_ok(result, key.startswith("invalid/")):
            raise AssertionError(f"{key}: unexpected answer {result!r:.300}")

    # Sync paths, called from sync code (no event loop running).
    counts: dict[str, int] = {}
    for key, fn in sync_paths.items():
        check(key, fn())

        def once(fn: Callable[[], Any] = fn) -> float:
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start

        counts[key] = _calibrated(once)
    samples: dict[str, list[float]] = {key: [] for key in sync_paths}
    cpu: dict[str, list[float]] = {key: [] for key in sync_paths}
    for _ in range(ROUNDS):
        for key, fn in sync_paths.items():
            n = counts[key]
            start, began = time.perf_counter(), time.process_time()
            for _ in range(n):
                fn()
            samples[key].append((time.perf_counter() - start) / n * 1e6)
            cpu[key].append((time.process_time() - began) / n * 1e6)

    async def async_rounds() -> None:
        acounts: dict[str, int] = {}
        for key, make in async_paths.items():
            check(key, await make())
            n, spent = 0, 0.0
            while spent < ROUND_S / 2 or n < 10:
                start = time.perf_counter()
                await make()
                spent += time.perf_counter() - start
                n += 1
            acounts[key] = max(10, min(50_000, int(n * ROUND_S / spent)))
        for key in async_paths:
            samples[key], cpu[key] = [], []
        for _ in range(ROUNDS):
            for key, make in async_paths.items():
                n = acounts[key]
                start, began = time.perf_counter(), time.process_time()
                for _ in range(n):
                    await make()
                samples[key].append((time.perf_counter() - start) / n * 1e6)
                cpu[key].append((time.process_time() - began) / n * 1e6)

    asyncio.run(async_rounds())
    for key, values in samples.items():
        out[key] = statistics.median(values)
    cpu_us = {key: statistics.median(values) for key, values in cpu.items()}
    return {
        "us": out,
        "cpu_us": cpu_us,
        "skipped": skipped,
        "versions": _versions(),
        "python": sys.version,
    }


# --------------------------------------------------------------------------- batches

#: (row id, body, size, spec, option); option "freeze" calls gc.freeze() after start-up.
BATCHES: list[tuple[str, str, int, str, str]] = [
    ("anoop", "anoop", 10_000, "floor.gather", ""),
    ("anoop", "anoop", 10_000, "crewai.ainvoke", ""),
    ("anoop", "anoop", 10_000, "langchain.ainvoke", ""),
    ("anoop", "anoop", 10_000, "openai_agents.invoke", ""),
    ("anoop", "anoop", 10_000, "pydantic_ai.handle_call", ""),
    ("anoop", "anoop", 10_000, "toolsafe.acall_many", ""),
    ("anoop", "anoop", 10_000, "toolsafe_full.acall_many", ""),
    ("asleep", "asleep", 10_000, "floor.gather", ""),
    ("asleep", "asleep", 10_000, "toolsafe.acall_many", ""),
    ("asleep", "asleep", 10_000, "toolsafe_full.acall_many", ""),
    ("asleep", "asleep", 10_000, "toolsafe_full.acall_many", "freeze"),
    ("sblock", "sblock", 1_000, "floor.to_thread", ""),
    ("sblock", "sblock", 1_000, "crewai.ainvoke", ""),
    ("sblock", "sblock", 1_000, "langchain.ainvoke", ""),
    ("sblock", "sblock", 1_000, "openai_agents.invoke", ""),
    ("sblock", "sblock", 1_000, "pydantic_ai.handle_call", ""),
    ("sblock", "sblock", 1_000, "toolsafe.acall_many", ""),
    ("sblock", "sblock", 1_000, "toolsafe_full.acall_many", ""),
    ("snoop", "snoop", 10_000, "floor.to_thread", ""),
    ("snoop", "snoop", 10_000, "crewai.ainvoke", ""),
    ("snoop", "snoop", 10_000, "langchain.ainvoke", ""),
    ("snoop", "snoop", 10_000, "openai_agents.invoke", ""),
    ("snoop", "snoop", 10_000, "pydantic_ai.handle_call", ""),
    ("snoop", "snoop", 10_000, "toolsafe.acall_many", ""),
    ("snoop", "snoop", 10_000, "toolsafe_full.acall_many", ""),
]


def _batch_runner(spec: str, body: str) -> Callable[[int], Awaitable[Any]]:
    """``run(n)``: n concurrent calls of the path, all answers checked."""
    peer = spec.partition(".")[0]
    if peer.startswith("toolsafe"):
        runtime = _runtime(body, full=peer == "toolsafe_full")

        async def many(n: int) -> None:
            outs = await runtime.acall_many([("noop", GOOD)] * n)
            bad = [o.text for o in outs if not o.ok]
            assert not bad, bad[:3]

        return many
    if spec == "floor.gather":
        fn = BODIES[body]

        async def gather(n: int) -> None:
            await asyncio.gather(*(fn(1) for _ in range(n)))

        return gather
    kind, make = _build(spec, body)
    if kind != "async":
        raise Skip(f"{spec} is not an async path")

    async def peers(n: int) -> None:
        results = await asyncio.gather(*(make() for _ in range(n)))
        assert all(_is_ok(r, False) for r in results[:10]), results[:3]

    return peers


def batch(spec: str, body: str, size: int, option: str) -> dict[str, Any]:
    """One batch row in this (fresh) process: wall s (median of up to 3 rounds after a
    warm-up batch of a tenth of the size), peak RSS, tracemalloc peak of one more round."""
    import gc
    import resource
    import tracemalloc

    try:
        run = _batch_runner(spec, body)
    except Skip as exc:
        return {"skipped": str(exc)}
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if option == "freeze":
        gc.freeze()

    async def main() -> dict[str, Any]:
        start = time.perf_counter()
        await run(max(1, size // 10))
        warm = time.perf_counter() - start
        if warm * 10 > BATCH_CAP_S:
            return {"skipped": f"estimated {warm * 10:.0f} s from a {size // 10:,}-call batch"}
        walls, cpus = [], []
        for _ in range(3):
            start, cpu = time.perf_counter(), time.process_time()
            await run(size)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
            if sum(walls) > 3.0:
                break
        out: dict[str, Any] = {
            "wall": statistics.median(walls),
            "cpu": statistics.median(cpus),
            "rounds": len(walls),
        }
        out["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if body == "asleep":
            tracemalloc.start()
            await run(size)
            out["traced_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        return out

    out = asyncio.run(main())
    out["rss_start"] = rss_start
    return out


# --------------------------------------------------------------------------- Redis

REDIS_CALLERS = 64
REDIS_SECONDS = 3.0


def redis_row(max_connections: int | None = None) -> dict[str, Any]:
    """A guarded call (breaker + rate + concurrency) on the Redis store of a private
    server: µs per sequential call, client round trips per call (socket writes of
    redis-py's async connection, so a pipeline counts once), scripts the server ran per
    call, and calls/s of REDIS_CALLERS concurrent callers in this one process."""
    import redis.asyncio.connection as rconn

    import toolsafe
    from bench.bench_distributed import Server

    server = Server()
    writes = 0
    original = rconn.AbstractConnection.send_packed_command

    async def counted(self: Any, command: Any, check_health: bool = True) -> None:
        nonlocal writes
        writes += 1
        await original(self, command, check_health)

    rconn.AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    pool = {} if max_connections is None else {"max_connections": max_connections}
    store = toolsafe.RedisStore(server.url, prefix=f"bench-peers-{time.time_ns()}:", **pool)
    tool = toolsafe.tool(
        anoop,
        name="noop",
        breaker=toolsafe.Breaker(failures=5),
        rate=toolsafe.Rate(per_second=10_000_000, burst=1_000_000),
        concurrency=10_000,
    )
    runtime = toolsafe.Runtime([tool], store=store)

    async def main() -> dict[str, Any]:
        nonlocal writes
        for _ in range(300):  # connections made, scripts loaded
            assert (await runtime.acall("noop", GOOD)).ok
        import redis.asyncio as aredis

        client = aredis.Redis.from_url(server.url)
        await client.ping()
        start = time.perf_counter()
        for _ in range(1000):
            await client.ping()
        ping_us = (time.perf_counter() - start) / 1000 * 1e6
        await client.aclose()
        server.reset()
        writes = 0
        n = 2000
        start = time.perf_counter()
        for _ in range(n):
            outcome = await runtime.acall("noop", GOOD)
            assert outcome.ok, outcome.text
        seq_us = (time.perf_counter() - start) / n * 1e6
        trips, scripts = writes / n, server.scripts() / n
        done = 0
        failed: dict[str, int] = {}
        stop = time.monotonic() + REDIS_SECONDS

        async def caller() -> None:
            nonlocal done
            while time.monotonic() < stop:
                outcome = await runtime.acall("noop", GOOD)
                if outcome.ok:
                    done += 1
                else:  # counted, not hidden: a store step over its time budget, say
                    kind = outcome.error.type if outcome.error else "?"
                    failed[kind] = failed.get(kind, 0) + 1

        began = time.monotonic()
        await asyncio.gather(*(caller() for _ in range(REDIS_CALLERS)))
        rate = done / (time.monotonic() - began)
        await store.aclose_loop()
        return {
            "seq_us": seq_us,
            "round_trips": trips,
            "scripts": scripts,
            "calls_per_s": rate,
            "failed": failed,
            "ping_us": ping_us,
            "server": server.version,
        }

    try:
        return asyncio.run(main())
    finally:
        rconn.AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
        runtime.close()
        server.close()


# --------------------------------------------------------------------------- plumbing


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in (
        "crewai",
        "langchain-core",
        "langgraph",
        "langgraph-prebuilt",
        "openai-agents",
        "pydantic-ai-slim",
        "pydantic",
        "redis",
    ):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def latest_python() -> Path | None:
    """``.venv-latest``'s interpreter: $TOOLSAFE_BENCH_LATEST, beside this checkout, or
    beside the main checkout of a git worktree."""
    if os.environ.get("TOOLSAFE_BENCH_LATEST"):
        return Path(os.environ["TOOLSAFE_BENCH_LATEST"])
    candidates = [ROOT / ".venv-latest" / "bin" / "python"]
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--git-common-dir"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        if common:
            candidates.append((ROOT / common).resolve().parent / ".venv-latest" / "bin" / "python")
    except (OSError, subprocess.SubprocessError):
        pass
    return next((c for c in candidates if c.exists()), None)


def _inner(python: str | Path, call: str, timeout: float = 300) -> Any:
    """Run ``bench.bench_peers.<call>`` in a fresh ``python``; its JSON answer."""
    code = f"import json; from bench import bench_peers as b; print(json.dumps(b.{call}))"
    done = subprocess.run(
        [str(python), "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if done.returncode:
        raise RuntimeError(f"{call} failed in {python}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the report

LABELS = {
    "floor.direct": "plain call: `await f(x)` / `f(x)`",
    "floor.to_thread": "`await asyncio.to_thread(f, x)`",
    "floor.handoff": "two threads passing two raw locks (the handoff floor)",
    "floor.validate_call": "`pydantic.validate_call` raising, `str(error)`",
    "floor.gather": "bare `asyncio.gather`",
    "crewai.run": "CrewAI `BaseTool.run`",
    "crewai.ainvoke": "CrewAI `CrewStructuredTool.ainvoke`",
    "langchain.invoke": "LangChain `StructuredTool.invoke`",
    "langchain.ainvoke": "LangChain `StructuredTool.ainvoke`",
    "langgraph.invoke": "LangGraph `ToolNode.invoke`",
    "langgraph.ainvoke": "LangGraph `ToolNode.ainvoke`",
    "openai_agents.invoke": "OpenAI Agents `FunctionTool.on_invoke_tool`",
    "pydantic_ai.handle_call": "Pydantic AI `ToolManager.handle_call`",
    "toolsafe.acall": "toolsafe bare `Runtime.acall`",
    "toolsafe.call": "toolsafe bare `Runtime.call` (from sync code)",
    "toolsafe_full.acall": "toolsafe full `Runtime.acall`",
    "toolsafe_full.acall_json": "toolsafe full `Runtime.acall`, arguments as JSON text",
    "toolsafe_full.call": "toolsafe full `Runtime.call` (from sync code)",
    "toolsafe.acall_many": "toolsafe bare `acall_many`",
    "toolsafe_full.acall_many": "toolsafe full `acall_many`",
}
SECTIONS = {
    "async": "async no-op tool, from async code",
    "sync": "sync no-op tool",
    "invalid": 'invalid arguments (`{"x": "one"}` for an `int`) → the framework\'s error',
}
#: The toolsafe row each section's target is checked with.
TARGET_ROW = {
    "async": "toolsafe_full.acall",
    "sync": "toolsafe_full.call",
    "invalid": "toolsafe_full.acall",
}
BATCH_TITLES = {
    "anoop": "10,000 concurrent async no-op calls",
    "asleep": "10,000 concurrent async calls sleeping 50 ms",
    "sblock": "1,000 concurrent sync calls blocking 50 ms",
    "snoop": "10,000 concurrent sync no-op calls",
}
BATCH_BASE = {
    "anoop": "floor.gather",
    "asleep": "floor.gather",
    "sblock": "floor.to_thread",
    "snoop": "floor.to_thread",
}
PEER_OF = {
    "crewai": "crewai",
    "langchain": "langchain-core",
    "langgraph": "langgraph",
    "openai_agents": "openai-agents",
    "pydantic_ai": "pydantic-ai-slim",
}


def _fmt(us: float) -> str:
    return f"{us:.1f}" if us < 1000 else f"{us:,.0f}"


def _mark(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def run() -> Report:
    started, load_before = time.perf_counter(), os.getloadavg()
    report = Report(
        "17_peers", "Peers: the same trivial tools through each framework and toolsafe (issue 17)"
    )
    here = sys.executable
    latest = latest_python()
    procs: dict[str, dict[str, Any]] = {".venv": _inner(here, f"per_call({list(MAIN_PEERS)!r})")}
    notes: list[str] = []
    if latest is not None:
        procs[".venv-latest"] = _inner(latest, f"per_call({list(LATEST_PEERS)!r})")
    else:
        notes.append(
            "OpenAI Agents SDK and Pydantic AI not measured: no `.venv-latest` "
            "(`make pytest-latest` creates it)."
        )
    python_of = {".venv": here, ".venv-latest": str(latest)}

    # ------------------------------------------------------------------ batches
    batches: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row, body, size, spec, option in BATCHES:
        peer = spec.partition(".")[0]
        venv = ".venv-latest" if peer in LATEST_PEERS else ".venv"
        if venv not in procs:
            batches[row, spec, option] = {"skipped": "needs .venv-latest"}
            continue
        try:
            batches[row, spec, option] = _inner(
                python_of[venv], f"batch({spec!r}, {body!r}, {size}, {option!r})", timeout=120
            )
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            batches[row, spec, option] = {"skipped": f"failed: {str(exc)[-300:]}"}
    try:
        redis = _inner(here, "redis_row()", timeout=120)
        redis_wide = _inner(here, f"redis_row({REDIS_CALLERS})", timeout=120)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        redis = redis_wide = {"skipped": str(exc)[-500:]}
    total, load_after = time.perf_counter() - started, os.getloadavg()

    # ------------------------------------------------------------------ what was measured
    versions = {venv: p["versions"] for venv, p in procs.items()}
    described = "; ".join(
        f"`{venv}`: " + ", ".join(f"{k} {v}" for k, v in sorted(vs.items()))
        for venv, vs in versions.items()
    )
    report.text(
        "**One run on a shared 2-core machine** (other jobs were running: figures move by "
        "tens of percent between runs; compare within a table, not with other sections). "
        f"Versions: {described}. The whole section took {total:.0f} s; the machine's "
        f"1-minute load average was {load_before[0]:.1f} when it began and "
        f"{load_after[0]:.1f} when it ended (2 cores)."
    )
    report.text(
        f"Per call: sequential calls on one event loop (sync-from-sync rows outside any "
        f"loop), every row of a process measured in alternation, {ROUNDS} rounds of about "
        f"{ROUND_S * 1000:.0f} ms each; the figure is the median round's mean wall µs per call. "
        'Arguments are the same constant every call (`{"x": 1}`; prebuilt JSON text, '
        "message or tool-call part where the framework takes one). The full pipeline is "
        "timeout 30 s, retry (3 attempts), breaker, rate limit (never binding), "
        "concurrency limit (never binding), output budget (10,000 chars), memory store. "
        "Rows of `.venv-latest` ran in a second process with its own floor and toolsafe "
        "rows; the last column compares toolsafe's target row with each peer **in the same "
        "process** (lower is better for toolsafe). The target row takes a dict; the "
        'row "arguments as JSON text" takes the text OpenAI-style tool calls carry '
        "(what the OpenAI Agents SDK's path parses too)."
    )
    per_rows = []
    floors = {
        "async": "async/floor.direct",
        "sync": "sync/floor.to_thread",
        "invalid": "invalid/floor.validate_call",
    }
    for section, title in SECTIONS.items():
        per_rows.append([f"**{title}**", "", "", "", "", ""])
        for venv, data in procs.items():
            us, cpu_us, skipped = data["us"], data.get("cpu_us", {}), data["skipped"]
            floor = us.get(floors[section])
            ours = us.get(f"{section}/{TARGET_ROW[section]}")
            for sec, spec, _body, kind in PER_CALL:
                key = f"{sec}/{spec}"
                label = f"{LABELS[spec]} ({venv})"
                if sec != section:
                    continue
                if "not installed" in skipped.get(key, ""):
                    per_rows.append([label, "skipped", "", "", "", skipped[key]])
                if key not in us:
                    continue
                value = us[key]
                if key == floors[section]:
                    vs_floor = "floor"
                elif floor and not spec.startswith("floor."):
                    vs_floor = f"{value / floor:.2f}×"
                else:
                    vs_floor = ""
                vs = ""
                if kind == "peer" and ours:
                    vs = f"{ours / value:.2f}×"
                elif kind == "inline" and ours:
                    vs = f"({ours / value:.2f}×: inline, not a target peer)"
                cpu = _fmt(cpu_us[key]) if key in cpu_us else ""
                per_rows.append([label, _fmt(value), cpu, vs_floor, vs, _where(section, spec)])
    report.table(
        [
            "path (process)",
            "µs per call (wall)",
            "µs CPU (all threads)",
            "× floor (wall)",
            "toolsafe target row ÷ this (wall)",
            "where the body runs",
        ],
        per_rows,
    )
    report.text(
        "Every sync row but the inline ones pays at least one handoff to a worker thread "
        "and back (the handoff floor row). On this virtual machine that costs about 5-14 "
        "µs while the other vCPU is busy and 50-80 µs when both are idle (waking a halted "
        "vCPU; measured 2026-12-03 with the same two-lock program), so the sync rows move "
        "together between runs and even between rounds: read them against the floor and "
        "the peers of the same process."
    )

    # ------------------------------------------------------------------ batch table
    report.text(
        "Batches: each row in a fresh process; one warm-up batch of a tenth of the size, "
        "then up to 3 batches (fewer when they take over 3 s together), the median wall "
        "time. Peers gather their own async path (`asyncio.gather` of the calls); toolsafe "
        "runs `acall_many`. No `gc.freeze()` unless the row says so. Peak RSS is the "
        "process's (imports included; `start` is the RSS after imports); traced MB is "
        "tracemalloc's peak during one more batch (sleeping rows only). A row whose warm-up "
        f"batch predicts more than {BATCH_CAP_S:.0f} s is not run."
    )
    brows = []
    for row, title in BATCH_TITLES.items():
        brows.append([f"**{title}**", "", "", "", "", ""])
        base = batches.get((row, BATCH_BASE[row], ""), {})
        for r, _body, _size, spec, option in BATCHES:
            if r != row:
                continue
            data = batches[row, spec, option]
            label = LABELS[spec] + (", `gc.freeze()` after start-up" if option else "")
            if "skipped" in data:
                brows.append([label, "not run", "", "", "", data["skipped"]])
                continue
            ratio = f"{data['wall'] / base['wall']:.2f}×" if base.get("wall") else ""
            mem = f"{data['rss']:.0f} (start {data['rss_start']:.0f})"
            traced = f"{data['traced_mb']:.0f}" if "traced_mb" in data else ""
            brows.append([label, f"{data['wall']:.3f}", ratio, f"{data['cpu']:.3f}", mem, traced])
    report.table(
        ["batch, path", "wall s", "× baseline", "CPU s", "peak RSS MB", "traced MB"], brows
    )

    # ------------------------------------------------------------------ Redis
    if "skipped" in redis:
        report.text(f"Redis row not measured: {redis['skipped']}")
    else:
        report.text(
            f"Redis store, guarded call (breaker + rate limit + concurrency limit, none "
            f"binding), async no-op tool, a private redis-server {redis['server']} on "
            "127.0.0.1: 2,000 sequential calls, then "
            f"{REDIS_CALLERS} concurrent callers for {REDIS_SECONDS:.0f} s in this one process. "
            "Round trips are the client's writes to its Redis connections (a pipeline counts "
            "once); scripts are the server's EVAL/EVALSHA count (`INFO commandstats`)."
        )
        report.table(
            [
                "store",
                "round trips per call",
                "scripts per call",
                "µs per sequential call",
                "one PING µs",
                f"calls/s, {REDIS_CALLERS} callers",
                "failed calls in that run",
            ],
            [
                [
                    label,
                    f"{r['round_trips']:.2f}",
                    f"{r['scripts']:.2f}",
                    _fmt(r["seq_us"]),
                    _fmt(r["ping_us"]),
                    f"{r['calls_per_s']:,.0f}",
                    ", ".join(f"{n:,} {kind}" for kind, n in r["failed"].items()) or "none",
                ]
                for label, r in (
                    ("`RedisStore(url)` (defaults)", redis),
                    (f"`RedisStore(url, max_connections={REDIS_CALLERS})`", redis_wide),
                )
                if "skipped" not in r
            ],
        )
        if redis["failed"]:
            report.text(
                "Failed calls: a store step that waits longer than the store's `op_timeout` "
                "(0.5 s) for a free pooled connection (a blocking pool of `max_connections` "
                "per event loop) gets redis-py's `ConnectionError`, which the store reads as "
                "Redis down: for `retry_interval` (1 s) every call then ends at once as "
                "`StoreUnavailable` (not run). calls/s counts only the calls that succeeded."
            )

    # ------------------------------------------------------------------ targets
    report.text("Issue 17's targets, checked against the figures above:")
    report.table(["target", "figures", "verdict"], _targets(procs, batches, redis))
    if notes:
        report.text(" ".join(notes))
    report.text(
        "What the rows leave out: CrewAI's and LangChain's agent loops (events, hooks, "
        "callbacks around a call beyond the tool's own method), LangGraph's Pregel loop "
        "around the node, the OpenAI Agents runner's span bookkeeping (tracing disabled), "
        "Pydantic AI's graph. Inline paths (CrewAI `BaseTool.run`, LangChain `invoke`) run "
        "the body in the caller's thread with no timeout: they are shown but are not the "
        '"sync path" the target compares with (every other sync row hands the body to '
        "a worker thread, as toolsafe does). CrewAI's `ainvoke` raises its validation "
        "error (the row includes raising and catching it); the others return it as text "
        "or, for Pydantic AI, as a retry prompt (`ToolRetryError`). LangGraph and "
        "LangChain's batch figures are left out when their warm-up predicts too long a run."
    )
    return report


def _where(section: str, spec: str) -> str:
    if section == "invalid" or section == "async":
        return ""
    return {
        "floor.direct": "caller's thread",
        "floor.to_thread": "loop's default executor",
        "floor.handoff": "a parked thread",
        "crewai.run": "caller's thread",
        "crewai.ainvoke": "loop's default executor",
        "langchain.invoke": "caller's thread",
        "langchain.ainvoke": "loop's default executor",
        "langgraph.invoke": "a new thread pool per call",
        "langgraph.ainvoke": "loop's default executor",
        "openai_agents.invoke": "`asyncio.to_thread`",
        "pydantic_ai.handle_call": "anyio worker thread",
    }.get(spec, "toolsafe's worker pool")


def _targets(
    procs: dict[str, Any], batches: dict[Any, Any], redis: dict[str, Any]
) -> list[list[str]]:
    rows: list[list[str]] = []
    for section, limit, what in (
        ("async", 0.67, "async no-op, full pipeline ≤ 0.67 × the fastest peer's async path"),
        ("sync", 0.5, "sync no-op, full `Runtime.call` ≤ 0.5 × the fastest peer's sync path"),
        ("invalid", 1.0, "invalid arguments, full pipeline ≤ the fastest peer"),
    ):
        worst: tuple[float, str, float, float, str, str] | None = None
        for venv, data in procs.items():
            us = data["us"]
            ours = us.get(f"{section}/{TARGET_ROW[section]}")
            for sec, spec, _b, kind in PER_CALL:
                key = f"{sec}/{spec}"
                if sec != section or kind != "peer" or key not in us or ours is None:
                    continue
                ratio = ours / us[key]
                if worst is None or ratio > worst[0]:
                    worst = (ratio, f"{LABELS[spec]} ({venv})", us[key], ours, venv, key)
        if worst is None:
            rows.append([what, "no peer measured", "not checked"])
            continue
        ratio, peer, theirs, ours, venv, key = worst
        figures = f"{_fmt(ours)} µs vs fastest peer {peer} {_fmt(theirs)} µs: {ratio:.2f}×"
        cpu = procs[venv].get("cpu_us", {})
        mine = f"{section}/{TARGET_ROW[section]}"
        if mine in cpu and key in cpu:
            figures += (
                f" (CPU: {_fmt(cpu[mine])} vs {_fmt(cpu[key])} µs, {cpu[mine] / cpu[key]:.2f}×)"
            )
        if section == "sync" and "sync/toolsafe_full.acall" in procs[venv]["us"]:
            from_loop = procs[venv]["us"]["sync/toolsafe_full.acall"]
            figures += (
                f"; from async code (`Runtime.acall`) {_fmt(from_loop)} µs: "
                f"{from_loop / theirs:.2f}×"
            )
        rows.append([what, figures, _mark(ratio <= limit)])

    def wall(row: str, spec: str, option: str = "") -> float | None:
        value = batches.get((row, spec, option), {}).get("wall")
        return float(value) if value is not None else None

    def best_peer(row: str) -> tuple[float, str] | None:
        found = [
            (data["wall"], LABELS[spec])
            for (r, spec, _o), data in batches.items()
            if r == row and spec.partition(".")[0] in PEER_OF and "wall" in data
        ]
        return min(found) if found else None

    full, base = wall("anoop", "toolsafe_full.acall_many"), wall("anoop", "floor.gather")
    if full and base:
        rows.append(
            [
                "10,000 concurrent async no-op calls, full ≤ 2 × bare gather",
                f"{full:.3f} s vs {base:.3f} s: {full / base:.2f}×",
                _mark(full <= 2 * base),
            ]
        )
    sleep = batches.get(("asleep", "toolsafe_full.acall_many", ""), {})
    if "wall" in sleep:
        rows.append(
            [
                "10,000 concurrent async calls sleeping 50 ms, full, no `gc.freeze()`: "
                "≤ 0.5 s, ≤ 200 MB",
                f"{sleep['wall']:.3f} s, peak RSS {sleep['rss']:.0f} MB (traced "
                f"{sleep.get('traced_mb', 0):.0f} MB)",
                _mark(sleep["wall"] <= 0.5 and sleep["rss"] <= 200),
            ]
        )
    for row, limit, what in (
        ("sblock", 0.25, "1,000 concurrent sync calls blocking 50 ms, full ≤ 0.25 × the best peer"),
        ("snoop", 0.8, "10,000 concurrent sync no-op calls, full ≤ 0.8 × the best peer"),
    ):
        full, peer = wall(row, "toolsafe_full.acall_many"), best_peer(row)
        if full and peer:
            rows.append(
                [
                    what,
                    f"{full:.3f} s vs {peer[1]} {peer[0]:.3f} s: {full / peer[0]:.2f}×",
                    _mark(full <= limit * peer[0]),
                ]
            )
        else:
            rows.append([what, "not measured", "not checked"])
    if "skipped" not in redis:
        rows.append(
            [
                "Redis guarded call: ≤ 2 round trips, ≥ 5,000 calls/s (64 callers, one process)",
                f"{redis['round_trips']:.2f} round trips, {redis['calls_per_s']:,.0f} calls/s",
                _mark(redis["round_trips"] <= 2 and redis["calls_per_s"] >= 5000),
            ]
        )
    return rows


if __name__ == "__main__":  # pragma: no cover
    run().save()
