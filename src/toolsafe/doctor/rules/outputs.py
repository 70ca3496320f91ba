"""TS501 unbounded-output: a whole file or folder listing handed back to the model.

A tool's result goes into the model's context. A read or a listing with no limit
works on the developer's small test folder and fails (or costs a fortune) on a real
one. The rule looks for whole-file reads whose text is returned, and directory
listings, in functions that take no limit (no slice with an end, no name like
``limit``/``max_``/``truncate`` in the function).
"""

from __future__ import annotations

import ast
import re

from toolsafe.doctor.rules.context import LintContext, Scope, ScopeFn
from toolsafe.doctor.sites import ToolSite

__all__ = ["check"]

_LISTINGS = frozenset(
    {"os.listdir", "os.walk", "os.scandir", "glob.glob", "glob.iglob", "rglob", "iterdir"}
)
_READS = frozenset({"read", "read_text", "read_bytes", "readlines"})
_LIMIT_WORDS = re.compile(r"limit|max_|_max|truncat|head|top_k|chunk|page_size", re.IGNORECASE)


def check(ctx: LintContext, site: ToolSite, scope: Scope) -> None:
    for item in scope.items:
        _unbounded(ctx, site, item)


def _bounded(fn: ast.AST) -> bool:
    """The function limits what it returns somewhere (a slice with an end, a limit name)."""
    for node in ast.walk(fn):
        if isinstance(node, ast.Slice) and node.upper is not None:
            upper = node.upper
            negative = isinstance(upper, ast.UnaryOp) and isinstance(upper.op, ast.USub)
            if not negative:
                return True
        if isinstance(node, (ast.Name, ast.Attribute, ast.arg)):
            text = node.arg if isinstance(node, ast.arg) else ast.unparse(node)
            if _LIMIT_WORDS.search(text):
                return True
    return False


def _returned_names(fn: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Return) and node.value is not None:
            out |= {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
    return out


def _unbounded(ctx: LintContext, site: ToolSite, item: ScopeFn) -> None:
    fn, mod = item.fn, item.mod
    calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call)]
    if not calls or _bounded(fn):
        return
    returned = _returned_names(fn)
    assigned: dict[int, set[str]] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            assigned[id(node.value)] = {t.id for t in node.targets if isinstance(t, ast.Name)}
    direct = {
        id(n.value) for n in ast.walk(fn) if isinstance(n, ast.Return) and n.value is not None
    }
    for call in calls:
        dotted = mod.resolve(call.func) or ""
        attr = call.func.attr if isinstance(call.func, ast.Attribute) else ""
        if dotted in _LISTINGS or attr in {"rglob", "iterdir"}:
            ctx.add(
                "TS501",
                call,
                site,
                f"`{ast.unparse(call.func)}(...)` in `{fn.name}` lists a whole directory tree "
                "into the result with no limit",
                mod=mod,
            )
            return
        whole = attr in _READS and not call.args and not call.keywords
        if whole and (id(call) in direct or assigned.get(id(call), set()) & returned):
            ctx.add(
                "TS501",
                call,
                site,
                f"`{ast.unparse(call)}` in `{fn.name}` returns a whole file with no size limit",
                mod=mod,
            )
            return
