"""Per-call isolation of class-based tools: what a call may write, what to copy, what to share.

A class-based tool is one object that concurrent calls share. toolsafe gives each
call its own shallow copy (a new ``__dict__`` and pydantic private dict), so an
attribute a call *rebinds* never leaks. Attributes a call may change *in place*
(``self.seen.append``, ``self.cache[k] = v``, an object handed to unknown code)
are deep-copied too. Everything else is shared: deep-copying a 20,000-key read-only
spec on every call costs more than the call.

What a call may write is read from the source of the methods a call reaches (the
run method, the ``self.`` methods and properties it calls, and the methods of the
attribute objects it calls, a few levels deep). The analysis is conservative:
anything it cannot follow (``self`` handed to other code, ``setattr`` with a
computed name, no source) makes it copy everything, as before. Two findings change
the decision or must be said aloud:

- A lock on the instance that a call takes while writing other attributes (a
  rate limiter's ``_last_request_time`` under ``_rate_limit_lock``): copying the
  guarded state while sharing the lock would silently defeat the tool's own
  locking, so such a tool is shared whole.
- An attribute a call reads and then rebinds (MultiOn's ``session_id``) carries
  state from one call to the next; per-call copies drop it, so the report warns.

Hand-written rather than taken from a library: nothing installed answers "which
attributes of this live object can this method reach and write" (the doctor's lint
answers a different question, from source alone, and lives above this layer).
"""

from __future__ import annotations

import ast
import asyncio
import copy
import enum
import inspect
import textwrap
import threading
import time
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["IsolationReport", "isolate", "plan_isolation", "state_dict"]

#: A per-call copy costing more than this is reported (it is paid on every call).
LARGE_COPY_MS = 5.0
_MAX_DEPTH = 4  # attribute objects followed from the tool (spec -> its methods -> ...)

_LOCK_TYPES: tuple[type, ...] = (
    type(threading.Lock()),
    type(threading.RLock()),
    threading.Condition,
    threading.Semaphore,
    asyncio.Lock,
    asyncio.Semaphore,
    asyncio.Condition,
)
#: In-place changers of the builtin containers (and their usual look-alikes).
_MUTATORS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "pop",
        "popitem",
        "remove",
        "clear",
        "update",
        "setdefault",
        "add",
        "discard",
        "sort",
        "reverse",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
        "__setitem__",
        "__delitem__",
        "__iadd__",
    }
)
#: Methods of str/bytes/list/dict/set/tuple that only read.
_READERS = frozenset(
    {
        "get",
        "keys",
        "values",
        "items",
        "copy",
        "count",
        "index",
        "startswith",
        "endswith",
        "join",
        "split",
        "rsplit",
        "splitlines",
        "strip",
        "lstrip",
        "rstrip",
        "lower",
        "upper",
        "title",
        "casefold",
        "format",
        "format_map",
        "encode",
        "decode",
        "find",
        "rfind",
        "replace",
        "partition",
        "rpartition",
        "isdigit",
        "isalpha",
        "isalnum",
        "isspace",
        "issubset",
        "issuperset",
        "isdisjoint",
        "union",
        "intersection",
        "difference",
        "symmetric_difference",
        "__getitem__",
        "__contains__",
        "__len__",
    }
)
#: Builtins that only read the objects they are given.
_SAFE_CALLS = frozenset(
    {
        "len",
        "str",
        "repr",
        "bool",
        "int",
        "float",
        "isinstance",
        "issubclass",
        "type",
        "id",
        "hash",
        "format",
        "print",
        "sorted",
        "min",
        "max",
        "sum",
        "any",
        "all",
        "list",
        "tuple",
        "set",
        "frozenset",
        "dict",
        "enumerate",
        "zip",
        "reversed",
        "range",
        "abs",
        "round",
        "callable",
        "hasattr",
        "dumps",  # json.dumps
    }
)
#: Names on ``self`` whose use means "all state": the analysis gives up.
_OPAQUE_ATTRS = frozenset({"__dict__", "__pydantic_private__", "__setattr__", "__getstate__"})


