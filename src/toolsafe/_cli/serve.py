"""``toolsafe serve TARGET``: expose a module's tools as an MCP server (stdio or streamable HTTP)."""

from __future__ import annotations

import sys
from typing import Any


def register(app: Any) -> None:
    import typer

    @app.command("serve")  # type: ignore[untyped-decorator]
    def serve(
        target: str = typer.Argument(..., help="A file, folder or importable module with tools."),
        http: bool = typer.Option(
            False, "--http", help="Serve over streamable HTTP instead of stdio."
        ),
        host: str = typer.Option("127.0.0.1", "--host", help="HTTP host to bind."),
        port: int = typer.Option(8000, "--port", help="HTTP port (0: any free port)."),
        name: str = typer.Option("toolsafe", "--name", help="Server name shown to clients."),
    ) -> int:
        """Serve the tools over MCP; every call goes through the toolsafe runtime."""
        from toolsafe._cli import UsageError
        from toolsafe._cli.loading import load_tools
        from toolsafe._runtime import Runtime

        try:
            import anyio

            from toolsafe.integrations import mcp
        except ImportError as exc:
            raise UsageError(str(exc)) from exc

        tools = load_tools(target)
        names = ", ".join(t.name for t in tools)
        with Runtime(tools) as runtime:
            if http:

                def ready(url: str) -> None:
                    print(
                        f"toolsafe: serving {len(tools)} tools ({names}) over MCP at {url}",
                        file=sys.stderr,
                        flush=True,
                    )

                try:
                    anyio.run(
                        lambda: mcp.serve_http(
                            runtime, host=host, port=port, name=name, on_ready=ready
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
        return 0
