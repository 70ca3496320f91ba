"""What a rule family is handed: the tool, its run scope, and where findings go.

A tool's *run scope* is what one call executes: its function (or its class's run
methods), plus what those call, transitively and across modules:

- methods called on ``self`` (the tool's class and its bases in other files);
- ``super().method(...)``;
- functions of the same module, and imported functions (``from .utils import f``);
- methods of objects the tool holds (``self.api_wrapper.run(...)``, where the field
  is annotated ``api_wrapper: WikipediaAPIWrapper`` or set from a constructor): that
  object is created once and shared by every call, like the tool itself.

Calls are followed into the tool's own package, the files being linted and the
third-party tool collections (``TOOL_PACKAGES``), at most ``MAX_DEPTH`` calls deep.
Framework and library code (``crewai``, ``langchain_core``, ``requests``, the
standard library) is not entered: the rules model what those calls do instead.
Code that runs once (``__init__``, module set-up) is not in the run scope, so it
is not blamed for what it does once.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from toolsafe.doctor.index import Definition, SourceIndex
from toolsafe.doctor.rules._ast import Func, self_attr
from toolsafe.doctor.rules.catalogue import RULES, Finding
from toolsafe.doctor.sites import RUN_METHODS, ToolSite
from toolsafe.doctor.sources import ModuleSource

__all__ = [
    "MAX_DEPTH",
    "TOOL_PACKAGES",
    "LintContext",
    "Scope",
    "ScopeFn",
    "forwards_keyword",
    "run_scope",
]

#: How many calls deep the run scope follows (a tool's ``_run`` is depth 0).
MAX_DEPTH = 6
#: Installed packages of tools whose code is followed like the project's own.
TOOL_PACKAGES = frozenset({"crewai_tools", "langchain_community", "langchain_experimental"})
#: Framework packages whose base classes and methods are not the tool's code.
FRAMEWORK_CORE = frozenset(
    {"crewai", "langchain_core", "langchain", "langgraph", "pydantic", "toolsafe", "abc"}
)


@dataclass(frozen=True)
class ScopeFn:
    """One function a call runs, the module it is in, and what ``self`` is there."""

    fn: Func
    mod: ModuleSource
    #: The class whose method this is (None for a module function).
    owner: Definition | None = None
    #: What ``self`` is, seen from the tool: "self" (the tool), "self.api_wrapper", ...
    via: str = "self"
    depth: int = 0
    #: Keyword names the callers pass (``None`` in the set: a caller passes ``**kwargs``).
    passed: frozenset[str | None] = frozenset()

    @property
    def on_tool(self) -> bool:
        """``self`` here is the tool instance itself."""
        return self.owner is not None and self.via == "self"


@dataclass
class Scope:
    """The functions one call of a tool runs, and (for a class) its whole class hierarchy."""

    items: list[ScopeFn]
    #: The tool class and its bases with source (not framework classes), most derived first.
    classes: list[Definition] = field(default_factory=list)
    #: Every method of the tool class (bases' overridden), run or not.
    methods: dict[str, ScopeFn] = field(default_factory=dict)

    @property
    def functions(self) -> list[Func]:
        return [i.fn for i in self.items]

    @property
    def names(self) -> set[str]:
        return {i.fn.name for i in self.items if i.on_tool}


@dataclass
class LintContext:
    """One lint run: rules report into it, deduplicated by (file, rule, line, message)."""

    mod: ModuleSource
    index: SourceIndex = field(default_factory=SourceIndex)
    findings: list[Finding] = field(default_factory=list)
    _seen: set[tuple[str, str, int, str, str]] = field(default_factory=set)

    def add(
        self,
        rule_id: str,
        node: ast.AST,
        site: ToolSite,
        message: str,
        severity: str | None = None,
        *,
        mod: ModuleSource | None = None,
    ) -> None:
        path = str((mod or self.mod).path)
        line = getattr(node, "lineno", 0)
        key = (path, rule_id, line, message, site.name)
        if key in self._seen:
            return
        self._seen.add(key)
        rule = RULES[rule_id]
        self.findings.append(
            Finding(
                rule=rule.id,
                name=rule.name,
                severity=severity or rule.severity,
                path=path,
                line=line,
                col=getattr(node, "col_offset", 0) + 1,
                tool=site.name,
                message=message,
                why=rule.why,
                fix=rule.fix,
            )
        )


def run_scope(index: SourceIndex, mod: ModuleSource, site: ToolSite) -> Scope:
    """The functions a call runs (transitively, across modules), and the tool's classes."""
    node = site.node
    scope = Scope([])
    start: list[ScopeFn] = []
    if isinstance(node, ast.ClassDef):
        tool = Definition(mod, node)
        scope.classes = index.mro(tool, FRAMEWORK_CORE)
        scope.methods = _methods(scope.classes, tool, "self")
        start = [scope.methods[m] for m in RUN_METHODS if m in scope.methods]
    else:
        start = [ScopeFn(node, mod)]
    follow = _Follow(index, mod)
    todo = list(start)
    while todo:
        item = todo.pop(0)
        if any(item.fn is s.fn and item.via == s.via for s in scope.items):
            continue
        scope.items.append(item)
        if item.depth < MAX_DEPTH:
            todo.extend(follow.callees(item))
    return scope


