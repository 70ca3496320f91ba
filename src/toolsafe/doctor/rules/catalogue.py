"""The lint rule catalogue: every rule's id, severity, why it breaks at scale and the fix.

Rule ids are stable (users silence them by id in ``# toolsafe: ignore[...]``), so a
rule is added here once and never renumbered. The checks live in one module per
family beside this one (``state``, ``resources``, ``network``, ``exceptions``,
``schema``, ``effects``; ``json_schema`` for tools known only by their JSON Schema).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["RULES", "Finding", "Rule"]


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
        # Tools described by a JSON Schema only (MCP servers, Tool.from_schema): rules/json_schema.py
        Rule(
            "TS211",
            "no-description",
            "warning",
            "Models choose tools by their description: a tool without one is called for the "
            "wrong task, or never.",
            "Say in a sentence what the tool does, when to use it and what it returns.",
        ),
        Rule(
            "TS212",
            "parameter-no-description",
            "info",
            "A parameter the model is told nothing about is filled from its name alone: wrong "
            "units, formats and ids follow.",
            "Describe each parameter: what it is, its format or unit, an example.",
        ),
        Rule(
            "TS213",
            "unbounded-argument",
            "warning",
            "Nothing bounds how much one call may ask for: a model can send an array of "
            "10,000 items or a megabyte of text, and the one call does that much work (or "
            "times out) while the others wait.",
            "Bound it in the schema (`maxItems`, `maxLength`, an `enum` or `pattern`); "
            "toolsafe validates the bounds before the tool runs.",
        ),
        Rule(
            "TS214",
            "open-arguments",
            "warning",
            "The schema does not close the argument object, so a misspelled optional argument "
            "(`limt` for `limit`) is accepted and ignored: the tool runs with its default and "
            "the model never learns why the result is wrong.",
            'Set `"additionalProperties": false` (or put `toolsafe proxy` in front: it '
            "rejects unknown arguments with a field-level error).",
        ),
        Rule(
            "TS215",
            "required-mistake",
            "error",
            "`required` and `properties` disagree: a required name the model is never shown, "
            "a required value with a default that is never used, a nullable value the model "
            "will leave out. Calls are rejected that the schema seemed to allow.",
            "List in `required` exactly the declared properties without a default.",
        ),
        Rule(
            "TS216",
            "uncallable-name",
            "error",
            "Model APIs reject a request whose tool list holds a name outside their pattern "
            "(OpenAI and Anthropic: ^[a-zA-Z0-9_-]{1,64}$; Gemini: also a letter or _ first): "
            "not only this tool fails, every call of the agent does.",
            "Rename the tool to letters, digits, _ and -, at most 64 characters, starting "
            "with a letter.",
        ),
        Rule(
            "TS217",
            "invalid-schema",
            "error",
            "The input schema is not an object schema a validator can be built from: clients "
            "refuse the tool, or call it unvalidated.",
            'Give the tool an object schema (`"type": "object"` with `properties`) that '
            "is valid JSON Schema.",
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
        Rule(
            "TS403",
            "leaked-resource",
            "warning",
            "An engine, client or connection created per call and never closed keeps its "
            "sockets and pool open: under load the process runs out of connections or file "
            "descriptors, and the server sees a flood of idle sessions.",
            "Use it as a context manager (`with ...:`), close or dispose it in `finally`, "
            "or create it once and share a thread-safe one.",
        ),
        Rule(
            "TS501",
            "unbounded-output",
            "warning",
            "The whole file or directory listing is returned with no limit: one large file "
            "or folder floods the model's context window (and the bill), or fails the call.",
            "Read or list at most N bytes/entries (a `limit` argument, a slice) and say in "
            "the result that it was cut; toolsafe's output budget is a safety net.",
        ),
        Rule(
            "TS601",
            "side-effect-without-key",
            "warning",
            "Agents repeat tool calls: a ReAct loop re-runs a tool that raised, a crashed step "
            "is retried, a model re-sends a call it already made. A tool that charges, sends or "
            "writes with no idempotency key does it again each time (a second charge, a second "
            "email), and a caller cannot tell whether the first attempt went through.",
            "Give its calls a key: @toolsafe.tool(idempotency_key=lambda args: args['order_id']) "
            "(a framework tool: wrap it with toolsafe.tool(...) or harden(...) with that option), "
            "so calls with the same key run the body at most once and duplicates get the "
            "recorded result; or declare idempotent=True if repeating it is harmless. A key "
            "every caller passes (key=) is invisible to lint: silence the rule with "
            "`# toolsafe: ignore[TS601]`. See docs/exactly-once.md.",
        ),
        Rule(
            "TS602",
            "retry-not-idempotent",
            "info",
            "retry= on a tool not declared idempotent retries a call only while its body "
            "certainly has not run: a failure inside the body is never retried, which is safe "
            "but not what `retry=3` seems to promise.",
            "Set idempotent=True if running the body twice is harmless, idempotent='keyed' if "
            "its upstream deduplicates by the idempotency key, or idempotent=False to keep the "
            "behaviour and say so.",
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
        """``file:line``; a JSON pointer for schema-only tools (``line`` 0)."""
        return f"{self.path}:{self.line}" if self.line else self.path

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
