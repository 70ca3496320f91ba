"""Static checks: read tool source (AST only, nothing imported or run) for what breaks at scale.

Each rule targets one production failure from DESIGN.md: state shared between
concurrent calls, schemas that disagree with the code, network calls that can
hang or hide HTTP errors, swallowed exceptions, and files or database cursors
shared between threads. Rules only look at a tool's *run scope*: its function (or
its class's run methods), the methods it calls on ``self`` and the module
functions it calls, transitively.

Silence a finding with a comment on its line: ``# toolsafe: ignore`` or
``# toolsafe: ignore[TS101,TS301]``.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from toolsafe.doctor.discover import (
    RUN_METHODS,
    ModuleSource,
    ToolSite,
    class_methods,
    discover,
    find_sites,
    parse_source,
)

__all__ = ["RULES", "Finding", "Rule", "lint", "lint_module", "lint_source"]

Func = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    #: "error" (breaks under load), "warning" (likely to), "info" (worth knowing).
    severity: str
    why: str
    fix: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "TS101",
            "state-on-instance",
            "error",
            "Frameworks share one tool instance between every agent, crew and thread: a value "
            "written on self by one call is read by another call running at the same time.",
            "Keep per-call values in local variables and return them; if state must persist, "
            "guard it with a lock or move it to a store. toolsafe.tool(instance) copies the "
            "instance per call.",
        ),
        Rule(
            "TS102",
            "global-mutation",
            "error",
            "A module-level list, dict or set is shared by every call in the process; "
            "concurrent calls interleave their items and one call's data leaks into another's.",
            "Build the value locally inside the call; if it must be shared, guard it with a "
            "threading.Lock or use a thread-safe queue.",
        ),
        Rule(
            "TS103",
            "shared-client",
            "error",
            "A client or connection created once (module level or __init__) is used by every "
            "concurrent call; many are not thread-safe (requests.Session, http.client "
            "connections, browser pages) and fail or mix up responses under load.",
            "Create the client per call (a context manager), keep one per thread "
            "(threading.local), or use a client documented as thread-safe.",
        ),
        Rule(
            "TS201",
            "schema-mismatch",
            "error",
            "args_schema and the run method disagree on argument names: the framework "
            "validates against the schema and then calls the code with names it does not "
            "take, so every call crashes with TypeError.",
            "Rename the schema field or the parameter so they match exactly.",
        ),
        Rule(
            "TS202",
            "required-mismatch",
            "warning",
            "args_schema and the run method disagree on which arguments are required: a call "
            "the schema accepts can crash the code (or the model must send what the code "
            "does not need).",
            "Give the schema field and the parameter the same default (or none).",
        ),
        Rule(
            "TS203",
            "optional-without-default",
            "warning",
            "An Optional field without a default is still required (pydantic v2): models "
            "leave it out and the call fails validation.",
            "Give it a default: `field: str | None = None`.",
        ),
        Rule(
            "TS301",
            "network-no-timeout",
            "error",
            "A network call without a timeout waits forever on a stalled upstream; under "
            "load the stuck calls pile up until every worker is blocked.",
            "Pass timeout= (connect and read), and let the caller retry what is retryable.",
        ),
        Rule(
            "TS302",
            "status-not-checked",
            "warning",
            "The HTTP status is never checked: a 429 or 500 error page is returned to the "
            "model as if it were data, and the retryable failure is lost.",
            "Call response.raise_for_status() (or check the status) before using the body.",
        ),
        Rule(
            "TS303",
            "swallowed-exception",
            "error",
            "The exception is swallowed: the agent gets a 'success' it cannot tell from "
            "data, transient and permanent failures look the same, and the root cause is "
            "lost. A bare except also catches KeyboardInterrupt and task cancellation.",
            "Catch the specific exceptions you can handle and re-raise the rest (or raise "
            "toolsafe.ToolFailure with retryable= set).",
        ),
        Rule(
            "TS401",
            "shared-file",
            "warning",
            "Every call writes the same file: concurrent writers interleave or truncate each "
            "other's data.",
            "Write per-call files (tempfile), append under a lock, or send records to a "
            "queue with one writer.",
        ),
        Rule(
            "TS402",
            "shared-db",
            "error",
            "A database connection or cursor created once is used by every concurrent call; "
            "DB-API connections and cursors are not safe to share between threads.",
            "Open a connection per call (or take one from a thread-safe pool) and use a "
            "fresh cursor per call.",
        ),
    )
}


@dataclass(frozen=True)
class Finding:
    """One problem at one place in the source."""

    rule: str
    name: str
    severity: str
    path: str
    line: int
    col: int
    tool: str | None
    message: str
    why: str
    fix: str

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- vocabulary

_MUTATORS = frozenset(
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
#: Constructors of resources that are not safe to share: dotted name -> (rule, label).
_RESOURCES: dict[str, tuple[str, str]] = {
    "requests.Session": ("TS103", "a requests.Session"),
    "requests.sessions.Session": ("TS103", "a requests.Session"),
    "requests.session": ("TS103", "a requests.Session"),
    "aiohttp.ClientSession": ("TS103", "an aiohttp.ClientSession (bound to one event loop)"),
    "http.client.HTTPConnection": ("TS103", "an http.client connection (one request at a time)"),
    "http.client.HTTPSConnection": ("TS103", "an http.client connection (one request at a time)"),
    "smtplib.SMTP": ("TS103", "an SMTP connection"),
    "ftplib.FTP": ("TS103", "an FTP connection"),
    "socket.socket": ("TS103", "a socket"),
    "socket.create_connection": ("TS103", "a socket"),
    "selenium.webdriver.Chrome": ("TS103", "a browser session"),
    "selenium.webdriver.Firefox": ("TS103", "a browser session"),
    "sqlite3.connect": ("TS402", "a sqlite3 connection"),
    "psycopg2.connect": ("TS402", "a database connection"),
    "psycopg.connect": ("TS402", "a database connection"),
    "pymysql.connect": ("TS402", "a database connection"),
    "mysql.connector.connect": ("TS402", "a database connection"),
    "open": ("TS401", "an open file"),
    "io.open": ("TS401", "an open file"),
}
_RESOURCE_METHODS = {
    "cursor": ("TS402", "a database cursor"),
    "new_page": ("TS103", "a browser page"),
}
_HTTP_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request"})
_STATUS_ATTRS = frozenset(
    {"raise_for_status", "status_code", "ok", "status", "is_success", "is_error", "getcode"}
)
_IGNORE = re.compile(r"#\s*toolsafe:\s*ignore(?:\[([A-Z0-9_,\s]+)\])?")


# --------------------------------------------------------------------------- entry points


def lint(target: str) -> tuple[list[ToolSite], list[Finding]]:
    """Lint every tool in a file, folder or module; returns (tools found, findings)."""
    found = discover(target, live=False)
    findings: list[Finding] = []
    for mod in found.sources:
        sites = [s for s in found.sites if s.path == mod.path]
        findings.extend(lint_module(mod, sites))
    return found.sites, findings


def lint_source(source: str, filename: str = "<string>") -> list[Finding]:
    """Lint source text (handy in tests and editors)."""
    mod = parse_source(source, Path(filename))
    return lint_module(mod, find_sites(mod))


def lint_module(mod: ModuleSource, sites: list[ToolSite]) -> list[Finding]:
    """Run every rule on every tool of one parsed module."""
    checker = _Checker(mod)
    for site in sites:
        checker.check(site)
    ignored = _ignored_lines(mod.source)
    kept = []
    for f in checker.findings:
        rules = ignored.get(f.line)
        if rules is not None and (not rules or f.rule in rules):
            continue
        kept.append(f)
    kept.sort(key=lambda f: (f.path, f.line, f.rule))
    return kept


def _ignored_lines(source: str) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for number, text in enumerate(source.splitlines(), start=1):
        match = _IGNORE.search(text)
        if match:
            rules = match.group(1)
            out[number] = {r.strip() for r in rules.split(",") if r.strip()} if rules else set()
    return out


# --------------------------------------------------------------------------- helpers


def _self_attr(node: ast.AST) -> str | None:
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


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _walk(node: ast.AST, locked: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node under ``node``, with whether it runs inside a ``with <lock>:`` block."""
    for child in ast.iter_child_nodes(node):
        child_locked = locked
        if isinstance(child, (ast.With, ast.AsyncWith)):
            text = " ".join(ast.unparse(item.context_expr) for item in child.items)
            child_locked = locked or "lock" in text.lower()
        yield child, child_locked
        yield from _walk(child, child_locked)


