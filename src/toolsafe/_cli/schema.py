"""``toolsafe schema TARGET``: print the tools' schemas as OpenAI, Anthropic or MCP wants them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    from toolsafe._tool import Tool


def register(app: typer.Typer) -> None:
    import typer

    @app.command("schema")
    def schema(
        target: str = typer.Argument(
            ..., metavar="TARGET", help="A file, folder or importable module with tools."
        ),
        fmt: str = typer.Option(
            "openai",
            "--format",
            "-f",
            metavar="FORMAT",
            help="openai, openai-responses, anthropic, mcp or json.",
        ),
    ) -> int:
        """Print every tool's schema in the format a model or protocol expects."""
        from toolsafe._cli import UsageError
        from toolsafe._cli.loading import load_tools
        from toolsafe._exit_codes import EXIT_OK

        tools = load_tools(target)
        exporters: dict[str, Callable[[Tool], Any]] = {
            "openai": lambda t: t.to_openai(),
            "openai-responses": lambda t: t.to_openai_responses(),
            "anthropic": lambda t: t.to_anthropic(),
            "mcp": lambda t: t.to_mcp(),
            "json": lambda t: {"name": t.name, "parameters": t.json_schema},
        }
        if fmt not in exporters:
            raise UsageError(f"unknown format '{fmt}' (choose from {', '.join(exporters)})")
        print(json.dumps([exporters[fmt](t) for t in tools], indent=2, ensure_ascii=False))
        return EXIT_OK
