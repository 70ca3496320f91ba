"""Per-call cost through the OpenAI Agents SDK and Pydantic AI adapters, beside each
framework's own tool path, in one run.

The frameworks live in ``.venv-latest`` (CrewAI's pins keep them out of ``.venv``):
run from the main venv, this module re-runs its measurements there.

Rows, one trivial tool ``add(a, b)`` called with JSON arguments as a model sends them:

- OpenAI Agents SDK: ``FunctionTool.on_invoke_tool(ctx, json)`` for an
  ``@function_tool`` (the SDK's own path: its validation, its failure handler, a
  worker thread for a sync function) vs ``to_openai_agents(tool)`` (toolsafe's
  validation and pipeline; a sync body on toolsafe's pool).
- Pydantic AI: a ``FunctionToolset`` tool vs ``ToolsafeToolset``, each as the
  ``ToolManager`` drives it: ``args_validator.validate_json`` then ``call_tool``.
- Invalid arguments through each (the model sent a string for an integer).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

from bench._report import ROOT, Report

LATEST = ROOT / ".venv-latest" / "bin" / "python"
N = 2000


def _per_call_async(make: Any, number: int = N, repeat: int = 5) -> float:
    import time

    async def loop() -> float:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(number):
                await make()
            best = min(best, (time.perf_counter() - start) / number)
        return best * 1e6

    return asyncio.run(loop())


def measure() -> dict[str, float]:
    from agents import function_tool
    from agents.tool_context import ToolContext
    from pydantic_ai import RunContext
    from pydantic_ai import Tool as PydanticTool
    from pydantic_ai.models.test import TestModel
    from pydantic_ai.toolsets import FunctionToolset
    from pydantic_ai.usage import RunUsage

    import toolsafe
    from toolsafe.integrations.openai_agents import to_openai_agents
    from toolsafe.integrations.pydantic_ai import ToolsafeToolset

    def add(a: int, b: int = 0) -> int:
        """Add two integers."""
        return a + b

    async def aadd(a: int, b: int = 0) -> int:
        """Add two integers."""
        return a + b

    good, bad = json.dumps({"a": 2, "b": 3}), json.dumps({"a": "two"})
    out: dict[str, float] = {}

    def ctx(args: str) -> ToolContext[Any]:
        return ToolContext(context=None, tool_name="add", tool_call_id="c", tool_arguments=args)

    for label, fn in (("sync", add), ("async", aadd)):
        sdk = function_tool(fn, name_override="add")
        ours = to_openai_agents(toolsafe.tool(fn, name="add"))
        out[f"oa_sdk_{label}"] = _per_call_async(lambda t=sdk: t.on_invoke_tool(ctx(good), good))
        out[f"oa_ts_{label}"] = _per_call_async(lambda t=ours: t.on_invoke_tool(ctx(good), good))
    sdk = function_tool(add)
    ours = to_openai_agents(toolsafe.tool(add))
    out["oa_sdk_invalid"] = _per_call_async(lambda: sdk.on_invoke_tool(ctx(bad), bad))
    out["oa_ts_invalid"] = _per_call_async(lambda: ours.on_invoke_tool(ctx(bad), bad))

    run_ctx: Any = RunContext(deps=None, model=TestModel(), usage=RunUsage())

    async def tools_of(toolset: Any) -> Any:
        return (await toolset.get_tools(run_ctx))["add"]

    for label, fn in (("sync", add), ("async", aadd)):
        fts: Any = FunctionToolset([PydanticTool(fn, name="add")])
        tts: Any = ToolsafeToolset([toolsafe.tool(fn, name="add")])
        f_tool = asyncio.run(tools_of(fts))
        t_tool = asyncio.run(tools_of(tts))

        async def via(toolset: Any, tool: Any, text: str = good) -> Any:
            args = tool.args_validator.validate_json(text)
            return await toolset.call_tool("add", args, run_ctx, tool)

        out[f"pa_own_{label}"] = _per_call_async(lambda s=fts, t=f_tool: via(s, t))
        out[f"pa_ts_{label}"] = _per_call_async(lambda s=tts, t=t_tool: via(s, t))
    return out


def run() -> Report:
    report = Report("agents", "OpenAI Agents SDK and Pydantic AI adapters (per call)")
    if os.environ.get("TOOLSAFE_BENCH_INNER") != "1":
        if not LATEST.exists():
            report.text("_Not measured: needs `.venv-latest` (`make pytest-latest` creates it)._")
            return report
        done = subprocess.run(
            [
                str(LATEST),
                "-c",
                "from bench.bench_agents import measure; import json; print(json.dumps(measure()))",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "TOOLSAFE_BENCH_INNER": "1", "OPENAI_AGENTS_DISABLE_TRACING": "1"},
            timeout=900,
        )
        if done.returncode:
            raise RuntimeError(done.stderr[-3000:])
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    else:  # pragma: no cover - run directly inside .venv-latest
        figures = measure()
    versions = _versions()
    report.text(
        f"Measured in `.venv-latest` ({versions}). µs per call, best of 5 × {N} calls on one "
        "event loop; the framework's own path is the baseline of its row."
    )
    rows = []
    for what, own, ours in (
        ("OpenAI Agents: sync tool", "oa_sdk_sync", "oa_ts_sync"),
        ("OpenAI Agents: async tool", "oa_sdk_async", "oa_ts_async"),
        ("OpenAI Agents: invalid arguments", "oa_sdk_invalid", "oa_ts_invalid"),
        ("Pydantic AI: sync tool", "pa_own_sync", "pa_ts_sync"),
        ("Pydantic AI: async tool", "pa_own_async", "pa_ts_async"),
    ):
        rows.append(
            [
                what,
                f"{figures[own]:.1f}",
                f"{figures[ours]:.1f}",
                f"{figures[ours] / figures[own]:.2f}",
            ]
        )
    report.table(["path", "framework's own (µs)", "through toolsafe (µs)", "ratio"], rows)
    report.text(
        "The SDK's own sync path runs the body in a fresh worker thread per call and "
        "cannot time it out; toolsafe's runs it on its warm pool with a timeout. "
        "Invalid arguments: the SDK answers with its generic failure text, toolsafe with "
        "the field-level structured error (its cost is the structured error's "
        "construction: issue 17's target row)."
    )
    return report


def _versions() -> str:
    code = (
        "from importlib.metadata import version as v; "
        "print(f\"openai-agents {v('openai-agents')}, pydantic-ai-slim {v('pydantic-ai-slim')}\")"
    )
    python = sys.executable if os.environ.get("TOOLSAFE_BENCH_INNER") == "1" else str(LATEST)
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":  # pragma: no cover
    print(run().lines)
