"""``toolsafe replay FILE TARGET`` and ``toolsafe trace FILE``: reproduce and summarise recordings.

Recordings come from ``toolsafe.JsonlRecorder``. Replay exits 1 when any call's
outcome changed (a fix shows up as a change too: that is the point of replaying).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def register(app: Any) -> None:
    import typer

    @app.command("replay")  # type: ignore[untyped-decorator]
    def replay_command(
        file: Path = typer.Argument(
            ..., metavar="RECORDING", help="A JSONL recording (toolsafe.JsonlRecorder)."
        ),
        target: str = typer.Argument(
            ..., metavar="TARGET", help="A file, folder or module with the current tools."
        ),
        call_id: list[str] = typer.Option(
            [], "--call-id", metavar="ID", help="Replay only this call."
        ),
        failures: bool = typer.Option(False, "--failures", help="Replay only recorded failures."),
        concurrency: str = typer.Option(
            "1",
            "--concurrency",
            "-c",
            metavar="N|recorded",
            help="Calls in flight at once: a number, or 'recorded' for the recording's peak.",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
    ) -> int:
        """Re-run recorded calls against the current code and show what changed."""
        from toolsafe._cli import UsageError
        from toolsafe._cli.loading import load_tools
        from toolsafe._exit_codes import EXIT_OK, EXIT_PROBLEMS
        from toolsafe._runtime import Runtime
        from toolsafe.observe import replay as rp

        recording = _read(file)
        calls = rp.select_calls(recording.calls, call_ids=call_id, failures=failures)
        missing = sorted(set(call_id) - {c.call_id for c in calls})
        if missing and not failures:
            raise UsageError(f"no call with id {', '.join(missing)} in {file}")
        if concurrency == "recorded":
            workers = rp.recorded_concurrency(calls)
        else:
            try:
                workers = int(concurrency)
            except ValueError:
                raise UsageError("--concurrency takes a number or 'recorded'") from None
            if workers < 1:
                raise UsageError("--concurrency must be at least 1")
        if not calls:
            print("nothing to replay")
            return EXIT_OK
        tools = load_tools(target)
        with Runtime(tools) as runtime:
            results = rp.replay(runtime, calls, concurrency=workers)
        counts = {s: 0 for s in (rp.SAME, rp.DIFFERENT_RESULT, rp.DIFFERENT_ERROR)}
        for result in results:
            counts[result.status] += 1
        if as_json:
            print(_dumps([r.to_dict() for r in results]))
        else:
            _print_table(
                f"replay of {file} ({len(results)} calls, concurrency {workers})",
                ["call id", "tool", "status", "detail"],
                [
                    [r.recorded.call_id, r.recorded.tool, r.status, r.detail]
                    for r in results
                    if r.changed
                ]
                or [["", "", "all same", ""]],
            )
        summary = ", ".join(f"{n} {status}" for status, n in counts.items())
        print(f"{len(results)} calls replayed: {summary}")
        return EXIT_PROBLEMS if counts[rp.SAME] != len(results) else EXIT_OK

    @app.command("trace")  # type: ignore[untyped-decorator]
    def trace_command(
        file: Path = typer.Argument(
            ..., metavar="RECORDING", help="A JSONL recording (toolsafe.JsonlRecorder)."
        ),
        top: int = typer.Option(
            10, "--top", metavar="N", help="How many of the slowest calls to list."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> int:
        """Summarise a recording: calls per tool, error types, latency, slowest calls."""
        from toolsafe._exit_codes import EXIT_OK
        from toolsafe.observe import replay as rp

        summary = rp.summarize(_read(file), top=top)
        if as_json:
            print(_dumps(summary))
            return EXIT_OK
        if not summary["calls"]:
            print(f"no calls recorded in {file}")
            return EXIT_OK
        _print_table(
            "calls per tool",
            ["tool", "calls", "errors", "error %", "retryable", "p50 ms", "p90 ms", "p99 ms"],
            [
                [
                    name,
                    t["calls"],
                    t["errors"],
                    f"{100 * t['error_rate']:.1f}",
                    t["retryable_errors"],
                    t["p50_ms"],
                    t["p90_ms"],
                    t["p99_ms"],
                ]
                for name, t in summary["tools"].items()
            ],
        )
        if summary["error_types"]:
            _print_table(
                "error types",
                ["tool", "type", "retryable", "count"],
                [
                    [e["tool"], e["type"], "yes" if e["retryable"] else "no", e["count"]]
                    for e in summary["error_types"]
                ],
            )
        _print_table(
            f"slowest {len(summary['slowest'])} calls",
            ["call id", "tool", "ms", "outcome"],
            [[s["call_id"], s["tool"], s["elapsed_ms"], s["outcome"]] for s in summary["slowest"]],
        )
        latency = summary["latency_ms"]
        print(
            f"{summary['calls']} calls, {summary['errors']} errors "
            f"({100 * summary['retryable_share']:.1f}% of errors retryable), "
            f"{summary['processes']} process(es); latency p50 {latency['p50']} ms, "
            f"p90 {latency['p90']} ms, p99 {latency['p99']} ms, max {latency['max']} ms"
        )
        return EXIT_OK


def _read(file: Path) -> Any:
    from toolsafe._cli import UsageError
    from toolsafe.observe.replay import read_recording

    if not file.is_file():
        raise UsageError(f"no such recording: {file}")
    recording = read_recording(file)
    if recording.invalid_lines and not recording.calls and not recording.attempts:
        raise UsageError(f"{file} is not a toolsafe JSONL recording (no line could be read)")
    if recording.invalid_lines:
        shown = ", ".join(map(str, recording.invalid_lines[:10]))
        print(
            f"warning: {len(recording.invalid_lines)} unreadable line(s) skipped (lines {shown})",
            file=sys.stderr,
        )
    return recording


def _dumps(data: Any) -> str:
    """JSON for the terminal: what came from the recording cannot drive the terminal."""
    from toolsafe._terminal import printable_json

    return printable_json(json.dumps(data, indent=2, ensure_ascii=False))


def _print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A rich table when rich is installed, else aligned plain text.

    Every cell comes from the recording (or from what the tools return now), so it is
    shown through ``printable`` (control characters as escapes) and as ``rich.text.Text``,
    which rich never parses as markup: a tool named ``[/bold]`` is shown, not obeyed.
    """
    from toolsafe._terminal import printable

    cells = [[printable(str(c)) for c in row] for row in rows]
    title = printable(title)
    try:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text
    except ImportError:
        lines = [columns, *cells]
        widths = [max(len(r[i]) for r in lines) for i in range(len(columns))]
        print(title)
        for row in lines:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        return
    table = Table(title=Text(title), title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*(Text(c) for c in row))
    Console(width=max(120, Console().width)).print(table)
