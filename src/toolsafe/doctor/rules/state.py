"""TS101 state-on-instance and TS102 global-mutation: a call writes what other calls read.

Frameworks share one tool instance (and one process) between every concurrent call,
so a write on ``self`` or on a module-level container outside a ``with <lock>:``
block is visible to calls running at the same time.
"""

from __future__ import annotations

import ast

from toolsafe.doctor.rules._ast import local_names, root_name, self_attr, walk_locked
from toolsafe.doctor.rules.context import LintContext, Scope, ScopeFn
from toolsafe.doctor.sites import ToolSite
from toolsafe.doctor.sources import ModuleSource

__all__ = ["MUTATORS", "check"]

#: Methods that change the container they are called on.
MUTATORS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "add",
        "update",
        "setdefault",
        "pop",
        "popitem",
        "remove",
        "discard",
        "clear",
        "appendleft",
        "extendleft",
        "sort",
        "reverse",
        "write",
        "writelines",
    }
)
_MUTABLE_FACTORIES = frozenset(
    {
        "list",
        "dict",
        "set",
        "bytearray",
        "collections.defaultdict",
        "collections.deque",
        "collections.Counter",
        "collections.OrderedDict",
    }
)


def check(ctx: LintContext, site: ToolSite, scope: Scope) -> None:
    for item in scope.items:
        if item.owner is not None:
            _instance_state(ctx, site, item)
        _global_mutation(ctx, site, item, mutable_globals(item.mod))


def mutable_globals(mod: ModuleSource) -> set[str]:
    """Module-level names bound to a list, dict, set (or a collections container)."""
    return {name for name, value in mod.assigns.items() if _is_mutable_literal(mod, value)}


def _is_mutable_literal(mod: ModuleSource, value: ast.expr) -> bool:
    if isinstance(value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)):
        return True
    if isinstance(value, ast.Call):
        return (mod.resolve(value.func) or "") in _MUTABLE_FACTORIES
    return False


def _instance_state(ctx: LintContext, site: ToolSite, item: ScopeFn) -> None:
    fn = item.fn
    reported: set[str] = set()
    for node, locked in walk_locked(fn):
        if locked:
            continue
        attr: str | None = None
        what = ""
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                attr = self_attr(target)
                if attr:
                    what = ast.unparse(target)
                    break
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATORS
            and node.func.attr not in {"write", "writelines"}
        ):
            attr = self_attr(node.func.value)
            what = f"{ast.unparse(node.func.value)}.{node.func.attr}(...)"
        if not attr or attr in reported:
            continue
        reported.add(attr)
        if item.via == "self":
            message = f"`{what}` in `{fn.name}` writes state on the shared tool instance"
        else:
            message = (
                f"`{what}` in `{fn.name}` writes state on `{item.via}`, an object the tool "
                "holds and every call shares"
            )
        severity = None
        if site.isolated:
            message += " (toolsafe copies the instance per call, so it does not leak)"
            severity = "info"
        ctx.add("TS101", node, site, message, severity, mod=item.mod)


def _global_mutation(ctx: LintContext, site: ToolSite, item: ScopeFn, mutable: set[str]) -> None:
    fn = item.fn
    local = local_names(fn)
    declared = {n for node in ast.walk(fn) if isinstance(node, ast.Global) for n in node.names}
    reported: set[str] = set()
    for node, locked in walk_locked(fn):
        if locked:
            continue
        name: str | None = None
        what = ""
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATORS
            and isinstance(node.func.value, (ast.Name, ast.Subscript))
        ):
            root = root_name(node.func.value)
            if root in mutable and root not in local:
                name, what = root, f"{ast.unparse(node.func.value)}.{node.func.attr}(...)"
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                root = root_name(target)
                if root is None:
                    continue
                if isinstance(target, ast.Subscript) and root in mutable:
                    if root not in local:
                        name, what = root, ast.unparse(target)
                elif isinstance(target, ast.Name) and root in declared:
                    name, what = root, f"global {root}"
        if name and name not in reported:
            reported.add(name)
            ctx.add(
                "TS102",
                node,
                site,
                f"`{what}` in `{fn.name}` mutates module-level `{name}`, shared by every call",
                mod=item.mod,
            )
