"""TS101 state-on-instance and TS102 global-mutation: a call writes what other calls read.

Frameworks share one tool instance (and one process) between every concurrent call,
so a write on ``self`` or on a module-level container outside a ``with <lock>:``
block is visible to calls running at the same time.
"""

from __future__ import annotations

import ast
import re

from toolsafe.doctor.rules._ast import (
    Where,
    local_names,
    root_name,
    self_attr,
    walk_locked,
    walk_where,
)
from toolsafe.doctor.rules.context import FRAMEWORK_CORE, LintContext, Scope, ScopeFn
from toolsafe.doctor.rules.resources import resource_of
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
#: Attribute names of document stores (vector stores, collections, RAG adapters).
_STORE_WORDS = re.compile(r"adapter|vector|store|collection|index|knowledge", re.IGNORECASE)
#: Names of objects that are unsafe to share between concurrent calls.
_UNSAFE_WORDS = re.compile(
    r"page|browser|driver|cursor|connection|socket|stagehand|playwright", re.IGNORECASE
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
    early = _early_return_guards(fn)
    reported: set[str] = set()
    for node, where in walk_where(fn):
        if where.locked:
            continue
        attr: str | None = None
        what = ""
        target: ast.expr | None = None
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                attr = self_attr(t)
                if attr:
                    what, target = ast.unparse(t), t
                    break
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATORS
            and node.func.attr not in {"write", "writelines"}
        ):
            attr = self_attr(node.func.value)
            what = f"{ast.unparse(node.func.value)}.{node.func.attr}(...)"
        if not attr and target is None and isinstance(node, ast.Assign):
            attr, what = _class_attr_write(item, node)
            if attr:
                reported.add(attr)
                ctx.add(
                    "TS101",
                    node,
                    site,
                    f"`{what}` in `{fn.name}` writes state on the class, shared by every "
                    "instance and every call",
                    mod=item.mod,
                )
            continue
        if not attr or attr in reported:
            continue
        if target is not None and (
            _lazy(attr, where, early, node)
            or _memo(target, where)
            or _one_time_entry(item, target, node, where)
        ):
            if isinstance(node, ast.Assign) and not isinstance(target, ast.Subscript):
                _lazy_client(ctx, site, item, attr, node)
            continue
        if target is not None and attr.startswith("_") and attr not in _read_attributes(ctx, item):
            continue  # private, written, never read: no call sees another call's value
        reported.add(attr)
        ctx.add(
            "TS101",
            node,
            site,
            _message(item, what, attr, node, where),
            "info" if site.isolated else None,
            mod=item.mod,
        )


def _class_attr_write(item: ScopeFn, node: ast.Assign) -> tuple[str | None, str]:
    """``BraveSearchTool._last_request_time = ...`` or ``type(self).x = ...`` in a method."""
    owner = item.owner
    if owner is None:
        return None, ""
    for t in node.targets:
        if not isinstance(t, ast.Attribute):
            continue
        base = t.value
        if (isinstance(base, ast.Name) and base.id in {owner.node.name, "cls"}) or (
            ast.unparse(base) in {"type(self)", "self.__class__"}
        ):
            return t.attr, ast.unparse(t)
    return None, ""


def _message(item: ScopeFn, what: str, attr: str, node: ast.AST, where: Where) -> str:
    owner = "the shared tool instance" if item.via == "self" else f"`{item.via}`, an object "
    if item.via != "self":
        owner += "the tool holds and every call shares"
    fn = item.fn.name
    if where.in_except and "[" in what:
        text = (
            f"`{what}` in `{fn}` caches the error of a failed call on {owner}: a transient "
            "failure is served again, for good, to every later call"
        )
    elif isinstance(node, ast.Call) and _STORE_WORDS.search(attr) and "add" in what:
        text = (
            f"`{what}` in `{fn}` adds documents to `{attr}`, a store on {owner}: every call's "
            "documents land in one collection and show up in other calls' searches"
        )
    else:
        text = f"`{what}` in `{fn}` writes state on {owner}"
    return text


