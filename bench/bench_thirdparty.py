"""Real third-party tools under toolsafe: the per-call copy cost, and a tool's own rate limiter.

JsonGetValueTool (langchain-community) over a 20,000-key spec: before, every call
deep-copied the whole tool (the spec included); now only what calls may change is
copied, and the spec, which calls only read, is shared. "Before" is reproduced
with a factory that makes the old full per-call copy.

BraveWebSearchTool (crewai-tools) with ``requests_per_second=5`` against a local
server: its lock guards ``_last_request_time``; per-call copies shared the lock and
copied the time, so every call went through at once. Now the tool is shared whole.
"""

from __future__ import annotations

import os
import time
import warnings

from bench._report import Report

ROUNDS = 5
CALLS = 20


def _json_rows() -> list[list[str]]:
    from langchain_community.tools.json.tool import JsonGetValueTool, JsonSpec

    import toolsafe
    from toolsafe._isolation import isolate
    from toolsafe.integrations.langchain import from_langchain

    spec = JsonSpec(dict_={f"k{i}": {"v": i, "tags": [i, i + 1]} for i in range(20_000)})
    plain = JsonGetValueTool(spec=spec)

    def old_copy() -> JsonGetValueTool:
        target = plain.model_copy(
            update={"handle_tool_error": False, "handle_validation_error": False}
        )
        return isolate(target)[0]  # every attribute deep-copied, as before

    before = from_langchain(plain, isolation=old_copy)
    after = from_langchain(JsonGetValueTool(spec=spec))
    args = {"tool_input": 'data["k5"]["v"]'}

    def per_call(fn: object) -> float:
        samples = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            for _ in range(CALLS):
                fn()  # type: ignore[operator]
            samples.append((time.perf_counter() - start) / CALLS * 1000)
        return min(samples)

    rows = []
    direct = per_call(lambda: plain.invoke(args))
    with toolsafe.Runtime([before]) as rt_before, toolsafe.Runtime([after]) as rt_after:
        name = after.name
        for label, rt in (("before (full copy per call)", rt_before), ("after", rt_after)):
            ms = per_call(lambda rt=rt: rt.call(name, args))
            start = time.perf_counter()
            outcomes = rt.call_many([(name, args)] * 32)
            wall = time.perf_counter() - start
            assert all(o.text == "5" for o in outcomes)
            rows.append([label, f"{ms:.2f}", f"{wall:.3f}", f"{direct:.2f}"])
    return rows


def _brave_rows() -> list[list[str]]:
    from _local_http import local_server  # tests/integrations: the tests' local server
    from crewai_tools import BraveWebSearchTool

    from toolsafe.integrations.crewai import harden

    rows = []
    with local_server() as server:

        def make() -> BraveWebSearchTool:
            return BraveWebSearchTool(
                api_key="bench",
                requests_per_second=5,
                search_url=f"{server.url}/res/v1/web/search",
            )

        tool = make()
        start = time.perf_counter()
        for i in range(10):
            tool.run(q=f"q{i}")
        rows.append(["plain tool, 10 sequential calls", f"{time.perf_counter() - start:.2f}"])
        for label, options in (
            ("hardened, 10 concurrent calls (shared whole: its lock holds)", {}),
            ("hardened with isolation='copy' (the old behaviour)", {"isolation": "copy"}),
        ):
            hardened = harden(make(), **options)
            start = time.perf_counter()
            outcomes = hardened.runtime.call_many(
                [(hardened.name, {"q": f"q{i}"}) for i in range(10)]
            )
            assert all(o.ok for o in outcomes), [o.text for o in outcomes]
            rows.append([label, f"{time.perf_counter() - start:.2f}"])
    return rows


def run() -> Report:
    import sys
    from pathlib import Path

    warnings.simplefilter("ignore")
    os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integrations"))
    report = Report(
        "10_thirdparty", "Real third-party tools: copy cost and own rate limiters (issue 13)"
    )
    report.text(
        "`from_langchain(JsonGetValueTool(spec=<20,000-key dict>))` called through "
        f"`runtime.call`, ms per call (best of {ROUNDS} rounds of {CALLS}), and 32 "
        "concurrent calls (`call_many`), wall seconds. Before: the whole tool deep-copied "
        "per call. After: the spec, which calls only read, is shared; nothing is copied."
    )
    report.table(
        ["JsonGetValueTool", "ms per call", "32 concurrent s", "direct invoke ms"], _json_rows()
    )
    report.text(
        "`BraveWebSearchTool(requests_per_second=5)` against a local 127.0.0.1 server, "
        "10 calls, wall seconds: its own limiter spaces them 0.2 s apart (≈ 1.8 s)."
    )
    report.table(["BraveWebSearchTool", "wall s"], _brave_rows())
    return report
