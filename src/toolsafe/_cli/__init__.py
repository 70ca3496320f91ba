"""CLI commands, one module each; each defines ``register(app)``. Only these modules print.

``UsageError`` lives here (not in ``toolsafe.cli``) so that commands never import the
shell that loads them; exit codes live in ``toolsafe._exit_codes``.
"""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """Bad input from the user: printed without a traceback, exit code 2."""
