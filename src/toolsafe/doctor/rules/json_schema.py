"""TS211-TS217: tools described by a JSON Schema (MCP servers, ``Tool.from_schema`` definitions).

There is no source to read for these tools, only what the model is shown: a name, a
description and an input schema. Each rule targets what goes wrong when a model calls
such a tool: a name the model API rejects (the whole request fails, not just this
tool), a tool or parameters the model cannot choose or fill well, arguments with no
bound (a 2 MB string, 10,000 ids in one call), misspelled optional arguments dropped
without a word, ``required`` lists that contradict the properties, and schemas a
client cannot even build a validator from.

A finding's location is a JSON pointer into the definition
(``get-sum#/inputSchema/properties/a``): there is no file and line to point at.
Works on MCP (``inputSchema``), OpenAI (``parameters``, also inside ``function``) and
Anthropic (``input_schema``) definitions alike.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from toolsafe.doctor.rules.catalogue import RULES, Finding

__all__ = ["lint_definition", "lint_definitions"]

#: OpenAI's pattern for function names (Anthropic's is the same); Gemini also wants the
#: first character to be a letter or an underscore.
_CALLABLE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SCHEMA_KEYS = ("inputSchema", "input_schema", "parameters", "parametersJsonSchema")
#: A string with any of these is bounded enough: a fixed set, a shape or a format.
_STRING_BOUNDS = ("maxLength", "enum", "const", "pattern", "format")


def lint_definitions(definitions: Sequence[Mapping[str, Any]]) -> dict[str, list[Finding]]:
    """Findings per tool name for a server's whole tool list (duplicate names included)."""
    names = Counter(str(_body(d).get("name", "")) for d in definitions)
    out: dict[str, list[Finding]] = {}
    for definition in definitions:
        name = str(_body(definition).get("name", ""))
        findings = lint_definition(definition)
        if names[name] > 1:
            findings.insert(
                0,
                _finding(
                    "TS216",
                    name,
                    f"{name}#/name",
                    f"{names[name]} tools are named {name!r}: a client can call only one of "
                    "them, and some model APIs reject a request with duplicate names",
                ),
            )
        out.setdefault(name, []).extend(findings)
    return out


def lint_definition(definition: Mapping[str, Any]) -> list[Finding]:
    """Every TS21x finding for one tool definition, in rule order."""
    body = _body(definition)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        return [_finding("TS216", None, "#/name", "the tool has no name: no model can call it")]
    findings: list[Finding] = []
    findings.extend(_name(name))
    description = body.get("description")
    if not isinstance(description, str) or not description.strip():
        findings.append(
            _finding(
                "TS211",
                name,
                f"{name}#/description",
                f"`{name}` has no description: the model must guess from the name alone "
                "what it does and when to call it",
            )
        )
    key = next((k for k in _SCHEMA_KEYS if k in body), "inputSchema")
    schema = body.get(key)
    if schema is None:
        return findings  # a tool that takes no arguments
    if not isinstance(schema, Mapping):
        findings.append(
            _finding("TS217", name, f"{name}#/{key}", f"`{key}` is not a JSON Schema object")
        )
        return findings
    findings.extend(_root(name, key, schema))
    walk = _Walk(name)
    walk.node(schema, key)
    findings.extend(walk.findings)
    findings.extend(walk.bounds())
    findings.extend(_undescribed(name, key, schema))
    findings.sort(key=lambda f: f.rule)
    return findings


