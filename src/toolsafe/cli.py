"""The ``toolsafe`` command: a thin shell over the public API, and the only place that prints.

``main(argv) -> int`` is pure (no ``sys.exit``) so it can be tested directly;
``run()`` is the console entry point. Each command lives in ``toolsafe._cli.<name>``
and registers itself on the Typer app (add a module to ``COMMAND_MODULES``); commands
raise ``toolsafe._cli.UsageError`` for bad input and never import this module. Every
command's help is rendered by ``toolsafe._cli.help`` and gets ``-h`` and ``--version``;
``tests/cli/test_help.py`` pins the text. Text taken from files or tools goes through
``toolsafe._terminal`` before it is printed. Exit codes are decided in one place,
``toolsafe._exit_codes`` (re-exported here):

    0    clean / success
    1    problems found, or something could not be examined (doctor, lint, stress),
         or replayed calls changed
    2    usage error (bad path, bad option, unknown module or tool)
    3    internal error (a bug in toolsafe: please report it)
    130  interrupted
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

from toolsafe._cli import UsageError
from toolsafe._exit_codes import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
)
from toolsafe._terminal import printable

__all__ = [
    "COMMAND_MODULES",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_USAGE",
    "UsageError",
    "main",
    "run",
]

#: Modules under ``toolsafe._cli`` that each define ``register(app)``.
COMMAND_MODULES: tuple[str, ...] = ("schema", "doctor", "replay", "serve", "proxy")


def _missing_cli(exc: ImportError) -> int:
    print(
        "The toolsafe command needs its CLI extra: pip install 'toolsafe[cli]'"
        f" (missing: {exc.name})",
        file=sys.stderr,
    )
    return EXIT_USAGE


def build_app() -> Any:
    import typer
    import typer.core

    from toolsafe._cli.help import HelpCommand, HelpGroup, with_version

    app = typer.Typer(
        name="toolsafe",
        help="Find and fix why LLM-agent tools fail at scale.",
        cls=HelpGroup,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    @with_version
    def _root() -> None:
        """toolsafe: validate, isolate, limit, time out, retry, trim and record tool calls."""

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"toolsafe._cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"toolsafe._cli.{name}":
                continue  # command not built yet
            raise
        module.register(app)
    for info in app.registered_commands:
        # Every command renders its help the same way (toolsafe._cli.help).
        if info.cls is None or info.cls is typer.core.TyperCommand:
            info.cls = HelpCommand
        if info.callback is not None:
            info.callback = with_version(info.callback)
        info.context_settings = {
            "help_option_names": ["-h", "--help"],
            **(info.context_settings or {}),
        }
    return app


def _click_exception_types() -> tuple[tuple[type[BaseException], ...], ...]:
    """Exit, Abort and ClickException classes from click and from typer's own copy of it.

    Recent typer releases vendor click, so its exceptions are not click's.
    """
    found: dict[str, list[type[BaseException]]] = {"Exit": [], "Abort": [], "ClickException": []}
    for name in ("click.exceptions", "typer._click.exceptions", "typer.exceptions"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for kind, bucket in found.items():
            cls = getattr(module, kind, None)
            if isinstance(cls, type) and issubclass(cls, BaseException) and cls not in bucket:
                bucket.append(cls)
    return tuple(found["Exit"]), tuple(found["Abort"]), tuple(found["ClickException"])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    try:
        import typer  # noqa: F401
    except ImportError as exc:
        return _missing_cli(exc)
    app = build_app()
    args = list(sys.argv[1:] if argv is None else argv)
    exits, aborts, click_errors = _click_exception_types()
    try:
        result = app(args=args, standalone_mode=False, prog_name="toolsafe")
    except exits as exc:
        return int(getattr(exc, "exit_code", EXIT_OK))
    except aborts:
        print("Aborted.", file=sys.stderr)
        return EXIT_USAGE
    except click_errors as exc:
        exc.show()  # type: ignore[attr-defined]
        return EXIT_USAGE
    except UsageError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        from toolsafe.errors import ConfigurationError

        if isinstance(exc, (ConfigurationError, FileNotFoundError)):
            print(f"error: {printable(str(exc))}", file=sys.stderr)
            return EXIT_USAGE
        import traceback

        traceback.print_exc()
        print("toolsafe: internal error (please report it)", file=sys.stderr)
        return EXIT_INTERNAL
    return int(result) if isinstance(result, int) else EXIT_OK


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
