"""TS601 side-effect-without-key and TS602 retry-not-idempotent: what a repeated call does.

Agents repeat tool calls (a ReAct loop re-runs a raising tool, a crashed step is
retried, a model re-sends a call), so a tool that charges, sends or writes needs an
idempotency key (docs/exactly-once.md). TS601 looks for effects in the run scope that
say so by themselves: an HTTP PUT/PATCH/DELETE, a POST where the tool's name or the
URL says what it changes (a search API read over POST is not an effect), an SQL write
statement, an email/SMS/chat send, a payment SDK call, a command the call chooses
(subprocess), a file opened for appending. TS602 notes ``retry=`` on a toolsafe tool
not declared idempotent: it is retried only while its body certainly has not run.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from toolsafe.doctor.rules._ast import is_none, kw
from toolsafe.doctor.rules.context import LintContext, Scope, ScopeFn
from toolsafe.doctor.sites import ToolSite
from toolsafe.doctor.sources import ModuleSource

__all__ = ["Effect", "check", "side_effects"]

DOCS = "docs/exactly-once.md"
_WRITE_VERBS = frozenset({"put", "patch", "delete"})
_HTTP_LIBS = ("requests.", "httpx.", "aiohttp.")
#: Receivers whose ``.post/.put/.patch/.delete`` is an HTTP call (a session or client).
_CLIENT_WORDS = re.compile(r"session|client|http|requests", re.IGNORECASE)
#: Words in a tool's name or a URL that say a POST changes something.
WRITE_WORDS = frozenset(
    {
        "add",
        "append",
        "book",
        "cancel",
        "charge",
        "comment",
        "create",
        "delete",
        "invite",
        "kickoff",
        "notify",
        "pay",
        "payment",
        "post",
        "publish",
        "purchase",
        "refund",
        "register",
        "remove",
        "reply",
        "schedule",
        "send",
        "submit",
        "subscribe",
        "transfer",
        "trigger",
        "tweet",
        "update",
        "webhook",
        "upload",
        "upsert",
        "insert",
        "write",
    }
)
#: Words in a URL's path that say a POST changes something: not "upload" and "trigger",
#: which processing and scraping APIs use for jobs that only read (``/processing/upload``,
#: ``/datasets/v3/trigger``).
URL_WRITE_WORDS = WRITE_WORDS - {"upload", "trigger"}
#: Words in a tool's name that say it reads (a POST it makes is a query).
READ_WORDS = frozenset(
    {
        "search",
        "query",
        "lookup",
        "get",
        "fetch",
        "find",
        "list",
        "read",
        "retrieve",
        "scrape",
        "crawl",
        "extract",
        "parse",
        "rerank",
        "evaluate",
        "eval",
        "summarize",
    }
)
_SQL_WRITE = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE|MERGE|DROP|REPLACE|UPSERT|TRUNCATE)\b", re.IGNORECASE
)
_SQL_METHODS = frozenset({"execute", "executemany", "executescript", "exec_driver_sql"})
#: SDK methods that send a message or make a record: SMTP, SES, Slack, Twilio-style, tweets.
SEND_METHODS = frozenset(
    {
        "sendmail",
        "send_message",
        "send_email",
        "send_raw_email",
        "send_templated_email",
        "send_bulk_templated_email",
        "send_mail",
        "send_sms",
        "chat_postMessage",
        "chat_postEphemeral",
        "chat_scheduleMessage",
        "files_upload",
        "files_upload_v2",
        "create_tweet",
        "update_status",
        "create_issue",
        "create_pull",
        "create_issue_comment",
        "save_draft",
    }
)
#: ``<receiver>.create(...)`` that makes a payment or a message (``client.charges.create``,
#: ``service.users().drafts().create``); ``messages``/``calls`` need a ``to=``/``from_=``
#: (Twilio), since an LLM's ``client.messages.create`` only reads.
_CREATE_RECEIVERS = frozenset(
    {"charges", "refunds", "payment_intents", "transfers", "payouts", "invoices", "drafts"}
)
_STRIPE_METHODS = frozenset(
    {"create", "modify", "delete", "cancel", "capture", "confirm", "pay", "refund", "void"}
)
_MAIL_WORDS = re.compile(r"message|mail|draft|sms", re.IGNORECASE)
_SUBPROCESS = frozenset(
    {
        "subprocess.run",
        "subprocess.Popen",
        "subprocess.call",
        "subprocess.check_call",
        "subprocess.check_output",
        "subprocess.getoutput",
        "subprocess.getstatusoutput",
        "os.system",
        "os.popen",
        "asyncio.create_subprocess_shell",
        "asyncio.create_subprocess_exec",
    }
)
#: The last names of every call ``_effect`` may report.
_CALLEE_NAMES = (
    _WRITE_VERBS
    | _SQL_METHODS
    | SEND_METHODS
    | _STRIPE_METHODS
    | {name.rsplit(".", 1)[-1] for name in _SUBPROCESS}
    | {"post", "request", "Request", "send", "create", "open"}
)
_TEMP_WORDS = re.compile(r"tmp|temp", re.IGNORECASE)
_APPEND_MODE = re.compile(r"[rwxbt+]*a[rwxbt+]*")


@dataclass(frozen=True)
class Effect:
    """One call in the run scope that changes something outside the process."""

    node: ast.AST
    mod: ModuleSource
    #: What the rule saw: "calls requests.put", "runs an SQL INSERT".
    what: str
    #: Repeating it leaves the same state (an HTTP PUT or DELETE): ``idempotent=True`` fits.
    repeatable: bool = False


def words(text: str) -> set[str]:
    """Lower-case words of identifiers and URLs (``chat.postMessage`` -> chat, post,
    message), plurals folded (``/charges`` -> charge)."""
    found = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", text)
    out = set()
    for word in (w.lower() for w in found):
        out.add(word)
        if len(word) > 3 and word.endswith("s"):
            out.add(word[:-1])
    return out


def check(ctx: LintContext, site: ToolSite, scope: Scope) -> None:
    _retry_note(ctx, site)
    if _declared(site):
        return
    effects = side_effects(site, scope)
    if not effects:
        return
    first = effects[0]
    line = getattr(first.node, "lineno", 0)
    where = f"line {line}" if first.mod.path == site.path else f"{first.mod.path.name}:{line}"
    more = f" (and {len(effects) - 1} more)" if len(effects) > 1 else ""
    ctx.add(
        "TS601",
        site.node,
        site,
        f"{first.what} at {where}{more}, and the tool has no idempotency key: {_fix(site, first)}",
    )


def _fix(site: ToolSite, effect: Effect) -> str:
    key = "idempotency_key=lambda args: args[...] (a business key such as an order id)"
    harmless = "or idempotent=True if running it twice is harmless" + (
        " (an HTTP PUT or DELETE usually is)" if effect.repeatable else ""
    )
    if site.options_mod is not None or site.framework == "toolsafe":
        how = f"add {key} to its toolsafe options, {harmless}"
    elif site.framework == "crewai":
        how = f"wrap it with toolsafe, harden(tool, {key}), {harmless}"
    elif site.framework == "langchain":
        how = f"wrap it with toolsafe, to_langchain([toolsafe.tool(tool, {key})]), {harmless}"
    else:
        how = f"make it a toolsafe tool, @toolsafe.tool({key}), {harmless}"
    return f"{how} ({DOCS})"


def _declared(site: ToolSite) -> bool:
    """A key (``idempotency_key=``) or ``idempotent=True``/``"keyed"`` is given."""
    key = site.options.get("idempotency_key")
    if key is not None and not is_none(key):
        return True
    value = site.options.get("idempotent")
    return isinstance(value, ast.Constant) and value.value in (True, "keyed")


def _retry_note(ctx: LintContext, site: ToolSite) -> None:
    """TS602: ``retry=`` without ``idempotent=`` (the runtime's definition-time warning)."""
    retry = site.options.get("retry")
    if retry is None or "idempotent" in site.options or not _retries(retry):
        return
    ctx.add(
        "TS602",
        retry,
        site,
        f"`retry={ast.unparse(retry)}` on a tool not declared idempotent: toolsafe retries a "
        "call only while its body certainly has not run (a rejection, a timeout before it "
        "started), never after the body failed. Set idempotent=True if running it twice is "
        "harmless, idempotent='keyed' if its upstream deduplicates by the idempotency key, "
        f"or idempotent=False to keep this; see {DOCS}",
        mod=site.options_mod,
    )


def _retries(retry: ast.expr) -> bool:
    """The option asks for more than one attempt (``None``, ``0``, ``1``, ``Retry(1)`` do not)."""
    if isinstance(retry, ast.Constant):
        return retry.value not in (None, False, 0, 1)
    if isinstance(retry, ast.Call) and ast.unparse(retry.func).split(".")[-1] == "Retry":
        attempts = retry.args[0] if retry.args else kw(retry, "attempts")
        return not (isinstance(attempts, ast.Constant) and attempts.value == 1)
    return True


def side_effects(site: ToolSite, scope: Scope) -> list[Effect]:
    """The effects one call of the tool has, in the order the run scope lists them."""
    name_words = words(site.name) | words(site.qualname)
    writes_by_name = bool(name_words & WRITE_WORDS) and not name_words & READ_WORDS
    out: list[Effect] = []
    for item in scope.items:
        calls = [n for n in ast.walk(item.fn) if isinstance(n, ast.Call) and _candidate(n)]
        strings = _local_strings(item) if calls else {}
        for call in calls:
            effect = _effect(item, call, strings, writes_by_name)
            if effect is not None:
                out.append(effect)
    return out


def _candidate(call: ast.Call) -> bool:
    """Cheap first look (most calls are not effects): the callee's last name could be one."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in _CALLEE_NAMES


def _effect(
    item: ScopeFn, call: ast.Call, strings: dict[str, list[str]], writes_by_name: bool
) -> Effect | None:
    mod = item.mod
    dotted = mod.resolve(call.func) or ""
    attr = call.func.attr if isinstance(call.func, ast.Attribute) else ""
    receiver = ast.unparse(call.func.value) if isinstance(call.func, ast.Attribute) else ""
    shown = ast.unparse(call.func)  # only candidates get here (_candidate)
    method = _http_method(dotted, attr, receiver, call)
    if method is not None:
        if method in _WRITE_VERBS:
            return Effect(call, mod, f"calls {shown} (HTTP {method.upper()})", method != "patch")
        if method == "post" and (writes_by_name or _url_writes(item, call, strings)):
            return Effect(call, mod, f"calls {shown} (HTTP POST)")
        return None
    if attr in _SQL_METHODS and call.args:
        statement = " ".join(_texts(item, call.args[0], strings))
        match = _SQL_WRITE.match(statement)
        if match:
            return Effect(call, mod, f"runs an SQL {match.group(1).upper()} ({shown})")
        return None
    if attr in SEND_METHODS:
        return Effect(call, mod, f"{'sends with' if 'send' in attr.lower() else 'calls'} {shown}")
    if attr == "send" and _MAIL_WORDS.search(receiver):
        return Effect(call, mod, f"sends with {shown}")
    if attr == "create" and _creates(call, receiver):
        return Effect(call, mod, f"calls {shown}")
    if dotted.startswith("stripe.") and attr in _STRIPE_METHODS:
        return Effect(call, mod, f"calls {dotted}")
    if dotted in _SUBPROCESS and _command_is_chosen(call):
        return Effect(call, mod, f"runs a command the call chooses ({dotted})")
    if _appends(item, call, dotted, attr, strings):
        return Effect(call, mod, f"appends to a file ({shown}(..., 'a'))")
    return None


def _http_method(dotted: str, attr: str, receiver: str, call: ast.Call) -> str | None:
    """The HTTP method of a call, lower-case, or None when it is not an HTTP call."""
    verbs = _WRITE_VERBS | {"post"}
    if dotted.startswith(_HTTP_LIBS) and dotted.split(".")[-1] in verbs:
        return dotted.split(".")[-1]
    if attr in verbs and _CLIENT_WORDS.search(receiver.split(".")[-1] if receiver else ""):
        return attr
    if attr == "request" or dotted == "urllib.request.Request":
        given = kw(call, "method")
        if given is None and attr == "request" and call.args:
            given = call.args[0]
        if isinstance(given, ast.Constant) and isinstance(given.value, str):
            return given.value.lower() if given.value.lower() in verbs else None
        if dotted == "urllib.request.Request" and given is None:
            data = call.args[1] if len(call.args) > 1 else kw(call, "data")
            return "post" if data is not None and not is_none(data) else None
    return None


def _url_writes(item: ScopeFn, call: ast.Call, strings: dict[str, list[str]]) -> bool:
    position = 1 if isinstance(call.func, ast.Attribute) and call.func.attr == "request" else 0
    url = call.args[position] if len(call.args) > position else kw(call, "url")
    if url is None:
        return False
    text = " ".join(_texts(item, url, strings))
    path = re.sub(r"^[a-z]+://[^/]*", "", text)  # the host says who, the path says what
    return bool(words(path) & URL_WRITE_WORDS)


def _creates(call: ast.Call, receiver: str) -> bool:
    last = re.sub(r"\(.*\)$", "", receiver.rsplit(".", 1)[-1])
    if last in _CREATE_RECEIVERS:
        return True
    return last in {"messages", "calls"} and any(k.arg in {"to", "from_"} for k in call.keywords)


def _command_is_chosen(call: ast.Call) -> bool:
    """The program run is not fixed in the code (``run(command, shell=True)``)."""
    command = call.args[0] if call.args else kw(call, "args")
    if command is None:
        return False
    if isinstance(command, (ast.List, ast.Tuple)):
        return not command.elts or not isinstance(command.elts[0], ast.Constant)
    if isinstance(command, ast.JoinedStr):
        first = command.values[0] if command.values else None
        return not (isinstance(first, ast.Constant) and str(first.value).strip())
    return not isinstance(command, ast.Constant)


def _appends(
    item: ScopeFn, call: ast.Call, dotted: str, attr: str, strings: dict[str, list[str]]
) -> bool:
    """``open(path, "a")`` (or ``path.open("a")``) on a path that is not a temporary file."""
    if dotted in {"open", "io.open", "builtins.open"}:
        path = call.args[0] if call.args else kw(call, "file")
        mode = call.args[1] if len(call.args) > 1 else kw(call, "mode")
    elif attr == "open" and isinstance(call.func, ast.Attribute):
        path = call.func.value
        mode = call.args[0] if call.args else kw(call, "mode")
    else:
        return False
    if mode is None or not any(_APPEND_MODE.fullmatch(t) for t in _texts(item, mode, strings)):
        return False
    return path is not None and not _TEMP_WORDS.search(ast.unparse(path))


def _local_strings(item: ScopeFn) -> dict[str, list[str]]:
    """Strings a name of the function may hold: ``sql = "INSERT ..."``, ``mode = "a" if x
    else "w"`` (names assigned several times keep every value)."""
    out: dict[str, list[str]] = {}
    for node in ast.walk(item.fn):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                out.setdefault(target.id, []).extend(_constant_texts(node.value))
    return out


def _texts(item: ScopeFn, node: ast.AST, strings: dict[str, list[str]]) -> list[str]:
    """The string constants an expression is made of, names looked up in the function
    and the module (``f"{BASE}/charges"``, ``text("INSERT ...")``)."""
    if isinstance(node, ast.Name):
        if node.id in strings:
            return strings[node.id]
        value = item.mod.assigns.get(node.id)
        return _constant_texts(value) if value is not None else []
    if isinstance(node, ast.Call) and node.args:  # text("..."), str(...)
        return _texts(item, node.args[0], strings)
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                parts.extend(_texts(item, value.value, strings))
        return ["".join(parts)] if parts else []
    return _constant_texts(node)


def _constant_texts(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return [*_constant_texts(node.body), *_constant_texts(node.orelse)]
    if isinstance(node, ast.BinOp):
        return ["".join([*_constant_texts(node.left), *_constant_texts(node.right)])]
    if isinstance(node, ast.JoinedStr):
        return ["".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))]
    return []