def _passed(item: ScopeFn, call: ast.Call) -> frozenset[str | None]:
    """The keywords a call passes; ``**kwargs`` forwarded from the caller's own ``**kwargs``
    passes what the caller was given (``None``: an unknown mapping, maybe anything)."""
    out: set[str | None] = set()
    own = item.fn.args.kwarg.arg if item.fn.args.kwarg else None
    for k in call.keywords:
        if k.arg is not None:
            out.add(k.arg)
        elif own is not None and isinstance(k.value, ast.Name) and k.value.id == own:
            out |= item.passed
        else:
            out.add(None)
    return frozenset(out)


def forwards_keyword(item: ScopeFn, call: ast.Call, name: str) -> bool:
    """``call`` passes ``name=``: explicitly, in an unknown ``**mapping``, or in the function's
    own ``**kwargs`` when some caller passed it."""
    own = item.fn.args.kwarg.arg if item.fn.args.kwarg else None
    for k in call.keywords:
        if k.arg == name:
            return True
        if k.arg is None:
            if own is not None and isinstance(k.value, ast.Name) and k.value.id == own:
                if item.depth == 0 or name in item.passed or None in item.passed:
                    return True
            else:
                return True
    return False


def _methods(classes: list[Definition], owner: Definition, via: str) -> dict[str, ScopeFn]:
    """Method name -> its most derived definition, over a class hierarchy."""
    out: dict[str, ScopeFn] = {}
    for cls in reversed(classes):
        assert isinstance(cls.node, ast.ClassDef)
        for stmt in cls.node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out[stmt.name] = ScopeFn(stmt, cls.mod, owner, via)
    return out