def _body(definition: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = definition.get("function") if isinstance(definition, Mapping) else None
    return inner if isinstance(inner, Mapping) else definition


def _finding(
    rule_id: str, tool: str | None, where: str, message: str, severity: str | None = None
) -> Finding:
    rule = RULES[rule_id]
    return Finding(
        rule=rule.id,
        name=rule.name,
        severity=severity or rule.severity,
        path=where,
        line=0,
        col=0,
        tool=tool,
        message=message,
        why=rule.why,
        fix=rule.fix,
    )


def _name(name: str) -> list[Finding]:
    if not _CALLABLE.match(name):
        bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "_-"))})
        reasons = []
        if len(name) > 64:
            reasons.append(f"is {len(name)} characters long (at most 64)")
        if bad:
            reasons.append("contains " + " ".join(repr(c) for c in bad))
        return [
            _finding(
                "TS216",
                name,
                f"{name}#/name",
                f"tool name {name!r} {' and '.join(reasons)}: OpenAI and Anthropic reject "
                "every request that lists it (pattern ^[a-zA-Z0-9_-]{1,64}$)",
            )
        ]
    if not (name[0].isalpha() or name[0] == "_"):
        return [
            _finding(
                "TS216",
                name,
                f"{name}#/name",
                f"tool name {name!r} starts with {name[0]!r}: Gemini rejects function names "
                "that do not start with a letter or an underscore",
                "warning",
            )
        ]
    return []


def _root(name: str, key: str, schema: Mapping[str, Any]) -> list[Finding]:
    """The schema as a whole: an object schema a validator can be built from."""
    out = []
    if schema.get("type") != "object":
        out.append(
            _finding(
                "TS217",
                name,
                f"{name}#/{key}/type",
                f'`{key}` does not say "type": "object" (it says {schema.get("type")!r}): '
                "the MCP specification requires it and strict clients reject the tool",
                "warning",
            )
        )
    from toolsafe._tool import Tool
    from toolsafe.errors import ConfigurationError

    try:
        Tool.from_schema({"name": name, "inputSchema": dict(schema)})
    except ConfigurationError as exc:
        out.append(
            _finding(
                "TS217",
                name,
                f"{name}#/{key}",
                f"no validator can be built from `{key}`: {'; '.join(exc.problems)}",
            )
        )
    return out


def _types(node: Mapping[str, Any]) -> set[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)}
    return set()


def _field(pointer: str) -> str:
    """``inputSchema/properties/a/items/properties/b`` -> ``a[].b`` (for messages)."""
    parts = pointer.split("/")[1:]
    out = ""
    i = 0
    while i < len(parts):
        if parts[i] == "properties" and i + 1 < len(parts):
            out += ("." if out else "") + parts[i + 1]
            i += 2
            continue
        if parts[i] == "items":
            out += "[]"
        i += 1
    return out


