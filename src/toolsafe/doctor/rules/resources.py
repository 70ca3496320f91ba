"""TS103 shared-client, TS401 shared-file, TS402 shared-db: one resource, every call.

A client, connection, cursor or open file created once (module level, a class
attribute or pydantic field, ``__init__``) and used by the run scope is shared by
every concurrent call; most of these are not safe to share between threads.
"""

from __future__ import annotations

import ast
import re

from toolsafe.doctor.rules._ast import assigned_names, kw, local_names, self_attr
from toolsafe.doctor.rules.context import LintContext, Scope, ScopeFn
from toolsafe.doctor.sites import ToolSite
from toolsafe.doctor.sources import ModuleSource

__all__ = ["RESOURCES", "check", "opens_for_writing", "resource_of"]

#: Constructors of resources that are not safe to share: dotted name -> (rule, label).
RESOURCES: dict[str, tuple[str, str]] = {
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
_OPEN = frozenset({"open", "io.open"})


#: Per-call resources that must be closed: dotted constructor -> label.
_CLOSABLE = {
    **{k: v[1] for k, v in RESOURCES.items() if k not in {"open", "io.open"}},
    "sqlalchemy.create_engine": "a SQLAlchemy engine (a connection pool)",
    "httpx.Client": "an httpx.Client",
    "httpx.AsyncClient": "an httpx.AsyncClient",
    "pymongo.MongoClient": "a MongoClient (a connection pool)",
    "openai.OpenAI": "an OpenAI client (an HTTP connection pool)",
    "openai.AsyncOpenAI": "an AsyncOpenAI client (an HTTP connection pool)",
    "openai.AzureOpenAI": "an AzureOpenAI client (an HTTP connection pool)",
    "anthropic.Anthropic": "an Anthropic client (an HTTP connection pool)",
    "anthropic.AsyncAnthropic": "an AsyncAnthropic client (an HTTP connection pool)",
}
_TIMESTAMP = re.compile(r"datetime\.now|datetime\.utcnow|time\.time\(|strftime|timestamp\(")
#: Field types of browsers and pages handed to a tool once.
_BROWSER_TYPES = re.compile(r"Browser|WebDriver|\bPage\b")


def check(ctx: LintContext, site: ToolSite, scope: Scope) -> None:
    if isinstance(site.node, ast.ClassDef):
        _instance_resources(ctx, site, scope)
        _injected_browsers(ctx, site, scope)
    for item in scope.items:
        _module_resources(ctx, site, item)
        _shared_file(ctx, site, item)
        _leaked(ctx, site, item)


def opens_for_writing(call: ast.Call) -> bool:
    mode = call.args[1] if len(call.args) > 1 else kw(call, "mode")
    text = mode.value if isinstance(mode, ast.Constant) else None
    return isinstance(text, str) and any(c in text for c in "wax+")


def resource_of(mod: ModuleSource, value: ast.AST | None) -> tuple[str, str] | None:
    """(rule, label) when ``value`` creates a resource that is unsafe to share."""
    if not isinstance(value, ast.Call):
        return None
    dotted = mod.resolve(value.func) or ""
    if dotted in RESOURCES:
        if dotted in _OPEN and not opens_for_writing(value):
            return None
        return RESOURCES[dotted]
    if isinstance(value.func, ast.Attribute) and value.func.attr in _RESOURCE_METHODS:
        return _RESOURCE_METHODS[value.func.attr]
    for k in value.keywords:  # Field(default_factory=requests.Session), PrivateAttr(...)
        if k.arg == "default_factory":
            factory = mod.resolve(k.value) or ""
            if factory in RESOURCES and factory not in _OPEN:
                return RESOURCES[factory]
        if k.arg == "default":
            inner = resource_of(mod, k.value)
            if inner:
                return inner
    return None


def _instance_resources(ctx: LintContext, site: ToolSite, scope: Scope) -> None:
    """Resources the tool's classes create once (fields, ``__init__``) and its calls use."""
    created: dict[str, tuple[ast.AST, tuple[str, str], str, ModuleSource]] = {}
    for cls in scope.classes:  # class attributes and pydantic fields
        assert isinstance(cls.node, ast.ClassDef)
        for stmt in cls.node.body:
            target: ast.expr | None = None
            value: ast.expr | None = None
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
            elif isinstance(stmt, ast.AnnAssign):
                target, value = stmt.target, stmt.value
            if isinstance(target, ast.Name) and target.id not in created:
                res = resource_of(cls.mod, value)
                if res:
                    created[target.id] = (stmt, res, "as a class attribute", cls.mod)
    for name, method in scope.methods.items():
        for node in ast.walk(method.fn):
            if isinstance(node, ast.Assign):
                res = resource_of(method.mod, node.value)
                for t in node.targets:
                    attr = self_attr(t)
                    if attr and res and attr not in created:
                        created[attr] = (node, res, f"in `{name}`", method.mod)
    if not created:
        return
    for item in scope.items:
        if not item.on_tool:
            continue
        for node in ast.walk(item.fn):
            if not isinstance(node, ast.Attribute) or not isinstance(node.ctx, ast.Load):
                continue
            attr = self_attr(node)
            if attr and attr in created:
                where, (rule_id, label), origin, mod = created.pop(attr)
                ctx.add(
                    rule_id,
                    where,
                    site,
                    f"`self.{attr}` is {label} created once {origin} and used by every "
                    f"call in `{item.fn.name}` (line {node.lineno})",
                    mod=mod,
                )


def _module_resources(ctx: LintContext, site: ToolSite, item: ScopeFn) -> None:
    fn, mod = item.fn, item.mod
    resources = {
        name: res for name, value in mod.assigns.items() if (res := resource_of(mod, value))
    }
    if not resources:
        return
    local = local_names(fn)
    for node in ast.walk(fn):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id in resources
            and node.id not in local
        ):
            rule_id, label = resources[node.id]
            where = next(s for s in mod.tree.body if node.id in assigned_names(s))
            ctx.add(
                rule_id,
                where,
                site,
                f"`{node.id}` is {label} created at module level and used by every call "
                f"in `{fn.name}` (line {node.lineno})",
                mod=mod,
            )


