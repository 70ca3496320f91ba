"""What a rule family is handed: the module, the tool, its run scope, and where findings go.

A tool's *run scope* is what one call executes: its function (or its class's run
methods), plus the methods it calls on ``self`` and the module functions it calls,
transitively. Rules look only at the run scope, so code that runs once (``__init__``,
module set-up) is not blamed for what it does once.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from toolsafe.doctor.rules._ast import Func, self_attr
from toolsafe.doctor.rules.catalogue import RULES, Finding
from toolsafe.doctor.sites import RUN_METHODS, ToolSite, class_methods
from toolsafe.doctor.sources import ModuleSource

__all__ = ["LintContext", "Scope", "run_scope"]


@dataclass
class Scope:
    """The functions one call of a tool runs, and (for a class) all its methods."""

    functions: list[Func]
    methods: dict[str, Func] = field(default_factory=dict)

    @property
    def names(self) -> set[str]:
        return {f.name for f in self.functions}


@dataclass
class LintContext:
    """One module being linted: rules report into it, deduplicated by (rule, line, message)."""

    mod: ModuleSource
    findings: list[Finding] = field(default_factory=list)
    _seen: set[tuple[str, int, str]] = field(default_factory=set)

    def add(
        self,
        rule_id: str,
        node: ast.AST,
        site: ToolSite,
        message: str,
        severity: str | None = None,
    ) -> None:
        line = getattr(node, "lineno", 0)
        key = (rule_id, line, message)
        if key in self._seen:
            return
        self._seen.add(key)
        rule = RULES[rule_id]
        self.findings.append(
            Finding(
                rule=rule.id,
                name=rule.name,
                severity=severity or rule.severity,
                path=str(self.mod.path),
                line=line,
                col=getattr(node, "col_offset", 0) + 1,
                tool=site.name,
                message=message,
                why=rule.why,
                fix=rule.fix,
            )
        )


def run_scope(mod: ModuleSource, site: ToolSite) -> Scope:
    """The functions a call runs (transitively), and the class's methods."""
    methods: dict[str, Func] = {}
    node = site.node
    if isinstance(node, ast.ClassDef):
        methods = _all_methods(mod, node)
        start = [methods[m] for m in RUN_METHODS if m in methods]
    else:
        start = [node]
    todo = list(start)
    scope: list[Func] = []
    while todo:
        fn = todo.pop()
        if any(fn is s for s in scope):
            continue
        scope.append(fn)
        for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call)):
            func = call.func
            if isinstance(func, ast.Name) and func.id in mod.functions:
                todo.append(mod.functions[func.id])
            elif (attr := self_attr(func)) in methods:
                todo.append(methods[attr or ""])
    return Scope(scope, methods)


def _all_methods(mod: ModuleSource, cls: ast.ClassDef) -> dict[str, Func]:
    methods: dict[str, Func] = {}
    for base in reversed(cls.bases):
        if isinstance(base, ast.Name) and base.id in mod.classes and base.id != cls.name:
            methods.update(_all_methods(mod, mod.classes[base.id]))
    methods.update(class_methods(cls))
    return methods