def _has_kw(call: ast.Call, name: str) -> bool:
    return any(kw.arg == name or kw.arg is None for kw in call.keywords)


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _is_none(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _local_names(fn: Func) -> set[str]:
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


def _is_optional(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return False
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return (
            _is_none(annotation.left)
            or _is_none(annotation.right)
            or any(_is_optional(side) for side in (annotation.left, annotation.right))
        )
    if isinstance(annotation, ast.Subscript):
        head = ast.unparse(annotation.value).split(".")[-1]
        if head == "Optional":
            return True
        if head == "Union":
            inner = annotation.slice
            elts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            return any(_is_none(e) for e in elts)
        if head == "Annotated":
            inner = annotation.slice
            first = inner.elts[0] if isinstance(inner, ast.Tuple) else inner
            return _is_optional(first)
    return False


# --------------------------------------------------------------------------- the checker


class _Checker:
    def __init__(self, mod: ModuleSource) -> None:
        self.mod = mod
        self.findings: list[Finding] = []
        self._seen: set[tuple[str, int, str]] = set()
        self.mutable_globals = {
            name for name, value in mod.assigns.items() if self._is_mutable_literal(value)
        }
        self.module_resources = {
            name: res
            for name, value in mod.assigns.items()
            if (res := self._resource_of(value)) is not None
        }
        self.instance_sessions: set[str] = set()
        self.module_sessions = {
            name for name, value in mod.assigns.items() if self._is_session_ctor(value)
        }

    # ------------------------------------------------------------------ reporting

    def add(
        self, rule_id: str, node: ast.AST, tool: str, message: str, severity: str | None = None
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
                tool=tool,
                message=message,
                why=rule.why,
                fix=rule.fix,
            )
        )

    # ------------------------------------------------------------------ classification

    def _is_mutable_literal(self, value: ast.expr) -> bool:
        if isinstance(value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp)):
            return True
        if isinstance(value, ast.SetComp):
            return True
        if isinstance(value, ast.Call):
            return (self.mod.resolve(value.func) or "") in _MUTABLE_FACTORIES
        return False

    def _resource_of(self, value: ast.AST | None) -> tuple[str, str] | None:
        if not isinstance(value, ast.Call):
            return None
        dotted = self.mod.resolve(value.func) or ""
        if dotted in _RESOURCES:
            if dotted in {"open", "io.open"} and not self._writes(value):
                return None
            return _RESOURCES[dotted]
        if isinstance(value.func, ast.Attribute) and value.func.attr in _RESOURCE_METHODS:
            return _RESOURCE_METHODS[value.func.attr]
        for kw in value.keywords:  # Field(default_factory=requests.Session), PrivateAttr(...)
            if kw.arg == "default_factory":
                factory = self.mod.resolve(kw.value) or ""
                if factory in _RESOURCES and factory not in {"open", "io.open"}:
                    return _RESOURCES[factory]
            if kw.arg == "default":
                inner = self._resource_of(kw.value)
                if inner:
                    return inner
        return None

    def _writes(self, call: ast.Call) -> bool:
        mode = call.args[1] if len(call.args) > 1 else _kw(call, "mode")
        text = mode.value if isinstance(mode, ast.Constant) else None
        return isinstance(text, str) and any(c in text for c in "wax+")

    def _is_session_ctor(self, value: ast.AST | None) -> bool:
        if not isinstance(value, ast.Call):
            return False
        dotted = self.mod.resolve(value.func) or ""
        return dotted in {"requests.Session", "requests.sessions.Session", "requests.session"}

    # ------------------------------------------------------------------ scope

    def _scope(self, site: ToolSite) -> tuple[list[Func], dict[str, Func]]:
        """The functions a call runs (transitively), and the class's methods."""
        methods: dict[str, Func] = {}
        start: list[Func] = []
        node = site.node
        if isinstance(node, ast.ClassDef):
            methods = self._all_methods(node)
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
                if isinstance(func, ast.Name) and func.id in self.mod.functions:
                    todo.append(self.mod.functions[func.id])
                elif _self_attr(func) in methods:
                    todo.append(methods[_self_attr(func) or ""])
        return scope, methods

    def _all_methods(self, cls: ast.ClassDef) -> dict[str, Func]:
        methods: dict[str, Func] = {}
        for base in reversed(cls.bases):
            if isinstance(base, ast.Name) and base.id in self.mod.classes and base.id != cls.name:
                methods.update(self._all_methods(self.mod.classes[base.id]))
        methods.update(class_methods(cls))
        return methods

    # ------------------------------------------------------------------ rules

    def check(self, site: ToolSite) -> None:
        scope, methods = self._scope(site)
        self.instance_sessions = self._instance_sessions(site, methods)
        if isinstance(site.node, ast.ClassDef):
            self._instance_state(site, scope)
            self._instance_resources(site, scope, methods)
        for fn in scope:
            self._global_mutation(site, fn)
            self._module_resources(site, fn)
            self._network(site, fn)
            self._swallowed(site, fn)
            self._shared_file(site, fn)
        if isinstance(site.node, ast.ClassDef):
            for name, fn in methods.items():
                if name not in {f.name for f in scope}:
                    self._connection_timeouts(site, fn)
        self._schema(site, methods)

    def _instance_sessions(self, site: ToolSite, methods: dict[str, Func]) -> set[str]:
        """``self.x`` names that hold a requests.Session (no default timeout)."""
        found: set[str] = set()
        if not isinstance(site.node, ast.ClassDef):
            return found
        for stmt in site.node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                value = stmt.value
                factory = _kw(value, "default_factory") if isinstance(value, ast.Call) else None
                if self._is_session_ctor(value) or (
                    factory is not None
                    and (self.mod.resolve(factory) or "") in {"requests.Session"}
                ):
                    found.add(f"self.{stmt.target.id}")
        for fn in methods.values():
            for node in ast.walk(fn):
                if isinstance(node, ast.Assign) and self._is_session_ctor(node.value):
                    found.update(f"self.{a}" for t in node.targets if (a := _self_attr(t)))
        return found

    def _instance_state(self, site: ToolSite, scope: list[Func]) -> None:
        for fn in scope:
            reported: set[str] = set()
            for node, locked in _walk(fn):
                if locked:
                    continue
                attr: str | None = None
                what = ""
                if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                    targets = (
                        node.targets
                        if isinstance(node, (ast.Assign, ast.Delete))
                        else [node.target]
                    )
                    for target in targets:
                        attr = _self_attr(target)
                        if attr:
                            what = ast.unparse(target)
                            break
                elif (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _MUTATORS
                    and node.func.attr not in {"write", "writelines"}
                ):
                    attr = _self_attr(node.func.value)
                    what = f"{ast.unparse(node.func.value)}.{node.func.attr}(...)"
                if not attr or attr in reported:
                    continue
                reported.add(attr)
                message = f"`{what}` in `{fn.name}` writes state on the shared tool instance"
                severity = None
                if site.isolated:
                    message += " (toolsafe copies the instance per call, so it does not leak)"
                    severity = "info"
                self.add("TS101", node, site.name, message, severity)

    def _instance_resources(
        self, site: ToolSite, scope: list[Func], methods: dict[str, Func]
    ) -> None:
        assert isinstance(site.node, ast.ClassDef)
        created: dict[str, tuple[ast.AST, tuple[str, str], str]] = {}
        for stmt in site.node.body:  # class attributes and pydantic fields
            target: ast.expr | None = None
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
            elif isinstance(stmt, ast.AnnAssign):
                target, value = stmt.target, stmt.value  # type: ignore[assignment]
            if isinstance(target, ast.Name):
                res = self._resource_of(value)
                if res:
                    created[target.id] = (stmt, res, "as a class attribute")
        for name, fn in methods.items():
            for node in ast.walk(fn):
                if isinstance(node, ast.Assign):
                    res = self._resource_of(node.value)
                    for t in node.targets:
                        attr = _self_attr(t)
                        if attr and res and attr not in created:
                            created[attr] = (node, res, f"in `{name}`")
        if not created:
            return
        for fn in scope:
            for node in ast.walk(fn):
                if not isinstance(node, ast.Attribute) or not isinstance(node.ctx, ast.Load):
                    continue
                attr = _self_attr(node)
                if attr and attr in created:
                    where, (rule_id, label), origin = created.pop(attr)
                    self.add(
                        rule_id,
                        where,
                        site.name,
                        f"`self.{attr}` is {label} created once {origin} and used by every "
                        f"call in `{fn.name}` (line {node.lineno})",
                    )

    def _module_resources(self, site: ToolSite, fn: Func) -> None:
        local = _local_names(fn)
        for node in ast.walk(fn):
            if (
                isinstance(node, ast.Name)
                and isinstance(node.ctx, ast.Load)
                and node.id in self.module_resources
                and node.id not in local
            ):
                rule_id, label = self.module_resources[node.id]
                where = next(s for s in self.mod.tree.body if node.id in _assigned_names(s))
                self.add(
                    rule_id,
                    where,
                    site.name,
                    f"`{node.id}` is {label} created at module level and used by every call "
                    f"in `{fn.name}` (line {node.lineno})",
                )

    def _global_mutation(self, site: ToolSite, fn: Func) -> None:
        local = _local_names(fn)
        declared = {n for node in ast.walk(fn) if isinstance(node, ast.Global) for n in node.names}
        reported: set[str] = set()
        for node, locked in _walk(fn):
            if locked:
                continue
            name: str | None = None
            what = ""
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _MUTATORS
                and isinstance(node.func.value, (ast.Name, ast.Subscript))
            ):
                root = _root_name(node.func.value)
                if root in self.mutable_globals and root not in local:
                    name, what = root, f"{ast.unparse(node.func.value)}.{node.func.attr}(...)"
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                targets = (
                    node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                )
                for target in targets:
                    root = _root_name(target)
                    if root is None:
                        continue
                    if isinstance(target, ast.Subscript) and root in self.mutable_globals:
                        if root not in local:
                            name, what = root, ast.unparse(target)
                    elif isinstance(target, ast.Name) and root in declared:
                        name, what = root, f"global {root}"
            if name and name not in reported:
                reported.add(name)
                self.add(
                    "TS102",
                    node,
                    site.name,
                    f"`{what}` in `{fn.name}` mutates module-level `{name}`, shared by every call",
                )

    def _network(self, site: ToolSite, fn: Func) -> None:
        sessions = set(self.module_sessions) | self.instance_sessions
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and self._is_session_ctor(node.value):
                sessions.update(t.id for t in node.targets if isinstance(t, ast.Name))
                sessions.update(f"self.{a}" for t in node.targets if (a := _self_attr(t)))
            if isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if self._is_session_ctor(item.context_expr) and isinstance(
                        item.optional_vars, ast.Name
                    ):
                        sessions.add(item.optional_vars.id)
        http_calls: list[ast.Call] = []
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            dotted = self.mod.resolve(node.func) or ""
            receiver = ast.unparse(node.func.value) if isinstance(node.func, ast.Attribute) else ""
            verb = node.func.attr if isinstance(node.func, ast.Attribute) else ""
            if dotted.startswith("requests.") and dotted.split(".")[-1] in _HTTP_VERBS:
                http_calls.append(node)
                if not _has_kw(node, "timeout"):
                    self.add(
                        "TS301",
                        node,
                        site.name,
                        f"`{dotted}(...)` has no timeout= (requests waits forever by default)",
                    )
            elif verb in _HTTP_VERBS and receiver in sessions:
                http_calls.append(node)
                if not _has_kw(node, "timeout"):
                    self.add(
                        "TS301",
                        node,
                        site.name,
                        f"`{receiver}.{verb}(...)` has no timeout= "
                        "(a requests.Session has no default timeout)",
                    )
            elif dotted.startswith("httpx.") and dotted.split(".")[-1] in _HTTP_VERBS | {
                "stream",
                "Client",
                "AsyncClient",
            }:
                if dotted.split(".")[-1] in _HTTP_VERBS:
                    http_calls.append(node)
                if _is_none(_kw(node, "timeout")):
                    self.add(
                        "TS301", node, site.name, f"`{dotted}(..., timeout=None)` never times out"
                    )
            elif dotted == "urllib.request.urlopen":
                if len(node.args) < 3 and not _has_kw(node, "timeout"):
                    self.add(
                        "TS301",
                        node,
                        site.name,
                        "`urllib.request.urlopen(...)` has no timeout (it waits forever by default)",
                    )
            elif verb == "getresponse":
                http_calls.append(node)
            else:
                self._connection_timeout(site, node, dotted)
        if http_calls and not self._checks_status(fn):
            call = http_calls[0]
            self.add(
                "TS302",
                call,
                site.name,
                f"the response of `{ast.unparse(call.func)}(...)` is used without checking "
                "its status",
            )

    def _connection_timeouts(self, site: ToolSite, fn: Func) -> None:
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                self._connection_timeout(site, node, self.mod.resolve(node.func) or "")

    def _connection_timeout(self, site: ToolSite, node: ast.Call, dotted: str) -> None:
        if dotted in {"http.client.HTTPConnection", "http.client.HTTPSConnection"}:
            if len(node.args) < 3 and not _has_kw(node, "timeout"):
                self.add(
                    "TS301",
                    node,
                    site.name,
                    f"`{dotted}(...)` has no timeout (its socket blocks forever by default)",
                )
        elif dotted == "socket.create_connection":
            if len(node.args) < 2 and not _has_kw(node, "timeout"):
                self.add("TS301", node, site.name, "`socket.create_connection(...)` has no timeout")
        elif dotted == "aiohttp.ClientSession" and not _has_kw(node, "timeout"):
            self.add(
                "TS301",
                node,
                site.name,
                "`aiohttp.ClientSession()` without timeout= waits up to 5 minutes per request",
                "warning",
            )

    def _checks_status(self, fn: Func) -> bool:
        for node in ast.walk(fn):
            if isinstance(node, ast.Attribute) and node.attr in _STATUS_ATTRS:
                return True
        return False

    def _swallowed(self, site: ToolSite, fn: Func) -> None:
        for node in ast.walk(fn):
            if not isinstance(node, ast.ExceptHandler):
                continue
            reraises = any(isinstance(n, ast.Raise) for n in ast.walk(node))
            if node.type is None:
                message = (
                    "bare `except:` catches everything, KeyboardInterrupt and cancellation too"
                )
                if not reraises:
                    message += ", and swallows it"
                self.add("TS303", node, site.name, message)
                continue
            caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            broad = [
                ast.unparse(c)
                for c in caught
                if (self.mod.resolve(c) or "").split(".")[-1] in {"Exception", "BaseException"}
            ]
            if broad and not reraises:
                self.add(
                    "TS303",
                    node,
                    site.name,
                    f"`except {broad[0]}` in `{fn.name}` swallows every error and returns as if "
                    "the call succeeded",
                )

    def _shared_file(self, site: ToolSite, fn: Func) -> None:
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            if (self.mod.resolve(node.func) or "") not in {"open", "io.open"} or not node.args:
                continue
            if not self._writes(node):
                continue
            path = node.args[0]
            fixed = isinstance(path, ast.Constant) or (
                isinstance(path, ast.Name)
                and path.id in self.mod.assigns
                and path.id not in _local_names(fn)
            )
            if fixed:
                self.add(
                    "TS401",
                    node,
                    site.name,
                    f"`{ast.unparse(node)}` in `{fn.name}` writes the same file from every call",
                )

    # ------------------------------------------------------------------ schema vs code

    def _schema(self, site: ToolSite, methods: dict[str, Func]) -> None:
        if isinstance(site.node, ast.ClassDef):
            run = methods.get("_run") or methods.get("_arun")
            params_fn = run
        else:
            params_fn = site.node
        if params_fn is None:
            return
        args = [*params_fn.args.posonlyargs, *params_fn.args.args]
        if args and args[0].arg in {"self", "cls"} and isinstance(site.node, ast.ClassDef):
            args = args[1:]
        defaults: list[ast.expr | None] = [None] * (
            len(args) - len(params_fn.args.defaults)
        ) + list(params_fn.args.defaults)
        params: dict[str, tuple[ast.arg, bool]] = {
            a.arg: (a, d is not None) for a, d in zip(args, defaults, strict=True)
        }
        for a, d in zip(params_fn.args.kwonlyargs, params_fn.args.kw_defaults, strict=True):
            params[a.arg] = (a, d is not None)
        for name, (arg, has_default) in params.items():
            if _is_optional(arg.annotation) and not has_default and not site.args_schema:
                self.add(
                    "TS203",
                    arg,
                    site.name,
                    f"parameter `{name}` of `{params_fn.name}` is Optional but has no default",
                )
        schema_cls = self.mod.classes.get(site.args_schema or "")
        if schema_cls is None:
            return
        fields = self._schema_fields(schema_cls)
        takes_kwargs = params_fn.args.kwarg is not None
        for name, (node, optional_type, has_default) in fields.items():
            if optional_type and not has_default:
                self.add(
                    "TS203",
                    node,
                    site.name,
                    f"`{schema_cls.name}.{name}` is Optional but has no default, so it is required",
                )
            if name not in params:
                if takes_kwargs:
                    continue
                spare = [p for p in params if p not in fields] or list(params)
                hint = difflib.get_close_matches(name, spare, n=1, cutoff=0.0)
                takes = f" (it takes {', '.join(f'`{p}`' for p in params)})" if params else ""
                self.add(
                    "TS201",
                    node,
                    site.name,
                    f"args_schema field `{name}` has no parameter in `{params_fn.name}`{takes}"
                    + (f": did you mean `{hint[0]}`?" if hint else ""),
                )
                continue
            _, param_default = params[name]
            if has_default and not param_default:
                self.add(
                    "TS202",
                    node,
                    site.name,
                    f"`{name}` is optional in `{schema_cls.name}` but required by "
                    f"`{params_fn.name}`: a call without it crashes",
                    "error",
                )
            elif not has_default and param_default:
                self.add(
                    "TS202",
                    node,
                    site.name,
                    f"`{name}` is required in `{schema_cls.name}` but has a default in "
                    f"`{params_fn.name}`",
                )
        for name, (arg, has_default) in params.items():
            if name not in fields and not has_default:
                spare = [f for f in fields if f not in params] or list(fields)
                hint = difflib.get_close_matches(name, spare, n=1, cutoff=0.0)
                self.add(
                    "TS201",
                    arg,
                    site.name,
                    f"`{params_fn.name}` requires `{name}` but `{schema_cls.name}` has no such "
                    "field" + (f" (it has `{hint[0]}`)" if hint else ""),
                )

    def _schema_fields(self, cls: ast.ClassDef) -> dict[str, tuple[ast.AST, bool, bool]]:
        fields: dict[str, tuple[ast.AST, bool, bool]] = {}
        for base in cls.bases:
            if isinstance(base, ast.Name) and base.id in self.mod.classes and base.id != cls.name:
                fields.update(self._schema_fields(self.mod.classes[base.id]))
        for stmt in cls.body:
            if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
                continue
            name = stmt.target.id
            if name.startswith("_") or name == "model_config":
                continue
            if "ClassVar" in ast.unparse(stmt.annotation):
                continue
            fields[name] = (stmt, _is_optional(stmt.annotation), _has_default(stmt.value))
        return fields


def _has_default(value: ast.expr | None) -> bool:
    if value is None:
        return False
    if isinstance(value, ast.Call) and (ast.unparse(value.func).split(".")[-1] == "Field"):
        if value.args:
            first = value.args[0]
            return not (isinstance(first, ast.Constant) and first.value is Ellipsis)
        return any(kw.arg in {"default", "default_factory"} for kw in value.keywords)
    return not (isinstance(value, ast.Constant) and value.value is Ellipsis)


def _assigned_names(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, ast.Assign):
        return {t.id for t in stmt.targets if isinstance(t, ast.Name)}
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return {stmt.target.id}
    return set()