def _early_return_guards(fn: ast.AST) -> list[tuple[int, set[str]]]:
    """``if self._client is not None: return self._client``: (line, attrs it tests)."""
    out = []
    for node in ast.walk(fn):
        if isinstance(node, ast.If) and node.body and isinstance(node.body[-1], ast.Return):
            tested = {a for n in ast.walk(node.test) if (a := self_attr(n))}
            if tested:
                out.append((node.lineno, tested))
    return out


def _lazy(attr: str, where: Where, early: list[tuple[int, set[str]]], node: ast.AST) -> bool:
    """A one-time initialization: guarded by a test of an attribute the guarded code sets."""
    for guard in where.guards:
        tested = {a for n in ast.walk(guard.test) if (a := self_attr(n))}
        written = {
            a
            for n in ast.walk(guard)
            if isinstance(n, (ast.Assign, ast.AnnAssign))
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
            if (a := self_attr(t)) and not isinstance(t, ast.Subscript)
        }
        if tested & written and attr in written:
            return True
    line = getattr(node, "lineno", 0)
    return any(attr in tested and at < line for at, tested in early)


def _read_attributes(ctx: LintContext, item: ScopeFn) -> set[str]:
    """Attributes of ``self`` that the owner's class or its bases (with source) read."""
    if item.owner is None:
        return set()
    found: set[str] = set()
    for cls in ctx.index.mro(item.owner, FRAMEWORK_CORE):
        for n in ast.walk(cls.node):
            if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Load):
                attr = self_attr(n)
            elif isinstance(n, ast.AugAssign):
                attr = self_attr(n.target)
            else:
                continue
            if attr is not None:
                found.add(attr)
    return found


def _one_time_entry(item: ScopeFn, target: ast.expr, node: ast.AST, where: Where) -> bool:
    """``if not self.headers.get(k): self.headers[k] = self.x``: the same value every time."""
    if not isinstance(target, ast.Subscript) or not isinstance(node, ast.Assign):
        return False
    attr = self_attr(target)
    params = {a.arg for a in [*item.fn.args.posonlyargs, *item.fn.args.args][1:]}
    params |= {a.arg for a in item.fn.args.kwonlyargs}
    used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    if used & params:
        return False
    return any(any(self_attr(n) == attr for n in ast.walk(g.test)) for g in where.guards)


def _memo(target: ast.expr, where: Where) -> bool:
    """``if key not in self.cache: self.cache[key] = ...``: a cache keyed by the arguments."""
    if not isinstance(target, ast.Subscript) or where.in_except:
        return False
    cache = self_attr(target)
    for guard in where.guards:
        for n in ast.walk(guard.test):
            if (
                isinstance(n, ast.Compare)
                and any(isinstance(op, ast.NotIn) for op in n.ops)
                and any(self_attr(c) == cache for c in n.comparators)
            ):
                return True
    return False


def _lazy_client(
    ctx: LintContext, site: ToolSite, item: ScopeFn, attr: str, node: ast.Assign
) -> None:
    """A client made on the first call and kept: shared by every later call."""
    value = node.value
    if isinstance(value, ast.Call) and (item.mod.resolve(value.func) or "").endswith(
        "import_module"
    ):
        return
    if not isinstance(value, (ast.Call, ast.Attribute, ast.Await)):
        return
    known = resource_of(item.mod, value)
    text = f"`self.{attr}` in `{item.fn.name}`"
    if known is not None:
        rule_id, label = known
        ctx.add(
            rule_id,
            node,
            site,
            f"{text} is {label} created on the first call and shared by every later call",
            mod=item.mod,
        )
    elif _UNSAFE_WORDS.search(attr):
        ctx.add(
            "TS103",
            node,
            site,
            f"{text} is a browser page, driver or connection created on the first call and "
            "shared by every later call",
            mod=item.mod,
        )
    else:
        ctx.add(
            "TS103",
            node,
            site,
            f"{text} is created on the first call and shared by every later call (fine if "
            "it is thread-safe)",
            "info",
            mod=item.mod,
        )


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