class _Walk:
    """One pass over a schema: required/properties mistakes, open objects, unbounded values."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        self.findings: list[Finding] = []
        self.strings: list[str] = []
        self.arrays: list[str] = []

    def at(self, pointer: str) -> str:
        return f"{self.tool}#/{pointer}"

    def node(self, node: Any, pointer: str, depth: int = 0) -> None:
        if not isinstance(node, Mapping) or depth > 32:
            return
        types = _types(node)
        if "object" in types or "properties" in node:
            self.object(node, pointer, depth)
        if "array" in types:
            if "maxItems" not in node and "enum" not in node and "const" not in node:
                self.arrays.append(pointer)
            items = node.get("items")
            if isinstance(items, Mapping):
                self.node(items, f"{pointer}/items", depth + 1)
        if "string" in types and not any(k in node for k in _STRING_BOUNDS):
            self.strings.append(pointer)
        for key in ("anyOf", "oneOf", "allOf"):
            options = node.get(key)
            if isinstance(options, list):
                for n, option in enumerate(options):
                    self.node(option, f"{pointer}/{key}/{n}", depth + 1)
        for key in ("$defs", "definitions"):
            defs = node.get(key)
            if isinstance(defs, Mapping):
                for def_name, sub in defs.items():
                    self.node(sub, f"{pointer}/{key}/{def_name}", depth + 1)

    def object(self, node: Mapping[str, Any], pointer: str, depth: int) -> None:
        props = node.get("properties")
        props = props if isinstance(props, Mapping) else {}
        required = node.get("required", [])
        field = _field(pointer)
        where = f"`{field}`" if field else "the argument object"
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            self.findings.append(
                _finding(
                    "TS215",
                    self.tool,
                    self.at(f"{pointer}/required"),
                    f"`required` of {where} is not a list of names ({required!r:.60}): "
                    "clients read it differently",
                )
            )
            required = []
        for name in required:
            if name not in props:
                self.findings.append(
                    _finding(
                        "TS215",
                        self.tool,
                        self.at(f"{pointer}/required"),
                        f"`{name}` is required in {where} but not among its properties: the "
                        "model is never told about it, and every call it makes without it "
                        "is rejected",
                    )
                )
                continue
            sub = props[name]
            if not isinstance(sub, Mapping):
                continue
            prop = _field(f"{pointer}/properties/{name}")
            if "default" in sub:
                self.findings.append(
                    _finding(
                        "TS215",
                        self.tool,
                        self.at(f"{pointer}/properties/{name}"),
                        f"`{prop}` is required but has a default ({sub['default']!r:.40}): the "
                        "default is never used, the model must always send it",
                        "warning",
                    )
                )
            elif "null" in _types(sub):
                self.findings.append(
                    _finding(
                        "TS215",
                        self.tool,
                        self.at(f"{pointer}/properties/{name}"),
                        f"`{prop}` may be null but is required: models leave out what looks "
                        "optional, and the call is rejected",
                        "warning",
                    )
                )
        for dup, count in Counter(r for r in required if isinstance(r, str)).items():
            if count > 1:
                self.findings.append(
                    _finding(
                        "TS215",
                        self.tool,
                        self.at(f"{pointer}/required"),
                        f"`{dup}` is listed {count} times in `required` of {where}",
                        "info",
                    )
                )
        optional = [p for p in props if p not in required]
        closed = node.get("additionalProperties") is False or "patternProperties" in node
        if optional and not closed:
            self.findings.append(
                _finding(
                    "TS214",
                    self.tool,
                    self.at(pointer),
                    f"{where[0].upper()}{where[1:]} does not set `additionalProperties: false` "
                    "and has optional "
                    f"{'property' if len(optional) == 1 else 'properties'} "
                    f"({', '.join(f'`{p}`' for p in optional[:5])}"
                    f"{', ...' if len(optional) > 5 else ''}): a misspelled one is accepted, "
                    "ignored, and the tool runs with its default",
                )
            )
        for name, sub in props.items():
            self.node(sub, f"{pointer}/properties/{name}", depth + 1)

    def bounds(self) -> list[Finding]:
        """One finding per kind of unbounded value (listing every field), not one per field."""
        out = []
        for pointers, severity, what, bound in (
            (self.arrays, "warning", "arrays", "maxItems"),
            (self.strings, "info", "strings", "maxLength"),
        ):
            if not pointers:
                continue
            fields = [f"`{_field(p) or 'the arguments'}`" for p in pointers]
            out.append(
                _finding(
                    "TS213",
                    self.tool,
                    self.at(pointers[0]),
                    f"{what} without `{bound}`: {', '.join(fields[:6])}"
                    f"{f' and {len(fields) - 6} more' if len(fields) > 6 else ''}",
                    severity,
                )
            )
        return out


def _undescribed(name: str, key: str, schema: Mapping[str, Any]) -> list[Finding]:
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return []
    missing = [
        p
        for p, sub in props.items()
        if isinstance(sub, Mapping) and not str(sub.get("description") or "").strip()
    ]
    if not missing:
        return []
    listed = ", ".join(f"`{p}`" for p in missing[:8]) + (" ..." if len(missing) > 8 else "")
    return [
        _finding(
            "TS212",
            name,
            f"{name}#/{key}/properties/{missing[0]}",
            f"{'parameter' if len(missing) == 1 else 'parameters'} without a description: {listed}",
        )
    ]
