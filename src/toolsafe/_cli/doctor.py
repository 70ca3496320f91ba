"""``toolsafe lint | stress | doctor``: find, with evidence, why tools fail at scale.

Thin shell over ``toolsafe.doctor``: parse options, show progress, render, and
return the exit code (``toolsafe._exit_codes``; usage errors raise UsageError).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from toolsafe._terminal import printable_json

__all__ = ["register"]


def _split_target(target: str) -> tuple[str, str | None]:
    """``examples/x.py:my_tool`` -> (``examples/x.py``, ``my_tool``)."""
    if ":" in target and not os.path.exists(target):
        path, _, tool = target.rpartition(":")
        if path and tool:
            return path, tool
    return target, None


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, str, int, int], None] | None]:
    """A rich progress bar on stderr (only on a terminal), fed per stress call."""
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from toolsafe.doctor.report import markup_text

    bars: dict[str, Any] = {}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[phase]}"),
        console=console,
        transient=True,
    ) as progress:

        def update(tool: str, phase: str, done: int, total: int) -> None:
            if tool not in bars:
                # The name comes from the examined code: shown as text, never as markup.
                bars[tool] = progress.add_task(markup_text(tool), total=total, phase=phase)
            progress.update(bars[tool], completed=done, total=total, phase=phase)

        yield update


def _options(
    calls: int,
    concurrency: int,
    distinct: int,
    timeout: float,
    max_seconds: float,
    max_output_chars: int,
    seed: int,
    modes: list[str] | None,
) -> Any:
    from toolsafe._cli import UsageError
    from toolsafe.doctor import StressOptions

    chosen = tuple(modes or ("threads", "asyncio"))
    unknown = sorted(set(chosen) - {"threads", "asyncio"})
    if unknown:
        raise UsageError(f"unknown --mode {', '.join(unknown)} (choose threads or asyncio)")
    for name, value in (
        ("--calls", calls),
        ("--concurrency", concurrency),
        ("--distinct", distinct),
    ):
        if value < 1:
            raise UsageError(f"{name} must be at least 1")
    if timeout <= 0 or max_seconds <= 0:
        raise UsageError("--timeout and --max-seconds must be positive")
    return StressOptions(
        calls=calls,
        concurrency=concurrency,
        distinct=distinct,
        timeout=timeout,
        max_seconds=max_seconds,
        max_output_chars=max_output_chars,
        seed=seed,
        modes=chosen,
    )


def _diagnose(target: str, *, stress: bool, options: Any, calls_file: Path | None) -> Any:
    from toolsafe._cli import UsageError
    from toolsafe.doctor import TargetNotFound, diagnose

    path, only = _split_target(target)
    if calls_file is not None and not calls_file.is_file():
        raise UsageError(f"no such calls file: {calls_file}")
    try:
        with _progress(stress) as progress:
            report = diagnose(
                path,
                options=options,
                stress=stress,
                only=only,
                calls_file=calls_file,
                progress=progress,
            )
    except TargetNotFound as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:  # a bad calls file
        raise UsageError(str(exc)) from None
    if only is not None and not report.tools:
        raise UsageError(f"no tool named '{only}' in {path}{_tools_in(path)}")
    if not report.tools and not report.import_problems:
        raise UsageError(f"no tools found in {path}")
    return report


def _diagnose_mcp(
    command: list[str],
    url: str | None,
    *,
    stress: bool,
    options: Any,
    calls_file: Path | None,
    select: list[str],
    all_tools: bool,
) -> Any:
    """Connect to the MCP server (launch it, or its URL), then ``doctor.mcp.diagnose_mcp``."""
    import shlex

    from toolsafe._cli import UsageError

    try:
        from toolsafe.integrations.mcp_client import Upstream, tools_from_definitions
    except ImportError as exc:
        raise UsageError(
            f"{exc}: the doctor for MCP servers needs pip install 'toolsafe[mcp]'"
        ) from None
    from toolsafe.doctor.mcp import diagnose_mcp
    from toolsafe.errors import ConfigurationError

    if calls_file is not None and not calls_file.is_file():
        raise UsageError(f"no such calls file: {calls_file}")
    label = url if url is not None else shlex.join(command)
    # A server that leaves a ping unanswered this long is blocked (killed, relaunched).
    upstream = (
        Upstream(url=url, hang_after=_HANG_AFTER)
        if url is not None
        else Upstream(command, hang_after=_HANG_AFTER)
    )
    try:
        upstream.start()
    except Exception as exc:
        tail = " | ".join(list(upstream.stderr_tail)[-3:])
        raise UsageError(
            f"cannot {'connect to' if url else 'start'} the MCP server {label}: {exc}"
            + (f" (its stderr: {tail})" if tail else "")
        ) from None
    try:
        tools: dict[str, Any] = {}
        unbuildable: dict[str, str] = {}
        for definition in upstream.definitions:
            name = str(definition.get("name", ""))
            try:
                tools[name] = tools_from_definitions([definition], upstream.call)[0]
            except (ConfigurationError, KeyError) as exc:
                unbuildable[name] = f"not called: no validator can be built from its schema ({exc})"
        with _progress(stress) as progress:
            return diagnose_mcp(
                label,
                upstream.definitions,
                tools,
                options=options,
                stress=stress,
                select=select,
                all_tools=all_tools,
                calls_file=calls_file,
                progress=progress,
                transport="streamable HTTP" if url else "stdio",
                unbuildable=unbuildable,
                settle=_settler(upstream),
            )
    except ValueError as exc:  # UnknownTools, or a bad calls file
        raise UsageError(str(exc)) from None
    finally:
        upstream.close()
    raise AssertionError("unreachable")  # pragma: no cover - mypy: every path returns


#: Seconds a server may leave a ping unanswered after a call hung before the doctor
#: counts it as blocked (its event loop stuck in the call): it is killed and relaunched.
_HANG_AFTER = 2.0


def _settler(upstream: Any) -> Callable[[Any], str | None]:
    """After a tool whose calls hung: give the upstream's hang check time to finish (kill
    and relaunch a blocked server) before the next tool, and say when it had to."""
    import time

    seen = [upstream.launches]

    def settle(result: Any) -> str | None:
        if any(r.hung for phase in result.phases for r in phase.records):
            time.sleep(upstream.hang_after + 0.5)
        relaunched, seen[0] = upstream.launches - seen[0], upstream.launches
        if not relaunched:
            return None
        return (
            "the server stopped answering pings while calls to this tool hung (the call "
            "blocked the whole server, so every other call waited too) and was relaunched"
            + (f" {relaunched} times" if relaunched > 1 else "")
        )

    return settle


def _missing_target() -> None:
    """Click's own "Missing argument" error (usage line included): TARGET is optional only
    because ``--mcp`` takes a command instead."""
    import importlib

    import typer

    # typer vendors click in recent releases: raise from the copy it catches.
    exceptions = importlib.import_module(typer.BadParameter.__module__)
    context = importlib.import_module(exceptions.__name__.replace("exceptions", "globals"))
    ctx = context.get_current_context()
    param = next(p for p in ctx.command.params if p.name == "target")
    raise exceptions.MissingParameter(ctx=ctx, param=param)


def _tools_in(path: str) -> str:
    """``: its tools are a, b`` for an error message (static discovery: nothing is run)."""
    from toolsafe.doctor import discover

    try:
        names = sorted({site.name for site in discover(path, live=False).sites})
    except Exception:  # the message is a courtesy: never fail while writing it
        return ""
    return f"; its tools are: {', '.join(names)}" if names else "; it has no tools"


def _console() -> Any:
    import os

    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped or captured (make demo, CI logs): rich would wrap at 80 columns
        # mid-sentence; a log reader's window is wider than that.
        console = Console(highlight=False, width=120)
    return console


def register(app: Any) -> None:
    import typer

    calls_opt = typer.Option(32, "--calls", metavar="N", help="Calls per concurrent phase.")
    concurrency_opt = typer.Option(
        8, "--concurrency", "-c", metavar="N", help="Calls in flight at once."
    )
    distinct_opt = typer.Option(
        8, "--distinct", metavar="N", help="Distinct argument sets per tool."
    )
    timeout_opt = typer.Option(
        5.0, "--timeout", metavar="SECONDS", help="Seconds before a call counts as hung."
    )
    budget_opt = typer.Option(
        30.0, "--max-seconds", metavar="SECONDS", help="Time budget per tool, in seconds."
    )
    output_opt = typer.Option(
        50_000, "--max-output-chars", metavar="N", help="Output budget: larger results are flagged."
    )
    seed_opt = typer.Option(0, "--seed", metavar="N", help="Seed for generated arguments.")
    mode_opt = typer.Option(
        None,
        "--mode",
        metavar="MODE",
        help="threads or asyncio; give it twice for both (default: both).",
    )
    calls_file_opt = typer.Option(
        None,
        "--calls-file",
        metavar="FILE",
        help="JSONL of recorded calls ({'tool': ..., 'arguments': {...}}).",
    )
    json_opt = typer.Option(False, "--json", help="Print JSON instead of the terminal report.")

    def lint(
        target: str = typer.Argument(
            ..., metavar="TARGET", help="A file, folder or importable module."
        ),
        as_json: bool = json_opt,
    ) -> int:
        """Static checks (nothing is imported or run): what will break at scale, and the fix."""
        from toolsafe._exit_codes import for_findings
        from toolsafe.doctor.report import print_findings, print_unexamined, to_json

        report = _diagnose(target, stress=False, options=None, calls_file=None)
        findings = [f for tool in report.tools for f in tool.findings]
        shown = [f for f in findings if f.severity != "info"]
        code = for_findings(problems=bool(shown), unexamined=not report.complete)
        if as_json:
            print(printable_json(to_json(report)))
        else:
            console = _console()
            print_findings(console, findings)
            print_unexamined(console, report)
            verdict = (
                "[bold red]problems found[/]"
                if shown
                else "[bold yellow]not everything could be examined[/]"
                if not report.complete
                else "[green]clean[/]"
            )
            console.print(
                f"\n{len(report.tools)} tool(s), {len(shown)} finding(s) · {verdict} (exit {code})"
            )
        return code

    def stress(
        target: str = typer.Argument(
            ..., metavar="TARGET", help="A file, folder or module; FILE:TOOL for one tool."
        ),
        calls: int = calls_opt,
        concurrency: int = concurrency_opt,
        distinct: int = distinct_opt,
        timeout: float = timeout_opt,
        max_seconds: float = budget_opt,
        max_output_chars: int = output_opt,
        seed: int = seed_opt,
        mode: list[str] | None = mode_opt,
        calls_file: Path | None = calls_file_opt,
        as_json: bool = json_opt,
    ) -> int:
        """Run each tool serially, then concurrently, and report what changed."""
        import json

        from toolsafe._exit_codes import for_findings
        from toolsafe.doctor.report import print_stress, print_unexamined

        options = _options(
            calls, concurrency, distinct, timeout, max_seconds, max_output_chars, seed, mode
        )
        report = _diagnose(target, stress=True, options=options, calls_file=calls_file)
        stressed = [t.stress for t in report.tools if t.stress is not None]
        problems = any(s.problems for s in stressed)
        unexamined = report.unexamined
        code = for_findings(problems=problems, unexamined=bool(unexamined))
        if as_json:
            data = {
                "tools": [s.to_dict() for s in stressed],
                "problems_found": problems,
                "complete": not unexamined,
                "exit_code": code,
                "unexamined": [u.to_dict() for u in unexamined],
            }
            print(printable_json(json.dumps(data, indent=2, default=str)))
        else:
            from toolsafe.doctor.report import markup_text

            console = _console()
            for tool in report.tools:
                console.print(
                    f"\n[bold]{markup_text(tool.name)}[/] [dim]{markup_text(tool.label)} · {markup_text(tool.location)}[/]",
                    highlight=False,
                )
                if tool.stress is not None:
                    print_stress(console, tool.stress)
                    if tool.stress.unchecked:
                        console.print(f"  [blue]unchecked:[/] {markup_text(tool.stress.unchecked)}")
                else:
                    console.print(
                        f"  [blue]not stressed:[/] {markup_text(tool.not_stressed or '')}"
                    )
            print_unexamined(console, report)
            verdict = (
                "[bold red]problems found[/]"
                if problems
                else "[bold yellow]not everything could be examined[/]"
                if unexamined
                else "[green]no problems found[/]"
            )
            console.print(f"\n{verdict} (exit {code})")
        return code

    def doctor(
        target: list[str] | None = typer.Argument(
            None,
            metavar="TARGET | -- COMMAND [ARGS]",
            help="A file, folder or importable module; with --mcp, the MCP server's "
            "command (after --, options before it).",
        ),
        calls: int = calls_opt,
        concurrency: int = concurrency_opt,
        distinct: int = distinct_opt,
        timeout: float = timeout_opt,
        max_seconds: float = budget_opt,
        max_output_chars: int = output_opt,
        seed: int = seed_opt,
        mode: list[str] | None = mode_opt,
        calls_file: Path | None = calls_file_opt,
        no_stress: bool = typer.Option(False, "--no-stress", help="Static checks only."),
        mcp: bool = typer.Option(
            False, "--mcp", help="Examine an MCP server: launch COMMAND (stdio), lint and stress."
        ),
        mcp_url: str | None = typer.Option(
            None, "--mcp-url", metavar="URL", help="Examine the streamable-HTTP MCP server at URL."
        ),
        select: list[str] | None = typer.Option(
            None,
            "--tool",
            metavar="NAME",
            help="MCP: examine and call only this tool, whatever its annotations.",
        ),
        all_tools: bool = typer.Option(
            False,
            "--all-tools",
            help="MCP: call every tool (default: only those annotated readOnlyHint).",
        ),
        as_json: bool = json_opt,
        html_path: Path | None = typer.Option(
            None,
            "--html",
            metavar="FILE",
            help="Also write an HTML report (with plots) to this file.",
        ),
    ) -> int:
        """Lint, stress and a verdict per tool: what breaks at scale, the evidence, the fix."""
        from toolsafe._cli import UsageError
        from toolsafe.doctor.report import print_report, to_html, to_json

        options = _options(
            calls, concurrency, distinct, timeout, max_seconds, max_output_chars, seed, mode
        )
        args = list(target or [])
        if mcp or mcp_url is not None:
            if mcp and mcp_url is not None:
                raise UsageError("give --mcp -- COMMAND or --mcp-url URL, not both")
            if mcp and not args:
                raise UsageError("--mcp needs the server's command after --")
            if mcp_url is not None and args:
                raise UsageError(f"--mcp-url takes no TARGET (got {' '.join(args)})")
            report = _diagnose_mcp(
                args,
                mcp_url,
                stress=not no_stress,
                options=options,
                calls_file=calls_file,
                select=list(select or []),
                all_tools=all_tools,
            )
        else:
            if select or all_tools:
                raise UsageError("--tool and --all-tools apply to MCP servers (--mcp, --mcp-url)")
            if not args:
                _missing_target()
            if len(args) != 1:
                raise UsageError(
                    "give one TARGET (a file, folder or module)"
                    + (
                        f", got {len(args)}: for an MCP server, use --mcp -- COMMAND"
                        if args
                        else ""
                    )
                )
            report = _diagnose(
                args[0], stress=not no_stress, options=options, calls_file=calls_file
            )
        if html_path is not None:
            html_path.write_text(to_html(report), encoding="utf-8")
        if as_json:
            print(printable_json(to_json(report)))
        else:
            console = _console()
            print_report(console, report)
            if html_path is not None:
                console.print(f"HTML report: {html_path}")
        return int(report.exit_code)

    app.command("lint")(lint)
    app.command("stress")(stress)
    app.command("doctor")(doctor)
