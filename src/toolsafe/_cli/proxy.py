"""``toolsafe proxy -- COMMAND [ARGS...]`` (or ``--url URL``): harden any MCP server
without touching it.

The upstream is launched and owned by ``integrations.mcp_client.Upstream`` (killed and
relaunched when it crashes or hangs), or connected to over streamable HTTP (and
reconnected); its tools, built by ``from_mcp``, go into a
Runtime with the policies the flags give, and that runtime is served with the same
server code as ``toolsafe serve`` (``integrations.mcp``). Owner: ``proxy``.
"""

from __future__ import annotations

import sys
from typing import Any

#: Keys a ``--config`` file may set, for every tool (top level or ``[defaults]``)
#: or for one (``[tools.NAME]``): the flags' policies plus ``idempotent``.
CONFIG_KEYS = frozenset(
    {"timeout", "deadline", "max_output_chars", "concurrency", "rate", "retry", "idempotent"}
)
#: Keys only the top level may set: they concern the upstream, not one tool.
UPSTREAM_KEYS = frozenset({"breaker", "breaker_cooldown"})
#: The breaker's defaults: consecutive transient failures, and seconds open.
BREAKER_FAILURES = 5
BREAKER_COOLDOWN = 10.0


def load_config(path: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``(defaults, {tool: options})`` from a proxy TOML file; every mistake in one error."""
    import importlib

    from toolsafe._cli import UsageError

    try:  # imported by name: mypy checks src/ as Python 3.10, which has no tomllib
        tomllib: Any = importlib.import_module("tomllib")
    except ImportError as exc:  # Python 3.10
        raise UsageError("--config needs Python 3.11 or later (tomllib)") from exc
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"--config {path}: {exc}") from exc
    tools = data.pop("tools", {})
    defaults = {**data.pop("defaults", {}), **data}
    problems = [
        f"unknown key {key!r}" for key in sorted(set(defaults) - CONFIG_KEYS - UPSTREAM_KEYS)
    ]
    if not isinstance(tools, dict) or not all(isinstance(v, dict) for v in tools.values()):
        problems.append("[tools.NAME] sections must be tables")
        tools = {}
    for name, options in tools.items():
        problems += [
            f"[tools.{name}]: {k!r} is per upstream: set it at the top"
            if k in UPSTREAM_KEYS
            else f"[tools.{name}]: unknown key {k!r}"
            for k in sorted(set(options) - CONFIG_KEYS)
        ]
    if problems:
        raise UsageError(
            f"--config {path}: "
            + "; ".join(problems)
            + f" (known: {', '.join(sorted(CONFIG_KEYS | UPSTREAM_KEYS))})"
        )
    return defaults, tools


def breaker_of(
    failures: Any, cooldown: Any, key: str, where: str = "--breaker"
) -> tuple[dict[str, Any], list[str]]:
    """The ``breaker=`` tool option of one upstream's circuit (``failures`` 0: none)."""
    from toolsafe.stores._base import Breaker

    if not isinstance(failures, int) or isinstance(failures, bool) or failures < 0:
        return {}, [f"{where}: expected a whole number of failures >= 0, got {failures!r}"]
    if not isinstance(cooldown, (int, float)) or isinstance(cooldown, bool) or cooldown < 0:
        return {}, [f"{where}-cooldown: expected seconds >= 0, got {cooldown!r}"]
    if failures == 0:
        return {}, []
    return {"breaker": Breaker(failures=failures, cooldown=float(cooldown), key=key)}, []


def register(app: Any) -> None:
    import typer

    @app.command(  # type: ignore[untyped-decorator]
        "proxy",
        context_settings={"allow_interspersed_args": False},
    )
    def proxy(
        command: list[str] | None = typer.Argument(
            None,
            metavar="-- COMMAND [ARGS]",
            help="The upstream MCP server to launch (stdio), after --.",
        ),
        url: str | None = typer.Option(
            None,
            "--url",
            metavar="URL",
            help="Connect to a streamable-HTTP MCP server instead of launching one.",
        ),
        timeout: float | None = typer.Option(
            None, "--timeout", metavar="SECONDS", help="Per-attempt timeout of every call."
        ),
        deadline: float | None = typer.Option(
            None, "--deadline", metavar="SECONDS", help="Total time of a call, retries included."
        ),
        max_output_chars: int | None = typer.Option(
            None,
            "--max-output-chars",
            metavar="N",
            help="Trim results to N characters (JSON stays valid).",
        ),
        concurrency: int | None = typer.Option(
            None, "--concurrency", metavar="N", help="Calls of one tool in flight at once."
        ),
        rate: str | None = typer.Option(
            None, "--rate", metavar="RATE", help="Calls per tool, e.g. 20/s or 100/min."
        ),
        retry: int | None = typer.Option(
            None,
            "--retry",
            metavar="N",
            help="Attempts for retryable errors; a call that started is repeated only on "
            "tools annotated readOnlyHint or idempotentHint.",
        ),
        record: str | None = typer.Option(
            None, "--record", metavar="FILE", help="Append one JSON line per call (redacted)."
        ),
        config: str | None = typer.Option(
            None,
            "--config",
            metavar="FILE",
            help="TOML: defaults at the top, [tools.NAME] per tool (flags override defaults).",
        ),
        breaker: int | None = typer.Option(
            None,
            "--breaker",
            metavar="N",
            help=f"After N transient failures in a row (default {BREAKER_FAILURES}; 0: off), "
            "every call fails fast with CircuitOpen until a probe succeeds.",
        ),
        breaker_cooldown: float | None = typer.Option(
            None,
            "--breaker-cooldown",
            metavar="SECONDS",
            help=f"How long the circuit stays open before a probe (default {BREAKER_COOLDOWN:g}).",
        ),
        hang_after: float = typer.Option(
            5.0,
            "--hang-after",
            metavar="SECONDS",
            help="After a call times out, a ping unanswered this long means the upstream "
            "hung: it is killed and relaunched.",
        ),
        name: str = typer.Option("toolsafe-proxy", "--name", help="Server name shown to clients."),
        http: bool = typer.Option(
            False, "--http", help="Serve over streamable HTTP (127.0.0.1) instead of stdio."
        ),
        port: int = typer.Option(8000, "--port", help="HTTP port (0: any free port)."),
    ) -> int:
        """Serve an MCP server's tools with every call through the toolsafe runtime."""
        from toolsafe._cli import UsageError
        from toolsafe._exit_codes import EXIT_OK
        from toolsafe._runtime import Runtime
        from toolsafe.errors import ConfigurationError

        try:
            import anyio

            from toolsafe.integrations import mcp
            from toolsafe.integrations._mcp_relay import Relay
            from toolsafe.integrations.mcp_client import Upstream
        except ImportError as exc:
            raise UsageError(str(exc)) from exc

        if (url is None) == (not command):
            raise UsageError("give the upstream as -- COMMAND [ARGS...] or as --url URL (one)")
        defaults, per_tool = load_config(config) if config is not None else ({}, {})
        failures = breaker if breaker is not None else defaults.pop("breaker", BREAKER_FAILURES)
        cooldown = defaults.pop("breaker_cooldown", BREAKER_COOLDOWN)
        if breaker_cooldown is not None:
            cooldown = breaker_cooldown
        defaults.pop("breaker", None)
        label = url if url is not None else " ".join(command or ())
        circuit, problems = breaker_of(failures, cooldown, f"mcp:{label[:200]}")
        if problems:
            raise UsageError("; ".join(problems))
        policy: dict[str, Any] = (
            circuit
            | defaults
            | {
                key: value
                for key, value in {
                    "timeout": timeout,
                    "deadline": deadline,
                    "max_output_chars": max_output_chars,
                    "concurrency": concurrency,
                    "rate": rate,
                    "retry": retry,
                }.items()
                if value is not None
            }
        )
        listeners: list[Any] = []
        if record is not None:
            from toolsafe.observe.recorder import JsonlRecorder

            listeners.append(JsonlRecorder(record))
        if url is not None:
            upstream = Upstream(url=url, hang_after=hang_after, connect_timeout=30.0)
        else:
            upstream = Upstream(command, errlog=sys.stderr, hang_after=hang_after)
        try:
            upstream.start()
        except Exception as exc:
            what = f"at {url}" if url is not None else repr(command)
            raise UsageError(f"cannot start the upstream MCP server {what}: {exc}") from exc
        try:
            try:
                tools = upstream.tools(tool_options=per_tool, **policy)
            except ConfigurationError as exc:
                raise UsageError(str(exc)) from exc
            names = ", ".join(t.name for t in tools)

            def rebuild(definitions: Any) -> list[Any]:  # the upstream's tools changed
                listed = {str(d.get("name")) for d in definitions}
                known = {k: v for k, v in per_tool.items() if k in listed}
                return upstream.tools(tool_options=known, **policy)

            with Runtime(tools, listeners=listeners) as runtime:
                relay = Relay(upstream, runtime, rebuild)
                if http:

                    def ready(url: str) -> None:
                        print(
                            f"toolsafe: proxying {len(tools)} tools ({names}) over MCP at {url}",
                            file=sys.stderr,
                            flush=True,
                        )

                    anyio.run(
                        lambda: mcp.serve_http(
                            runtime, port=port, name=name, on_ready=ready, relay=relay
                        )
                    )
                else:
                    print(
                        f"toolsafe: proxying {len(tools)} tools ({names}) over MCP on stdio",
                        file=sys.stderr,
                        flush=True,
                    )
                    anyio.run(lambda: mcp.serve_stdio(runtime, name=name, relay=relay))
        finally:
            upstream.close()
        return EXIT_OK
