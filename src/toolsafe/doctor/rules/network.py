"""TS301 network-no-timeout and TS302 status-not-checked: calls that hang or hide HTTP errors."""

from __future__ import annotations

import ast

from toolsafe.doctor.rules._ast import Func, has_kw, is_none, kw, self_attr
from toolsafe.doctor.rules.context import LintContext, Scope, ScopeFn, forwards_keyword
from toolsafe.doctor.sites import ToolSite
from toolsafe.doctor.sources import ModuleSource

__all__ = ["check"]

HTTP_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request"})
_STATUS_ATTRS = frozenset(
    {"raise_for_status", "status_code", "ok", "status", "is_success", "is_error", "getcode"}
)
_SESSIONS = frozenset({"requests.Session", "requests.sessions.Session", "requests.session"})


def check(ctx: LintContext, site: ToolSite, scope: Scope) -> None:
    instance = _instance_sessions(scope)
    for item in scope.items:
        sessions = {n for n, v in item.mod.assigns.items() if _is_session(item.mod, v)}
        _network(ctx, site, item, sessions | (instance if item.on_tool else set()))
    for name, method in scope.methods.items():  # a connection made in __init__ is for calls
        if name not in scope.names:
            for node in ast.walk(method.fn):
                if isinstance(node, ast.Call):
                    dotted = method.mod.resolve(node.func) or ""
                    _connection_timeout(ctx, site, node, dotted, method.mod)


def _is_session(mod: ModuleSource, value: ast.AST | None) -> bool:
    return isinstance(value, ast.Call) and (mod.resolve(value.func) or "") in _SESSIONS


def _instance_sessions(scope: Scope) -> set[str]:
    """``self.x`` names that hold a requests.Session (no default timeout)."""
    found: set[str] = set()
    for cls in scope.classes:
        assert isinstance(cls.node, ast.ClassDef)
        for stmt in cls.node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                value = stmt.value
                factory = kw(value, "default_factory") if isinstance(value, ast.Call) else None
                if _is_session(cls.mod, value) or (
                    factory is not None and (cls.mod.resolve(factory) or "") in _SESSIONS
                ):
                    found.add(f"self.{stmt.target.id}")
    for method in scope.methods.values():
        for node in ast.walk(method.fn):
            if isinstance(node, ast.Assign) and _is_session(method.mod, node.value):
                found.update(f"self.{a}" for t in node.targets if (a := self_attr(t)))
    return found


def _network(ctx: LintContext, site: ToolSite, item: ScopeFn, known: set[str]) -> None:
    fn, mod = item.fn, item.mod
    sessions = set(known)
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and _is_session(mod, node.value):
            sessions.update(t.id for t in node.targets if isinstance(t, ast.Name))
            sessions.update(f"self.{a}" for t in node.targets if (a := self_attr(t)))
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for w in node.items:
                if _is_session(mod, w.context_expr) and isinstance(w.optional_vars, ast.Name):
                    sessions.add(w.optional_vars.id)
    http_calls: list[ast.Call] = []
    timed = any(
        isinstance(n, ast.Call) and any(k.arg == "timeout" for k in n.keywords)
        for n in ast.walk(fn)
    )
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        dotted = mod.resolve(node.func) or ""
        receiver = ast.unparse(node.func.value) if isinstance(node.func, ast.Attribute) else ""
        verb = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if dotted.startswith("requests.") and dotted.split(".")[-1] in HTTP_VERBS:
            http_calls.append(node)
            if not forwards_keyword(item, node, "timeout"):
                ctx.add(
                    "TS301",
                    node,
                    site,
                    f"`{dotted}(...)` has no timeout= (requests waits forever by default)",
                    mod=mod,
                )
        elif verb in HTTP_VERBS and receiver in sessions:
            http_calls.append(node)
            if not forwards_keyword(item, node, "timeout"):
                ctx.add(
                    "TS301",
                    node,
                    site,
                    f"`{receiver}.{verb}(...)` has no timeout= "
                    "(a requests.Session has no default timeout)",
                    mod=mod,
                )
        elif dotted.startswith("httpx.") and dotted.split(".")[-1] in HTTP_VERBS | {
            "stream",
            "Client",
            "AsyncClient",
        }:
            if dotted.split(".")[-1] in HTTP_VERBS:
                http_calls.append(node)
            if is_none(kw(node, "timeout")):
                ctx.add(
                    "TS301", node, site, f"`{dotted}(..., timeout=None)` never times out", mod=mod
                )
        elif dotted == "urllib.request.urlopen":
            if len(node.args) < 3 and not has_kw(node, "timeout"):
                ctx.add(
                    "TS301",
                    node,
                    site,
                    "`urllib.request.urlopen(...)` has no timeout (it waits forever by default)",
                    mod=mod,
                )
        elif dotted == "urllib.request.urlretrieve":
            ctx.add(
                "TS301",
                node,
                site,
                "`urllib.request.urlretrieve(...)` takes no timeout (it waits forever on a "
                "stalled server): download with urlopen(url, timeout=...) or requests",
                mod=mod,
            )
        elif verb == "getresponse" or _returns_response(ctx, item, node):
            http_calls.append(node)
        else:
            _connection_timeout(ctx, site, node, dotted, mod, timed)
    if http_calls and not _checks_status(fn):
        call = http_calls[0]
        ctx.add(
            "TS302",
            call,
            site,
            f"the response of `{ast.unparse(call.func)}(...)` is used without checking its status",
            mod=mod,
        )


def _connection_timeout(
    ctx: LintContext,
    site: ToolSite,
    node: ast.Call,
    dotted: str,
    mod: ModuleSource,
    timed: bool = False,
) -> None:
    """Connections made without a timeout (``timed``: the function's requests pass one)."""
    if dotted in {"http.client.HTTPConnection", "http.client.HTTPSConnection"}:
        if len(node.args) < 3 and not has_kw(node, "timeout"):
            ctx.add(
                "TS301",
                node,
                site,
                f"`{dotted}(...)` has no timeout (its socket blocks forever by default)",
                mod=mod,
            )
    elif dotted == "socket.create_connection":
        if len(node.args) < 2 and not has_kw(node, "timeout"):
            ctx.add("TS301", node, site, "`socket.create_connection(...)` has no timeout", mod=mod)
    elif dotted == "aiohttp.ClientSession" and not has_kw(node, "timeout") and not timed:
        ctx.add(
            "TS301",
            node,
            site,
            "`aiohttp.ClientSession()` without timeout= waits up to 5 minutes per request",
            "warning",
            mod=mod,
        )


def _returns_response(ctx: LintContext, item: ScopeFn, call: ast.Call) -> bool:
    """A helper annotated to return an HTTP response (``safe_get(...) -> requests.Response``)."""
    if not isinstance(call.func, (ast.Name, ast.Attribute)):
        return False
    found = ctx.index.resolve(item.mod, call.func)
    if found is None or isinstance(found.node, ast.ClassDef) or found.node.returns is None:
        return False
    return ast.unparse(found.node.returns).split(".")[-1] in {"Response", "HTTPResponse"}


def _checks_status(fn: Func) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr in _STATUS_ATTRS for n in ast.walk(fn))