@dataclass(frozen=True)
class IsolationReport:
    """What each call of a class-based tool runs on, and why. ``str()`` is one readable line.

    ``mode``: ``"copy"`` (a per-call copy), ``"shared"`` (the instance itself) or
    ``"factory"`` (a fresh instance from the ``isolation=`` callable).
    """

    mode: Literal["copy", "shared", "factory"]
    reason: str
    #: Deep-copied per call: a call may change them in place.
    copied: tuple[str, ...] = ()
    #: Shared with every call: only read by calls, immutable, or named in ``shared=``.
    shared: tuple[str, ...] = ()
    #: Would need a copy but cannot be copied: shared as they are.
    not_copyable: tuple[str, ...] = ()
    #: Read, then rebound by a call: state carried to the next call (a copy drops it).
    carried: tuple[str, ...] = ()
    #: Attributes a call may rebind or change (as far as the analysis can tell).
    written: tuple[str, ...] = ()
    #: Locks on the instance, and the attributes calls write while holding them.
    guarded: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: What one per-call copy cost when measured at wrap time.
    copy_ms: float = 0.0
    warnings: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = [f"{self.mode}: {self.reason}"]
        if self.mode == "copy":
            parts.append("copied per call: " + (", ".join(self.copied) or "none"))
            if self.shared:
                parts.append("shared: " + ", ".join(self.shared))
        if self.not_copyable:
            parts.append("cannot be copied, shared as is: " + ", ".join(self.not_copyable))
        if self.carried:
            parts.append("carried across calls: " + ", ".join(self.carried))
        return "; ".join(parts)


@dataclass(frozen=True)
class Plan:
    """How ``isolate`` copies an instance (computed once, at definition)."""

    report: IsolationReport
    #: Attributes to deep-copy per call; None: all of them (the analysis gave up).
    deep: frozenset[str] | None
    keep: tuple[str, ...]


# --------------------------------------------------------------------------- copying


def state_dict(obj: Any) -> dict[str, Any]:
    """An object's attributes, pydantic private ones as ``__private__.name``."""
    state = dict(getattr(obj, "__dict__", {}) or {})
    private = getattr(obj, "__pydantic_private__", None)
    if isinstance(private, dict):
        state.update({f"__private__.{k}": v for k, v in private.items()})
    return state


def _plain(key: str) -> str:
    return key.removeprefix("__private__.")


