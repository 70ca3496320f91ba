"""TS303 swallowed-exception: a failure turned into a 'success' the agent cannot tell apart."""

from __future__ import annotations

import ast

from toolsafe.doctor.rules.context import LintContext, Scope, ScopeFn
from toolsafe.doctor.sites import ToolSite

__all__ = ["check"]

_BROAD = frozenset({"Exception", "BaseException"})


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
        if broad and not reraises:
            ctx.add(
                "TS303",
                node,
                site,
                f"`except {broad[0]}` in `{fn.name}` swallows every error and returns as if "
                "the call succeeded",
                mod=mod,
            )
