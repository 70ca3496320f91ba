"""Small AST questions every rule family asks (what ``self.x`` is written, is it locked, ...)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, replace

__all__ = [
    "Func",
    "Where",
    "assigned_names",
    "has_default",
    "has_kw",
    "is_none",
    "is_optional",
    "kw",
    "local_names",
    "root_name",
    "self_attr",
    "walk_locked",
    "walk_where",
]

Func = ast.FunctionDef | ast.AsyncFunctionDef


def self_attr(node: ast.AST) -> str | None:
    """``self.x`` -> "x" (also through subscripts: ``self.x[k]``)."""
    while isinstance(node, ast.Subscript):
        node = node.value
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    ):
        return node.attr
    return None


def root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def walk_locked(node: ast.AST, locked: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node under ``node``, with whether it runs inside a ``with <lock>:`` block."""
    for child in ast.iter_child_nodes(node):
        child_locked = locked
        if isinstance(child, (ast.With, ast.AsyncWith)):
            text = " ".join(ast.unparse(item.context_expr) for item in child.items)
            child_locked = locked or "lock" in text.lower()
        yield child, child_locked
        yield from walk_locked(child, child_locked)


@dataclass(frozen=True)
class Where:
    """Where a statement runs inside its function: under a lock, which ``if`` tests guard
    it, inside an ``except`` handler."""

    locked: bool = False
    guards: tuple[ast.If, ...] = ()
    in_except: bool = False


def walk_where(node: ast.AST, where: Where | None = None) -> Iterator[tuple[ast.AST, Where]]:
    """Every node of a function body with its ``Where``; nested classes are not entered
    (their ``self`` is another object), nor nested functions that take their own ``self``."""
    for child in ast.iter_child_nodes(node):
        yield from _visit(child, where or Where())


def _visit(node: ast.AST, where: Where) -> Iterator[tuple[ast.AST, Where]]:
    if isinstance(node, ast.ClassDef):
        return
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = node.args.posonlyargs + node.args.args
        if args and args[0].arg == "self":
            return
    yield node, where
    if isinstance(node, (ast.With, ast.AsyncWith)):
        text = " ".join(ast.unparse(item.context_expr) for item in node.items)
        if "lock" in text.lower():
            where = replace(where, locked=True)
    elif isinstance(node, ast.If):
        yield from _visit(node.test, where)
        guarded = replace(where, guards=(*where.guards, node))
        for stmt in node.body:
            yield from _visit(stmt, guarded)
        for stmt in node.orelse:
            yield from _visit(stmt, where)
        return
    elif isinstance(node, ast.ExceptHandler):
        where = replace(where, in_except=True)
    for child in ast.iter_child_nodes(node):
        yield from _visit(child, where)


def has_kw(call: ast.Call, name: str) -> bool:
    """The call passes ``name=`` (or ``**kwargs``, which may carry it)."""
    return any(k.arg == name or k.arg is None for k in call.keywords)


def kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def is_none(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def local_names(fn: Func) -> set[str]:
    """Names bound in the function (parameters and assignments), minus ``global`` ones."""
    names = {a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]}
    if fn.args.vararg:
        names.add(fn.args.vararg.arg)
    if fn.args.kwarg:
        names.add(fn.args.kwarg.arg)
    declared: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node is not fn:
            names.add(node.name)
    return names - declared


def is_optional(annotation: ast.expr | None) -> bool:
    """``Optional[X]``, ``X | None``, ``Union[X, None]`` (also inside ``Annotated``)."""
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return False
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return (
            is_none(annotation.left)
            or is_none(annotation.right)
            or any(is_optional(side) for side in (annotation.left, annotation.right))
        )
    if isinstance(annotation, ast.Subscript):
        head = ast.unparse(annotation.value).split(".")[-1]
        if head == "Optional":
            return True
        if head == "Union":
            inner = annotation.slice
            elts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            return any(is_none(e) for e in elts)
        if head == "Annotated":
            inner = annotation.slice
            first = inner.elts[0] if isinstance(inner, ast.Tuple) else inner
            return is_optional(first)
    return False


def has_default(value: ast.expr | None) -> bool:
    """A pydantic field's value gives it a default (``Field(...)`` and ``...`` do not)."""
    if value is None:
        return False
    if isinstance(value, ast.Call) and (ast.unparse(value.func).split(".")[-1] == "Field"):
        if value.args:
            first = value.args[0]
            return not (isinstance(first, ast.Constant) and first.value is Ellipsis)
        return any(k.arg in {"default", "default_factory"} for k in value.keywords)
    return not (isinstance(value, ast.Constant) and value.value is Ellipsis)


def assigned_names(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, ast.Assign):
        return {t.id for t in stmt.targets if isinstance(t, ast.Name)}
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return {stmt.target.id}
    return set()