def copy_state(
    obj: Any, *, keep: Sequence[str] = (), deep: frozenset[str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Each attribute deep-copied on its own (only those in ``deep`` when given).

    Attributes named in ``keep``, or outside ``deep``, are shared; what cannot be
    copied is shared too and named in the second value.
    """
    memo: dict[int, Any] = {}
    copied: dict[str, Any] = {}
    failed: list[str] = []
    for key, value in state_dict(obj).items():
        name = _plain(key)
        if key in keep or name in keep or (deep is not None and name not in deep):
            copied[key] = value
            continue
        try:
            copied[key] = copy.deepcopy(value, memo)
        except Exception:
            copied[key] = value
            failed.append(name)
    return copied, failed


def isolate(
    obj: Any, *, keep: Sequence[str] = (), deep: frozenset[str] | None = None
) -> tuple[Any, dict[str, Any]]:
    """A per-call copy of ``obj`` and the attribute values it started with.

    A shallow copy (``copy.copy``, pydantic's ``model_copy()``) would still share
    lists and dicts; a whole-object deep copy fails on locks, sockets and clients.
    So the copy gets its own attribute dicts (a rebinding stays on the copy) and the
    attributes in ``deep`` (all, when None) are deep-copied one by one.
    """
    fresh = copy.copy(obj)
    state, _ = copy_state(obj, keep=keep, deep=deep)
    private = {_plain(k): v for k, v in state.items() if k.startswith("__private__.")}
    plain = {k: v for k, v in state.items() if not k.startswith("__private__.")}
    if hasattr(fresh, "__dict__"):
        try:
            object.__setattr__(fresh, "__dict__", plain)
        except (AttributeError, TypeError):
            for key, value in plain.items():
                object.__setattr__(fresh, key, value)
    if private or isinstance(getattr(obj, "__pydantic_private__", None), dict):
        object.__setattr__(fresh, "__pydantic_private__", private)
    return fresh, state


# --------------------------------------------------------------------------- planning


def plan_isolation(
    instance: Any,
    entry: Iterable[str],
    *,
    keep: Sequence[str] = (),
    requested: Literal["copy", "shared"] | None = None,
) -> Plan:
    """Decide, once, how calls of ``instance`` (through its ``entry`` methods) are isolated.

    ``requested="copy"`` (an explicit ``isolation="copy"``) keeps per-call copies
    even when a lock would make the tool shared whole; ``"shared"`` shares it whole.
    """
    state = {_plain(k): v for k, v in state_dict(instance).items()}
    found = _Analysis.run(instance, entry)
    written = tuple(
        sorted(k for k in state if k in found.changed or k in found.rebound)
        if found.opaque is None
        else sorted(state)
    )
    locks = sorted(k for k, v in state.items() if isinstance(v, _LOCK_TYPES))
    guarded = {
        lock: tuple(sorted(found.guarded.get(lock, set()) - {lock}))
        for lock in locks
        if found.guarded.get(lock, set()) - {lock}
    }
    warnings: list[str] = []
    if requested == "shared":
        reason = "isolation='shared': every call runs on the instance itself"
        report = IsolationReport(
            "shared", reason, shared=tuple(sorted(state)), guarded=guarded, written=written
        )
        return Plan(report, None, tuple(keep))
    if guarded and requested is None and found.opaque is None:
        names = "; ".join(f"{lock} guards {', '.join(attrs)}" for lock, attrs in guarded.items())
        reason = (
            f"shared whole: a call takes its own lock while writing instance state ({names}); "
            "copying that state per call would defeat the tool's locking"
        )
        report = IsolationReport(
            "shared",
            reason,
            shared=tuple(sorted(state)),
            guarded=guarded,
            written=written,
        )
        return Plan(report, None, tuple(keep))
    keep_names = {_plain(k) for k in keep}
    if found.opaque is not None:
        deep: frozenset[str] | None = None
        reason = f"every attribute copied per call ({found.opaque})"
    else:
        deep = frozenset(
            k
            for k, v in state.items()
            if k not in keep_names and k in found.changed and not _atomic(v)
        )
        reason = "attributes calls may change in place are copied; the rest is shared"
    wanted = [k for k in state if k not in keep_names and (deep is None or k in deep)]
    costs: dict[str, float] = {}
    failed: list[str] = []
    for name in wanted:
        started = time.perf_counter()
        try:
            copy.deepcopy(state[name])
        except Exception:
            failed.append(name)  # never tried again per call
        else:
            costs[name] = (time.perf_counter() - started) * 1000
    copied = tuple(sorted(costs))
    deep = frozenset(copied)
    copy_ms = sum(costs.values())
    shared = tuple(sorted(k for k in state if k not in costs and k not in failed))
    carried = tuple(sorted(found.carried & set(state)))
    if copy_ms > LARGE_COPY_MS:
        costly = max(costs, key=costs.__getitem__)
        warnings.append(
            f"the per-call copy costs {copy_ms:.0f} ms on every call ({costly}: "
            f"{costs[costly]:.0f} ms); if calls never change {costly}, pass shared=({costly!r},)"
        )
    if carried:
        warnings.append(
            "a call reads and then rebinds "
            + ", ".join(carried)
            + ": state carried from one call to the next, which per-call copies drop; "
            "pass isolation='shared' (with concurrency=1 unless the tool locks) to keep it"
        )
    report = IsolationReport(
        "copy",
        reason,
        copied=copied,
        shared=shared,
        not_copyable=tuple(sorted(failed)),
        carried=carried,
        written=written,
        guarded=guarded,
        copy_ms=round(copy_ms, 3),
        warnings=tuple(warnings),
    )
    return Plan(report, deep, tuple(keep))


def _atomic(value: Any) -> bool:
    """Values no call can change in place (a rebinding is isolated by the shallow copy)."""
    if value is None or isinstance(
        value,
        (
            bool,
            int,
            float,
            complex,
            str,
            bytes,
            type,
            enum.Enum,
            types.FunctionType,
            types.BuiltinFunctionType,
            types.ModuleType,
            range,
        ),
    ):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_atomic(v) for v in value)
    return False


# --------------------------------------------------------------------------- analysis

_SELF = "<self>"


@dataclass
class _Found:
    changed: set[str] = field(default_factory=set)  # may change in place (or escape)
    rebound: set[str] = field(default_factory=set)
    carried: set[str] = field(default_factory=set)  # read before the first rebinding
    first: dict[str, str] = field(default_factory=dict)  # attr -> "read" | "write"
    guarded: dict[str, set[str]] = field(default_factory=dict)
    opaque: str | None = None


class _Analysis:
    """Walks the methods a call reaches, starting from the live object's entry methods."""

    def __init__(self) -> None:
        self.found = _Found()
        self.seen: set[tuple[int, int]] = set()

    @classmethod
    def run(cls, instance: Any, entry: Iterable[str]) -> _Found:
        walker = cls()
        for name in entry:
            fn = _lookup(type(instance), name)
            if fn is None:
                walker.give_up(f"cannot read {type(instance).__name__}.{name}")
                continue
            walker.method(instance, fn, {}, depth=0, root=None)
        found = walker.found
        found.carried = {k for k in found.rebound if found.first.get(k) == "read"}
        return found

    def give_up(self, why: str) -> None:
        if self.found.opaque is None:
            self.found.opaque = why

    def method(
        self,
        obj: Any,
        fn: Callable[..., Any],
        aliases: Mapping[str, str],
        *,
        depth: int,
        root: str | None,
        lock: str | None = None,
    ) -> bool:
        """Walk ``fn`` run on ``obj``. ``root``: the tool attribute ``obj`` is (None: the tool).

        Returns whether ``fn`` may return one of ``obj``'s attributes (an alias).
        """
        key = (id(obj), id(getattr(fn, "__code__", fn)))
        if key in self.seen:
            return False
        self.seen.add(key)
        tree = _parse(fn)
        if tree is None:
            if root is None:
                self.give_up(f"no source for {getattr(fn, '__qualname__', fn)!r}")
            else:
                self.touch(root, "change")
            return False
        args = tree.args
        params = [a.arg for a in (*args.posonlyargs, *args.args)]
        if not params or isinstance(
            inspect.getattr_static(type(obj), fn.__name__, None), staticmethod
        ):
            return False
        walker = _Body(self, obj, params[0], dict(aliases), depth=depth, root=root)
        walker.lock = lock
        for stmt in tree.body:
            walker.visit(stmt)
        return walker.returns_alias

    def touch(
        self, attr: str, how: Literal["read", "rebind", "change"], lock: str | None = None
    ) -> None:
        found = self.found
        found.first.setdefault(attr, "read" if how == "read" else "write")
        if how == "rebind":
            found.rebound.add(attr)
        elif how == "change":
            found.changed.add(attr)
        if lock is not None and how != "read":
            found.guarded.setdefault(lock, set()).add(attr)


def _lookup(cls: type, name: str) -> Callable[..., Any] | None:
    for klass in cls.__mro__:
        if name in vars(klass):
            raw = vars(klass)[name]
            if isinstance(raw, (staticmethod, classmethod)):
                raw = raw.__func__
            if isinstance(raw, property):
                raw = raw.fget
            return raw if inspect.isfunction(raw) else None
    return None


def _parse(fn: Callable[..., Any]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    node = tree.body[0] if tree.body else None
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


class _Body(ast.NodeVisitor):
    """One method body: tracks local aliases of ``self``'s attributes and what is done to them."""

    def __init__(
        self,
        analysis: _Analysis,
        obj: Any,
        self_name: str,
        aliases: dict[str, str],
        *,
        depth: int,
        root: str | None,
    ) -> None:
        self.analysis = analysis
        self.obj = obj
        self.self_name = self_name
        self.aliases = aliases  # local name -> attribute of obj
        self.depth = depth
        self.root = root
        self.lock: str | None = None
        self.returns_alias = False

    # -- bookkeeping

    def touch(self, attr: str, how: Literal["read", "rebind", "change"]) -> None:
        if self.root is not None:
            # An attribute object is shared with the tool: any write to it is a change.
            if how != "read":
                self.analysis.touch(self.root, "change", self.lock)
            return
        self.analysis.touch(attr, how, self.lock)

    def give_up(self, why: str) -> None:
        if self.root is None:
            self.analysis.give_up(why)
        else:
            self.analysis.touch(self.root, "change")

    def attr_of(self, node: ast.AST) -> str | None:
        """The attribute of ``obj`` an expression is (or is part of), if any."""
        while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == self.self_name
            ):
                return node.attr
            node = node.value
        if isinstance(node, ast.Name):
            if node.id == self.self_name:
                return _SELF
            return self.aliases.get(node.id)
        return None

    def is_method(self, name: str) -> bool:
        return _lookup(type(self.obj), name) is not None and name not in state_names(self.obj)

    # -- statements

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for stmt in node.body:
            self.visit(stmt)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        source = self.alias_source(node.value)
        for target in node.targets:
            self.assign(target, source)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self.assign(node.target, self.alias_source(node.value))

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        attr = self.attr_of(node.target)
        target = node.target
        if (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == self.self_name
        ):
            self.touch(target.attr, "read")
            self.touch(target.attr, "rebind")
            self.touch(target.attr, "change")  # += on a list changes it in place
        elif attr is not None and attr != _SELF:
            self.touch(attr, "read")
            self.touch(attr, "change")
        elif isinstance(node.target, ast.Name):
            self.aliases.pop(node.target.id, None)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self.assign(target, None)

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        self.assign(node.target, self.alias_source(node.iter))
        for stmt in (*node.body, *node.orelse):
            self.visit(stmt)

    visit_AsyncFor = visit_For  # type: ignore[assignment]

    def visit_With(self, node: ast.With) -> None:
        outer = self.lock
        for item in node.items:
            attr = self.attr_of(item.context_expr)
            if (
                isinstance(item.context_expr, ast.Attribute)
                and attr is not None
                and attr != _SELF
                and isinstance(_state(self.obj).get(attr), _LOCK_TYPES)
            ):
                self.touch(attr, "read")
                if self.root is None:
                    self.lock = attr
                continue
            self.visit(item.context_expr)
            if attr is not None and attr != _SELF:
                self.touch(attr, "change")  # __enter__ may change the object
            if item.optional_vars is not None:
                self.assign(item.optional_vars, None)
        for stmt in node.body:
            self.visit(stmt)
        self.lock = outer

    visit_AsyncWith = visit_With  # type: ignore[assignment]

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is None:
            return
        self.visit(node.value)
        attr = self.alias_source(node.value)
        if attr is not None:
            self.returns_alias = True
            if self.depth == 0 and self.root is None:
                self.touch(attr, "change")  # the caller gets the tool's own object

    # -- expressions

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == self.self_name:
            name = node.attr
            if name in _OPAQUE_ATTRS:
                self.give_up(f"a call uses self.{name}")
            elif name in state_names(self.obj):
                self.touch(name, "read")
            else:
                # a property, or a bound method handed on (context.run(self._run, ...))
                fn = _lookup(type(self.obj), name)
                if fn is not None:
                    self.analysis.method(
                        self.obj, fn, {}, depth=self.depth, root=self.root, lock=self.lock
                    )
            return
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        args = [*node.args, *(k.value for k in node.keywords)]
        if isinstance(func, ast.Attribute):
            target = self.attr_of(func.value)
            if target == _SELF and isinstance(func.value, ast.Name):
                self.call_own(func.attr, node)
                return
            if (
                isinstance(func.value, ast.Call)
                and isinstance(func.value.func, ast.Name)
                and func.value.func.id == "super"
            ):
                fn = _super_lookup(type(self.obj), func.attr)
                if fn is not None:
                    self.analysis.method(
                        self.obj, fn, {}, depth=self.depth, root=self.root, lock=self.lock
                    )
                for arg in args:
                    self.argument(arg, safe=False)
                return
            self.visit(func.value)
            if target is not None and target != _SELF:
                self.call_on(target, func, node)
            for arg in args:
                self.argument(arg, safe=False)
            return
        if isinstance(func, ast.Name) and func.id in ("getattr", "setattr", "delattr", "vars"):
            self.builtin_reflection(func.id, node)
            return
        self.visit(func)
        safe = isinstance(func, ast.Name) and func.id in _SAFE_CALLS
        if isinstance(func, ast.Attribute) and func.attr in _SAFE_CALLS:
            safe = True
        for arg in args:
            self.argument(arg, safe=safe)

    def argument(self, arg: ast.AST, *, safe: bool) -> None:
        self.visit(arg)
        attr = self.attr_of(arg)
        if attr is None or safe:
            return
        if attr == _SELF:
            if isinstance(arg, ast.Name):
                self.give_up("a call hands self to other code")
            return
        if (
            isinstance(arg, ast.Attribute)
            and self.is_method(arg.attr)
            and self.attr_of(arg.value) == _SELF
        ):
            return  # a bound method: walked in visit_Attribute
        self.touch(attr, "change")  # handed to code we do not follow

    def call_own(self, name: str, node: ast.Call) -> None:
        """``self.name(...)``: a method of the object, or a callable attribute."""
        if name in state_names(self.obj):
            self.touch(name, "read")
            self.touch(name, "change")  # a callable attribute: unknown effect
            for arg in (*node.args, *(k.value for k in node.keywords)):
                self.argument(arg, safe=False)
            return
        fn = _lookup(type(self.obj), name)
        if fn is None:
            if name not in ("__class__",) and not hasattr(type(self.obj), name):
                self.give_up(f"a call uses self.{name}(), which cannot be followed")
            return
        passed: dict[str, str] = {}
        tree = _parse(fn)
        if isinstance(inspect.getattr_static(type(self.obj), name, None), staticmethod):
            for arg in (*node.args, *(k.value for k in node.keywords)):
                self.argument(arg, safe=False)
            return
        if tree is not None:
            params = [a.arg for a in (*tree.args.posonlyargs, *tree.args.args)][1:]
            for param, arg in zip(params, node.args, strict=False):
                attr = self.attr_of(arg)
                if attr is not None and attr != _SELF:
                    passed[param] = attr
            for kw in node.keywords:
                attr = self.attr_of(kw.value)
                if kw.arg is not None and attr is not None and attr != _SELF:
                    passed[kw.arg] = attr
        for arg in (*node.args, *(k.value for k in node.keywords)):
            self.visit(arg)
            if self.attr_of(arg) == _SELF and isinstance(arg, ast.Name):
                self.give_up("a call hands self to other code")
        self.analysis.method(
            self.obj,
            fn,
            passed if self.root is None else {},
            depth=self.depth,
            root=self.root,
            lock=self.lock,
        )

    def call_on(self, attr: str, func: ast.Attribute, node: ast.Call) -> None:
        """``<attribute object>.meth(...)``: a known container method, or follow it."""
        method = func.attr
        if method in _MUTATORS:
            self.touch(attr, "change")
            return
        if method in _READERS:
            return
        value = _resolve(self.obj, func.value, self.self_name)
        if value is _UNKNOWN or self.depth + 1 > _MAX_DEPTH:
            self.touch(attr, "change")
            return
        fn = _lookup(type(value), method)
        if fn is None:
            if isinstance(value, type) or _atomic(value):
                return  # a classmethod of a class, or a method of an immutable value
            self.touch(attr, "change")
            return
        root = self.root if self.root is not None else attr
        before = self.analysis.found.changed.copy()
        self.analysis.method(value, fn, {}, depth=self.depth + 1, root=root)
        if self.lock is not None and root in self.analysis.found.changed - before:
            self.analysis.found.guarded.setdefault(self.lock, set()).add(root)

    def builtin_reflection(self, name: str, node: ast.Call) -> None:
        args = node.args
        on_self = bool(args) and isinstance(args[0], ast.Name) and args[0].id == self.self_name
        for arg in args[1:]:
            self.visit(arg)
        if not on_self:
            for arg in args:
                self.argument(arg, safe=False)
            return
        attr = args[1] if len(args) > 1 else None
        if name == "vars" or not (isinstance(attr, ast.Constant) and isinstance(attr.value, str)):
            if name != "getattr":
                self.give_up(f"a call uses {name}() on self with a computed name")
            return
        how: Literal["read", "rebind"] = "read" if name == "getattr" else "rebind"
        self.touch(attr.value, how)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.body)

    # -- aliases

    def alias_source(self, value: ast.AST) -> str | None:
        """The attribute a local name bound to ``value`` would alias (None: a fresh value)."""
        if isinstance(value, ast.Call):
            func = value.func
            if isinstance(func, ast.Attribute) and func.attr in (
                "get",
                "setdefault",
                "__getitem__",
            ):
                attr = self.attr_of(func.value)
                return attr if attr != _SELF else None
            return None
        if isinstance(value, (ast.BoolOp, ast.IfExp)):
            parts = value.values if isinstance(value, ast.BoolOp) else [value.body, value.orelse]
            for part in parts:
                found = self.alias_source(part)
                if found is not None:
                    return found
            return None
        attr = self.attr_of(value)
        if attr == _SELF:
            if isinstance(value, ast.Name):
                self.give_up("a call binds self to another name")
            return None
        if attr is not None and isinstance(value, ast.Attribute) and self.is_method(value.attr):
            return None
        return attr

    def assign(self, target: ast.AST, source: str | None) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.assign(element, source)
            return
        if isinstance(target, ast.Starred):
            self.assign(target.value, source)
            return
        if isinstance(target, ast.Name):
            if source is not None:
                self.aliases[target.id] = source
            else:
                self.aliases.pop(target.id, None)
            return
        if (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == self.self_name
        ):
            self.touch(target.attr, "rebind")
            return
        attr = self.attr_of(target)
        self.visit(target)
        if attr is not None and attr != _SELF:
            self.touch(attr, "change")
        elif attr == _SELF:
            self.give_up("a call writes through self in a way that cannot be followed")


_UNKNOWN = object()


def _state(obj: Any) -> dict[str, Any]:
    return {_plain(k): v for k, v in state_dict(obj).items()}


def state_names(obj: Any) -> frozenset[str]:
    return frozenset(_state(obj))


def _super_lookup(cls: type, name: str) -> Callable[..., Any] | None:
    # Without the defining class at hand, the nearest definition past the first is a
    # fair approximation: it is only walked, never called.
    hits = [k for k in cls.__mro__ if name in vars(k)]
    for klass in hits[1:] or hits:
        fn = _lookup(klass, name)
        if fn is not None:
            return fn
    return None


def _resolve(obj: Any, node: ast.AST, self_name: str) -> Any:
    """The live value of ``self.a.b`` (attribute chains only), or _UNKNOWN."""
    chain: list[str] = []
    while isinstance(node, ast.Attribute):
        chain.append(node.attr)
        node = node.value
    if not (isinstance(node, ast.Name) and node.id == self_name) or not chain:
        return _UNKNOWN
    value = obj
    for name in reversed(chain):
        state = _state(value)
        if name not in state:
            return _UNKNOWN
        value = state[name]
    return value