class _Follow:
    """Resolves the calls in one function to the functions they run."""

    def __init__(self, index: SourceIndex, mod: ModuleSource) -> None:
        self.index = index
        self.allowed = TOOL_PACKAGES | {mod.name.split(".")[0]} | index.project_tops
        self._class_methods: dict[tuple[int, str], dict[str, ScopeFn]] = {}

    def _may_enter(self, mod: ModuleSource) -> bool:
        return mod.name.split(".")[0] in self.allowed

    def methods_of(self, cls: Definition, via: str) -> dict[str, ScopeFn]:
        key = (id(cls.node), via)
        if key not in self._class_methods:
            self._class_methods[key] = _methods(self.index.mro(cls, FRAMEWORK_CORE), cls, via)
        return self._class_methods[key]

    def callees(self, item: ScopeFn) -> list[ScopeFn]:
        out: list[ScopeFn] = []
        for call in (n for n in ast.walk(item.fn) if isinstance(n, ast.Call)):
            target = self._target(item, call.func)
            if target is None or not self._may_enter(target.mod):
                continue
            passed = _passed(item, call)
            out.append(
                ScopeFn(
                    target.fn,
                    target.mod,
                    target.owner,
                    target.via,
                    item.depth + 1,
                    passed,
                )
            )
        return out

    def _target(self, item: ScopeFn, func: ast.expr) -> ScopeFn | None:
        mod = item.mod
        if isinstance(func, ast.Name):
            if func.id in mod.functions:
                return ScopeFn(mod.functions[func.id], mod)
            found = self.index.resolve(mod, func)
            if found is not None and not isinstance(found.node, ast.ClassDef):
                return ScopeFn(found.node, found.mod)
            return None
        if not isinstance(func, ast.Attribute) or item.owner is None:
            return self._module_attribute(item, func)
        receiver = func.value
        if isinstance(receiver, ast.Name) and receiver.id == "self":
            return self.methods_of(item.owner, item.via).get(func.attr)
        if (
            isinstance(receiver, ast.Call)
            and isinstance(receiver.func, ast.Name)
            and receiver.func.id == "super"
        ):
            for base in self.index.mro(item.owner, FRAMEWORK_CORE)[1:]:
                method = self.methods_of(base, item.via).get(func.attr)
                if method is not None and method.fn is not item.fn:
                    return method
            return None
        attr = self_attr(receiver)
        if attr is not None and isinstance(receiver, ast.Attribute):
            held = self.held_class(item.owner, attr)
            if held is not None:
                return self.methods_of(held, f"{item.via}.{attr}").get(func.attr)
        return self._module_attribute(item, func)

    def _module_attribute(self, item: ScopeFn, func: ast.expr) -> ScopeFn | None:
        """``utils.helper(...)`` on an imported module."""
        if not isinstance(func, ast.Attribute) or not isinstance(func.value, ast.Name):
            return None
        if func.value.id not in item.mod.imports:
            return None
        found = self.index.resolve(item.mod, func)
        if found is not None and not isinstance(found.node, ast.ClassDef):
            return ScopeFn(found.node, found.mod)
        return None

    def held_class(self, owner: Definition, attr: str) -> Definition | None:
        """The class of the object in ``self.<attr>``: its annotation, or what sets it."""
        for cls in self.index.mro(owner, FRAMEWORK_CORE):
            assert isinstance(cls.node, ast.ClassDef)
            for stmt in cls.node.body:
                if (
                    isinstance(stmt, ast.AnnAssign)
                    and isinstance(stmt.target, ast.Name)
                    and stmt.target.id == attr
                ):
                    found = self._class_in_annotation(cls.mod, stmt.annotation)
                    if found is not None:
                        return found
                if (
                    isinstance(stmt, ast.FunctionDef)
                    and stmt.name == attr
                    and stmt.returns is not None
                    and any(ast.unparse(d) == "property" for d in stmt.decorator_list)
                ):
                    found = self._class_in_annotation(cls.mod, stmt.returns)
                    if found is not None:
                        return found
            for node in ast.walk(cls.node):
                if (
                    isinstance(node, ast.Assign)
                    and isinstance(node.value, ast.Call)
                    and any(self_attr(t) == attr for t in node.targets)
                ):
                    found = self.index.class_of(cls.mod, node.value.func)
                    if found is not None:
                        return found
        return None

    def _class_in_annotation(self, mod: ModuleSource, ann: ast.expr) -> Definition | None:
        """``X``, ``Optional[X]``, ``X | None``, ``"X"``: the class X."""
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            try:
                ann = ast.parse(ann.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(ann, ast.BinOp):
            return self._class_in_annotation(mod, ann.left) or self._class_in_annotation(
                mod, ann.right
            )
        if isinstance(ann, ast.Subscript):
            head = ast.unparse(ann.value).split(".")[-1]
            if head in {"Optional", "Union"}:
                inner = ann.slice
                elts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
                for elt in elts:
                    found = self._class_in_annotation(mod, elt)
                    if found is not None:
                        return found
            return None
        found = self.index.class_of(mod, ann)
        if found is not None and found.mod.name.split(".")[0] not in FRAMEWORK_CORE:
            return found
        return None
