"""``toolsafe serve TARGET``: expose a module's tools as an MCP server (stdio or streamable HTTP)."""

from __future__ import annotations

import sys
from typing import Any

_NO_AUTH_WARNING = (
    "toolsafe: WARNING: serving on {host}, which is not a loopback address, with no "
    "authentication and no DNS-rebinding protection: anyone who can reach {host}:{port} "
    "can call every tool. Put an authenticating proxy in front of it."
)


def register(app: Any) -> None:
    import typer

    @app.command("serve")  # type: ignore[untyped-decorator]
    def serve(
        target: str = typer.Argument(..., help="A file, folder or importable module with tools."),
        http: bool = typer.Option(
            False, "--http", help="Serve over streamable HTTP instead of stdio."
        ),
        host: str = typer.Option(
            "127.0.0.1",
            "--host",
            help="HTTP host to bind (a loopback address unless --allow-remote).",
        ),
        port: int = typer.Option(8000, "--port", help="HTTP port (0: any free port)."),
        name: str = typer.Option("toolsafe", "--name", help="Server name shown to clients."),
        allow_remote: bool = typer.Option(
            False,
            "--allow-remote",
            help="Allow a non-loopback --host. The server has no authentication.",
        ),
        header_timeout: float = typer.Option(
            10.0,
            "--header-timeout",
            metavar="SECONDS",
            help="Seconds a client may take to send a request head.",
        ),
        body_timeout: float = typer.Option(
            30.0,
            "--body-timeout",
            metavar="SECONDS",
            help="Seconds a client may take to send a request body.",
        ),
        idle_timeout: float = typer.Option(
            5.0,
            "--idle-timeout",
            metavar="SECONDS",
            help="Seconds an idle connection is kept between requests.",
        ),
        max_connections: int | None = typer.Option(
            None,
            "--max-connections",
            metavar="N",
            help="Open connections at most (default: half the file-descriptor limit "
            "left after 64 for the tools, at most 1024).",
        ),
    ) -> int:
        """Serve the tools over MCP; every call goes through the toolsafe runtime."""
        from toolsafe._cli import UsageError
        from toolsafe._cli.loading import load_tools
        from toolsafe._exit_codes import EXIT_OK
        from toolsafe._runtime import Runtime

        try:
            import anyio

            from toolsafe.integrations import mcp
        except ImportError as exc:
            raise UsageError(str(exc)) from exc

        limits = None
        if http:
            if not allow_remote and not mcp.is_loopback(host):
                raise UsageError(
                    f"--host {host} is not a loopback address, and the MCP server has no "
                    "authentication: anyone who can reach it can call every tool. "
                    "Pass --allow-remote to bind it anyway."
                )
            try:
                limits = mcp.HTTPLimits(
                    header_timeout=header_timeout,
                    body_timeout=body_timeout,
                    idle_timeout=idle_timeout,
                    max_connections=max_connections,
                )
            except ValueError as exc:
                raise UsageError(str(exc)) from exc

        tools = load_tools(target)
        names = ", ".join(t.name for t in tools)
        with Runtime(tools) as runtime:
            if http:
                if not mcp.is_loopback(host):
                    print(_NO_AUTH_WARNING.format(host=host, port=port), file=sys.stderr)

                def ready(url: str) -> None:
                    print(
                        f"toolsafe: serving {len(tools)} tools ({names}) over MCP at {url}",
                        file=sys.stderr,
                        flush=True,
                    )

                try:
                    anyio.run(
                        lambda: mcp.serve_http(
                            runtime,
                            host=host,
                            port=port,
                            name=name,
                            on_ready=ready,
                            allow_remote=allow_remote,
                            limits=limits,
                        )
                    )
                except OSError as exc:
                    raise UsageError(f"cannot listen on {host}:{port}: {exc}") from exc
            else:
                print(
                    f"toolsafe: serving {len(tools)} tools ({names}) over MCP on stdio",
                    file=sys.stderr,
                    flush=True,
                )
                anyio.run(lambda: mcp.serve_stdio(runtime, name=name))
        return EXIT_OK
