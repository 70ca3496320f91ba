"""TS303 swallowed-exception: a failure turned into a 'success' the agent cannot tell apart."""

from __future__ import annotations

import ast
import re

from toolsafe.doctor.rules.context import LintContext, Scope, ScopeFn
from toolsafe.doctor.sites import ToolSite

__all__ = ["check"]

_BROAD = frozenset({"Exception", "BaseException"})
#: Exceptions of failures that are often transient (network, database, I/O, a service):
#: returned as text they look like a result and are never retried. Errors about the
#: input (ValueError, KeyError) returned as text are a tool's way of telling the model.
_TRANSIENT = re.compile(
    r"Request|HTTP|Connection|Timeout|Client|SQL|Database|Operational|OSError|IOError|"
    r"API|Service|Github|Gitlab|exceptions\b",
)


def check(ctx: LintContext, site: ToolSite, scope: Scope) -> None:
    for item in scope.items:
        _swallowed(ctx, site, item)


def _swallowed(ctx: LintContext, site: ToolSite, item: ScopeFn) -> None:
    fn, mod = item.fn, item.mod
    for node in ast.walk(fn):
        if not isinstance(node, ast.ExceptHandler):
            continue
        reraises = any(isinstance(n, ast.Raise) for n in ast.walk(node))
        if node.type is None:
            message = "bare `except:` catches everything, KeyboardInterrupt and cancellation too"
            if not reraises:
                message += ", and swallows it"
            ctx.add("TS303", node, site, message, mod=mod)
            continue
        caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
        broad = [ast.unparse(c) for c in caught if (mod.resolve(c) or "").split(".")[-1] in _BROAD]
        transient = [ast.unparse(c) for c in caught if _TRANSIENT.search(ast.unparse(c))]
        if transient and not broad and not reraises and _returns_error_text(node):
            ctx.add(
                "TS303",
                node,
                site,
                f"`except {transient[0]}` in `{fn.name}` returns a transient failure as text: "
                "the agent reads it as a successful result and it is never retried",
                "warning",
                mod=mod,
            )
        if broad and not reraises:
            ctx.add(
                "TS303",
                node,
                site,
                f"`except {broad[0]}` in `{fn.name}` swallows every error and returns as if "
                "the call succeeded",
                mod=mod,
            )


def _returns_error_text(handler: ast.ExceptHandler) -> bool:
    """The handler returns a string made from the exception (``f"Error: {e}"``, ``str(e)``)."""
    for node in ast.walk(handler):
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            if value.value.lower().startswith(("error", "failed")):
                return True
            continue
        if handler.name and isinstance(value, (ast.JoinedStr, ast.Call, ast.BinOp)):
            names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
            if handler.name in names:
                return True
    return False