def _injected_browsers(ctx: LintContext, site: ToolSite, scope: Scope) -> None:
    """``sync_browser: Optional[SyncBrowser] = None``: one browser for every call."""
    for cls in scope.classes:
        assert isinstance(cls.node, ast.ClassDef)
        for stmt in cls.node.body:
            if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
                continue
            if not _BROWSER_TYPES.search(ast.unparse(stmt.annotation)):
                continue
            name = stmt.target.id
            used = next(
                (
                    item
                    for item in scope.items
                    if item.on_tool and any(self_attr(n) == name for n in ast.walk(item.fn))
                ),
                None,
            )
            if used is not None:
                ctx.add(
                    "TS103",
                    stmt,
                    site,
                    f"`self.{name}` is a browser handed to the tool once and used by every "
                    f"call in `{used.fn.name}`: concurrent calls drive the same pages",
                    mod=cls.mod,
                )


def _leaked(ctx: LintContext, site: ToolSite, item: ScopeFn) -> None:
    """``engine = create_engine(...)`` per call, never closed nor used in ``with``."""
    fn, mod = item.fn, item.mod
    for node in ast.walk(fn):
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Call):
            continue
        label = _CLOSABLE.get(mod.resolve(node.value.func) or "")
        names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if label is None or not names:
            continue
        name = names[0]
        closed = any(
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and isinstance(n.func.value, ast.Name)
            and n.func.value.id == name
            and n.func.attr in {"close", "dispose", "aclose", "quit", "__exit__"}
            for n in ast.walk(fn)
        ) or any(
            isinstance(n, (ast.With, ast.AsyncWith))
            and any(ast.unparse(w.context_expr) == name for w in n.items)
            for n in ast.walk(fn)
        )
        returned = any(
            isinstance(n, ast.Return) and isinstance(n.value, ast.Name) and n.value.id == name
            for n in ast.walk(fn)
        )
        if not closed and not returned:
            ctx.add(
                "TS403",
                node,
                site,
                f"`{name}` in `{fn.name}` is {label} created on every call and never closed",
                mod=mod,
            )


def _shared_file(ctx: LintContext, site: ToolSite, item: ScopeFn) -> None:
    fn, mod = item.fn, item.mod
    stamped = {
        t.id
        for n in ast.walk(fn)
        if isinstance(n, ast.Assign) and _TIMESTAMP.search(ast.unparse(n.value))
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        if (mod.resolve(node.func) or "") not in _OPEN or not node.args:
            continue
        if not opens_for_writing(node):
            continue
        path = node.args[0]
        fixed = isinstance(path, ast.Constant) or (
            isinstance(path, ast.Name) and path.id in mod.assigns and path.id not in local_names(fn)
        )
        if _TIMESTAMP.search(ast.unparse(path)) or (
            isinstance(path, ast.Name) and path.id in stamped
        ):
            ctx.add(
                "TS401",
                node,
                site,
                f"`{ast.unparse(node)}` in `{fn.name}` names the file after the time: calls "
                "in the same second (or clock tick) write the same file",
                mod=mod,
            )
        elif fixed:
            ctx.add(
                "TS401",
                node,
                site,
                f"`{ast.unparse(node)}` in `{fn.name}` writes the same file from every call",
                mod=mod,
            )
