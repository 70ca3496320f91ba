"""How ``toolsafe ... --help`` reads: plain, conventional help, written here.

Typer's own rendering changes between releases; 0.29 shows every flag as taking a
value (``--json <bool>``), the argument as ``{target}`` and says nothing of repeatable
options. So the commands render their help here, from the click parameters (the
attributes used, ``opts``, ``secondary_opts``, ``is_flag``, ``multiple``, ``metavar``,
``required``, ``default``, ``help``, are click's public ones, kept by typer's
vendored copy), in the shape of a well-kept Unix CLI:

    Usage: toolsafe doctor [OPTIONS] TARGET

      Lint, stress and a verdict per tool: ...

    Arguments:
      TARGET  A file, folder or importable module.

    Options:
      --calls N            Calls per concurrent phase.  [default: 32]
      --mode MODE          threads or asyncio.  [repeatable]
      --json               Print JSON instead of the terminal report.

Flags show no value, options show their metavar (``N``, ``SECONDS``, ``FILE``),
repeatable options say so. ``tests/cli/test_help.py`` pins the rendered text, and
pyproject.toml pins the typer range it was run on.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from importlib import metadata
from typing import Any

import typer
import typer.core

__all__ = ["EPILOG", "HelpCommand", "HelpGroup", "version", "with_version"]

#: The root help's closing lines (exit codes: see ``toolsafe._exit_codes``).
EPILOG = (
    "Exit codes: 0 clean, 1 problems found or something could not be examined, "
    "2 usage error, 3 internal error.",
    "Run 'toolsafe COMMAND --help' for a command's options.",
)


def version() -> str:
    """The installed toolsafe version, from package metadata."""
    try:
        return metadata.version("toolsafe")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _show_version(value: bool) -> None:
    if value:
        print(f"toolsafe {version()}")
        raise typer.Exit()


def with_version(callback: Callable[..., Any]) -> Callable[..., Any]:
    """``callback`` with an eager ``--version`` option: every command answers it.

    Typer builds options from the callback's signature, so the option is added to the
    signature (a typer-level API, stable across typer releases) rather than built as a
    click object (whose constructor differs between click and typer's vendored copy).
    """
    signature = inspect.signature(callback)
    if "show_version" in signature.parameters:
        return callback

    @functools.wraps(callback)
    def command(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("show_version", None)  # typer passes it although it is not exposed
        return callback(*args, **kwargs)

    option = inspect.Parameter(
        "show_version",
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(
            False,
            "--version",
            callback=_show_version,
            is_eager=True,
            expose_value=False,
            help="Show the toolsafe version and exit.",
        ),
        annotation=bool,
    )
    params = list(signature.parameters.values())
    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*params, option]
    )
    # Older typer reads types with typing.get_type_hints (the annotations, not the signature).
    command.__annotations__ = {**getattr(callback, "__annotations__", {}), "show_version": bool}
    return command


def _metavar(param: Any) -> str:
    """The option's metavar, or its long name in capitals (``--host`` -> ``HOST``)."""
    if param.metavar:
        return str(param.metavar)
    longest = str(max(param.opts, key=len))
    return longest.lstrip("-").replace("-", "_").upper()


def _default_text(param: Any) -> str | None:
    if param.is_flag or param.required:
        return None
    default = param.default
    if default is None or default == () or default == [] or callable(default):
        return None
    if isinstance(default, (list, tuple)):
        return ", ".join(map(str, default))
    return str(default)


def _option_row(param: Any) -> tuple[str, str]:
    names = sorted(param.opts, key=lambda o: (o.startswith("--"), o))
    first = ", ".join(names)
    if param.secondary_opts:
        first += " / " + ", ".join(param.secondary_opts)
    if not param.is_flag:
        first += f" {_metavar(param)}"
    extra = []
    if param.multiple:
        extra.append("repeatable")
    default = _default_text(param)
    if default is not None and getattr(param, "show_default", True) is not False:
        extra.append(f"default: {default}")
    if param.required:
        extra.append("required")
    text = param.help or ""
    if extra:
        text = f"{text}  [{'; '.join(extra)}]" if text else f"[{'; '.join(extra)}]"
    return first, text


def _argument_name(param: Any) -> str:
    return str(param.metavar or param.name.upper())


def _usage_pieces(command: Any, ctx: Any) -> list[str]:
    pieces = ["[OPTIONS]"]
    for param in command.get_params(ctx):
        if getattr(param, "param_type_name", "") != "argument":
            continue
        name = _argument_name(param)
        if param.nargs != 1:
            name += "..."
        # A metavar that spells out alternatives (``TARGET | -- COMMAND [ARGS]``) is shown as is.
        pieces.append(name if param.required or " | " in name else f"[{name}]")
    return pieces


def _write_intro(command: Any, ctx: Any, formatter: Any) -> None:
    """The usage line and the description, as click's plain formatter lays them out."""
    command.format_usage(ctx, formatter)
    if command.help:
        formatter.write_paragraph()
        with formatter.indentation():
            for n, paragraph in enumerate(inspect.cleandoc(command.help).split("\n\n")):
                if n:
                    formatter.write_paragraph()
                formatter.write_text(" ".join(paragraph.split()))


def _write_params(command: Any, ctx: Any, formatter: Any) -> None:
    params = [p for p in command.get_params(ctx) if not getattr(p, "hidden", False)]
    arguments = [
        (_argument_name(p), p.help or "")
        for p in params
        if getattr(p, "param_type_name", "") == "argument"
    ]
    options = [_option_row(p) for p in params if getattr(p, "param_type_name", "") == "option"]
    if arguments:
        with formatter.section("Arguments"):
            formatter.write_dl(arguments)
    if options:
        with formatter.section("Options"):
            formatter.write_dl(options)


class HelpCommand(typer.core.TyperCommand):
    """A typer command whose help and usage line are rendered by ``toolsafe._cli.help``."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage_pieces(self, ctx)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _write_intro(self, ctx, formatter)
        _write_params(self, ctx, formatter)


class HelpGroup(typer.core.TyperGroup):
    """The root ``toolsafe`` command: usage, description, commands, options, exit codes."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # registration order (click sorts by name)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return ["[OPTIONS]", "COMMAND", "[ARGS]..."]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _write_intro(self, ctx, formatter)
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            rows.append((name, command.get_short_help_str(limit=300)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
        _write_params(self, ctx, formatter)
        for line in EPILOG:
            formatter.write_paragraph()
            formatter.write_text(line)
