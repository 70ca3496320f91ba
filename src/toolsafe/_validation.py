"""Turn pydantic validation errors into field-level details a model can act on.

The error is bounded however bad the input: the first ``MAX_DETAIL_ITEMS``
problems are listed and the rest counted, each part of a detail is cut, and a
million problems cost one extra validation of a pruned copy, not a million
detail dicts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from toolsafe._text import clip, render_json, utf8_safe
from toolsafe.errors import MAX_DETAIL_ITEMS, InvalidArguments

__all__ = [
    "LISTED_UP_TO",
    "PRUNE_ABOVE",
    "NullPlan",
    "build_invalid",
    "compile_null_plan",
    "describe_received",
    "integral_floats",
    "invalid_arguments",
    "json_type_name",
    "prune_unknown",
]

#: Each part of a detail (field path, expected, received, message) is cut here.
_MAX_PART = 300

_EXPECTED_BY_TYPE = {
    "int_type": "integer",
    "int_parsing": "integer",
    "int_from_float": "integer (no fractional part)",
    "float_type": "number",
    "float_parsing": "number",
    "string_type": "string",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
    "list_type": "array",
    "tuple_type": "array",
    "set_type": "array of unique items",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "dataclass_type": "object",
    "typed_dict_type": "object",
    "none_required": "null",
    "missing": "a value (required field)",
}

_JSON_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    tuple: "array",
    dict: "object",
    type(None): "null",
}


def json_type_name(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


#: A string as JSON (what ``json.dumps(text, ensure_ascii=False)`` writes, without its
#: per-call encoder).
_quoted = json.encoder.encode_basestring


def describe_received(value: Any, limit: int = 80) -> str:
    """``"3" (string)``: the value as JSON, shortened, and its JSON type (never raises)."""
    subject = value[: limit + 1] if isinstance(value, str) else value  # a 10 MB string
    if isinstance(subject, str):
        shown = utf8_safe(_quoted(subject))[0]
    else:
        shown = render_json(subject, limit + 1)
    if len(shown) > limit:
        shown = shown[: limit - 3] + "..."
    return f"{shown} ({json_type_name(value)})"


def _expected(err: Any, allowed: Sequence[str] | None) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        if allowed is None:
            return "no such field"
        names = ", ".join(clip(str(n), 100) for n in allowed[:30]) if allowed else "none"
        if len(allowed) > 30:
            names += f" and {len(allowed) - 30:,} more"
        return f"no such field (allowed: {names})"
    if kind in _EXPECTED_BY_TYPE:
        return _EXPECTED_BY_TYPE[kind]
    ctx = err.get("ctx") or {}
    if kind in ("literal_error", "enum") and "expected" in ctx:
        return f"one of {clip(str(ctx['expected']), _MAX_PART)}"
    msg = str(err.get("msg", ""))
    for prefix in ("Input should be ", "Value should be ", "Value error, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg or kind


_ABSENT = object()


def _clean_loc(loc: Sequence[Any], data: Any) -> tuple[list[str], bool]:
    """The field path of an error in the input's own terms, and whether union tags were cut.

    pydantic puts the name of each union member tried into the location
    (``x.int``, ``x.str``); those are not fields, so walk the input and keep only
    the parts that are keys or indexes in it (and a final missing key).
    """
    node: Any = data
    parts: list[str] = []
    tagged = False
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if node is _ABSENT:
            parts.append(str(part))
        elif isinstance(node, dict):
            if part in node:
                parts.append(str(part))
                node = node[part]
            elif last:
                parts.append(str(part))
                node = _ABSENT
            else:
                tagged = True
        elif isinstance(node, (list, tuple)) and isinstance(part, int):
            parts.append(str(part))
            node = node[part] if 0 <= part < len(node) else _ABSENT
        else:
            tagged = True
    return parts, tagged


def _allowed_at(schema: Mapping[str, Any], parts: Sequence[str]) -> list[str] | None:
    """Property names of the object at ``parts`` in ``schema`` (None when unknown)."""
    node: Any = schema
    for part in parts:
        node = _object_or_array(schema, node, want_array=part.isdigit())
        if node is None:
            return None
        if part.isdigit() and isinstance(node.get("items"), Mapping):
            node = node["items"]
        elif isinstance(node.get("properties"), Mapping) and part in node["properties"]:
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), Mapping):
            node = node["additionalProperties"]
        else:
            return None
    node = _object_or_array(schema, node, want_array=False)
    if node is None or not isinstance(node.get("properties"), Mapping):
        return None
    return list(node["properties"])


def _object_or_array(root: Mapping[str, Any], node: Any, *, want_array: bool) -> Any:
    """Follow $ref and pick the anyOf/oneOf alternative of the wanted shape."""
    for _ in range(20):
        if not isinstance(node, Mapping):
            return None
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            target: Any = root
            for piece in ref.lstrip("#").strip("/").split("/"):
                if piece:
                    key = piece.replace("~1", "/").replace("~0", "~")
                    target = target.get(key) if isinstance(target, Mapping) else None
            node = target
            continue
        alternatives = node.get("anyOf") or node.get("oneOf")
        if isinstance(alternatives, list):
            shaped = [
                alt
                for alt in alternatives
                if isinstance(alt, Mapping)
                and ("$ref" in alt or ("items" in alt if want_array else "properties" in alt))
            ]
            if not shaped:
                return None
            node = shaped[0]
            continue
        return node
    return None


def _container_note(kind: str, value: Any) -> str | None:
    """Say so when a string holds the list/dict repr the schema wanted as a real array/object."""
    if not isinstance(value, str) or value.strip()[:1] not in ("[", "{", "("):
        return None
    from toolsafe._repair import ARRAY_ERRORS, OBJECT_ERRORS, parse_container

    parsed = parse_container(value)
    if kind in ARRAY_ERRORS and isinstance(parsed, list):
        return "a string holding a list repr: send a JSON array, not a string"
    if kind in OBJECT_ERRORS and isinstance(parsed, dict):
        return "a string holding a dict repr: send a JSON object, not a string"
    return None


def invalid_arguments(
    exc: ValidationError,
    *,
    tool: str,
    allowed: Sequence[str] = (),
    repairs: Sequence[str] = (),
    data: Any = _ABSENT,
    schema: Mapping[str, Any] | None = None,
    revalidate: Callable[[Any], object] | None = None,
    unlisted: int = 0,
    listed: list[Any] | None = None,
) -> InvalidArguments:
    """One InvalidArguments listing the problems pydantic found, with a hint for the model.

    ``data`` is the input that was validated; with it, union members tried are
    merged into one detail per field (``expected: integer or string``). With the
    JSON ``schema``, an unknown key deep inside lists the names allowed there.

    With many problems (a million unknown keys), ``exc.errors()`` alone would take
    seconds and gigabytes: ``revalidate`` (the same validation) is run on a pruned
    copy of ``data`` (every container cut to its first items, schema property
    names kept) and its first problems are listed, with the true count. ``unlisted``
    counts problems already cut from ``data`` (``prune_unknown``). ``listed``:
    ``exc.errors(include_url=False)``, when the caller listed them already (few).
    """
    total = exc.error_count()
    errors: list[Any] | None = None
    if total > _PRUNE_ABOVE and revalidate is not None and isinstance(data, dict):
        errors = _pruned_errors(data, schema, revalidate)
    complete = errors is None and not unlisted  # every problem is in ``errors``
    if errors is None:
        errors = exc.errors(include_url=False) if listed is None else listed
    details: list[dict[str, Any]] = []
    merged: dict[str, dict[str, Any]] = {}
    for err in errors:
        if len(details) >= MAX_DETAIL_ITEMS:
            complete = False
            break
        kind = err.get("type", "")
        loc = err.get("loc", ())
        if data is _ABSENT:
            parts, tagged = [str(p) for p in loc], False
        else:
            parts, tagged = _clean_loc(loc, data)
        field = ".".join(parts)
        value = err.get("input")
        received = "nothing" if kind == "missing" else describe_received(value)
        message = str(err.get("msg", ""))
        note = _container_note(kind, value) if kind != "missing" else None
        if note is not None:
            received = f"{received}: {note}"
            message = f"{message} ({note})"
        names: Sequence[str] | None = allowed
        if kind == "extra_forbidden" and len(parts) > 1:
            names = _allowed_at(schema, parts[:-1]) if schema is not None else None
        expected = _expected(err, names)
        if tagged and field in merged:
            entry = merged[field]
            if expected not in entry["expected"].split(" or "):
                entry["expected"] = f"{entry['expected']} or {expected}"
            continue
        entry = {"field": field, "expected": expected, "received": received, "message": message}
        if tagged:
            merged[field] = entry
        details.append(entry)
    # pydantic counts each union member tried; the listed details merge them
    return build_invalid(
        tool, details, repairs=repairs, count=None if complete else total + unlisted
    )


def prune_unknown(data: dict[str, Any], known: Collection[str]) -> tuple[dict[str, Any], int]:
    """``data`` keeping its known keys and its first unknown ones, and how many were cut.

    A million unknown keys are a million problems: validating (and listing) them
    all costs seconds and gigabytes, and the answer is the same with fifty.
    """
    if len(data) <= _PRUNE_ABOVE:
        return data, 0
    present = [k for k in known if k in data]
    unknown = len(data) - len(present)
    if unknown <= _PRUNE_KEEP:
        return data, 0
    kept: dict[str, Any] = {}
    for key in data:
        if len(kept) >= _PRUNE_KEEP:
            break
        if key not in known:
            kept[key] = data[key]
    cut = unknown - len(kept)
    for key in present:
        kept[key] = data[key]
    return kept, cut


#: Above this many problems, list them from a pruned copy of the input.
_PRUNE_ABOVE = 200
#: Up to this many keys, ``prune_unknown`` cuts nothing (its callers may skip it).
PRUNE_ABOVE = _PRUNE_ABOVE
#: Up to this many problems, ``exc.errors()`` is listed in one go (and may be handed on).
LISTED_UP_TO = _PRUNE_ABOVE
#: Above this many problems, integral floats are not looked for (``errors()`` is costly).
_INTEGRAL_UP_TO = 10_000
#: Items kept per container in the pruned copy.
_PRUNE_KEEP = 50


def _pruned_errors(
    data: dict[str, Any], schema: Mapping[str, Any] | None, revalidate: Callable[[Any], object]
) -> list[Any] | None:
    names = _property_names(schema) if schema is not None else set()
    try:
        revalidate(_prune(data, names, 0))
    except ValidationError as again:
        if again.error_count() <= _PRUNE_ABOVE * 10:
            return again.errors(include_url=False)
    except Exception:
        return None
    return None  # the problems were all beyond the kept items: list them the slow way


def _prune(value: Any, names: set[str], depth: int) -> Any:
    if depth > 200:
        return value
    if isinstance(value, dict):
        if len(value) <= _PRUNE_KEEP:
            return {k: _prune(v, names, depth + 1) for k, v in value.items()}
        out: dict[Any, Any] = {}
        others = 0
        for key, item in value.items():
            if key in names:
                out[key] = _prune(item, names, depth + 1)
            elif others < _PRUNE_KEEP:
                others += 1
                out[key] = _prune(item, names, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_prune(v, names, depth + 1) for v in value[:_PRUNE_KEEP]]
    return value


def _property_names(schema: Mapping[str, Any]) -> set[str]:
    """Every property name anywhere in ``schema`` (so pruning never drops a real field)."""
    names: set[str] = set()
    stack: list[Any] = [schema]
    seen = 0
    while stack and seen < 100_000:
        node = stack.pop()
        seen += 1
        if isinstance(node, Mapping):
            props = node.get("properties")
            if isinstance(props, Mapping):
                names.update(k for k in props if isinstance(k, str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


def _part(value: Any) -> str:
    text = value if type(value) is str else str(value)
    return text if len(text) <= _MAX_PART else clip(text, _MAX_PART)


def build_invalid(
    tool: str,
    details: list[dict[str, Any]],
    *,
    repairs: Sequence[str] = (),
    count: int | None = None,
) -> InvalidArguments:
    """The InvalidArguments for ``details`` (``count``: the true number of problems,
    when more were found than listed). Lists at most ``MAX_DETAIL_ITEMS``."""
    total = max(count or 0, len(details))
    shown: list[dict[str, Any]] = []
    parts: list[str] = []
    notes: list[str] = []
    limit = _MAX_PART
    for detail in details[:MAX_DETAIL_ITEMS]:
        get = detail.get  # each part a string of at most _MAX_PART characters
        field, expected = get("field", ""), get("expected", "")
        received, note = get("received", ""), get("message", "")
        if type(field) is not str or len(field) > limit:
            field = _part(field)
        if type(expected) is not str or len(expected) > limit:
            expected = _part(expected)
        if type(received) is not str or len(received) > limit:
            received = _part(received)
        if type(note) is not str or len(note) > limit:
            note = _part(note)
        shown.append({"field": field, "expected": expected, "received": received, "message": note})
        notes.append(note)
        parts.append(f"{field or '(arguments)'}: expected {expected}, got {received}")
    label = clip(tool, 200)
    if total == 1 and parts:  # one problem (the common refusal): what the rest writes
        message = f"Invalid arguments for tool '{label}' (1 problem): {parts[0]}"
        hint = f"Call '{label}' again with arguments that match its schema; fix: {parts[0]}"
    else:
        noun = "problem" if total == 1 else "problems"
        more = total - len(shown)
        counted = (f"{total:,} " if total >= 1000 else f"{total} ") + noun
        if more:
            counted += f", the first {len(shown)} listed"
        message = f"Invalid arguments for tool '{label}' ({counted}): " + "; ".join(parts)
        if more:
            message += f"; and {more:,} more"
        hint = (
            f"Call '{label}' again with arguments that match its schema; fix: "
            + "; ".join(parts[:5])
            + ("; ..." if total > 5 else "")
        )
    # Built by hand rather than by ``__init__``, which copies each detail: ``shown``'s
    # dicts are new ones already.
    exc = InvalidArguments.__new__(InvalidArguments, message)  # (its ``args``: the message)
    exc.details, exc.hint, exc.repairs = shown, hint, list(repairs)
    # Every string of the details is in the message (field, expected, received) or is
    # a problem's message: all ASCII, they are within a ToolError's bounds as they are.
    exc._plain_details = message.isascii() and "".join(notes).isascii()
    return exc


def integral_floats(
    data: dict[str, Any], exc: ValidationError, listed: list[Any] | None = None
) -> dict[str, Any] | None:
    """``data`` with each integral float that strict mode refused as an integer (``4.0``)
    turned into the int, or None when there is none.

    JSON Schema counts 4.0 as an integer; pydantic's strict mode does not. With more
    than ``_INTEGRAL_UP_TO`` problems, none is looked for (the call is rejected).
    ``listed``: ``exc.errors(include_url=False)``, when listed already.
    """
    if exc.error_count() > _INTEGRAL_UP_TO:
        return None
    fixes: list[list[str]] = []
    for err in exc.errors(include_url=False) if listed is None else listed:
        value = err.get("input")
        if (
            err.get("type") in ("int_type", "int_from_float")
            and type(value) is float
            and math.isfinite(value)
            and value.is_integer()
        ):
            parts, _ = _clean_loc(err.get("loc", ()), data)
            fixes.append(parts)
    if not fixes:
        return None
    out: dict[str, Any] = _copy_path_containers(data)
    for parts in fixes:
        if not _set_int(out, parts):
            return None
    return out


def _copy_path_containers(value: Any) -> Any:
    """A copy of the containers of ``value`` (leaves shared), so fixes do not touch the input."""
    if isinstance(value, dict):
        return {k: _copy_path_containers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_path_containers(v) for v in value]
    return value


def _set_int(root: Any, parts: Sequence[str]) -> bool:
    node = root
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(node, dict) and part in node:
            key: Any = part
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            key = int(part)
        else:
            return False
        if last:
            value = node[key]
            if type(value) is not float:
                return False
            node[key] = int(value)
            return True
        node = node[key]
    return False


# --------------------------------------------------------------------------- nulls


class NullPlan:
    """Where an explicit null means "not given", through nested objects and arrays.

    OpenAI's strict mode wants every property listed as required, so optional
    properties are exported as nullable and a model obeying that schema sends
    ``null`` for what it leaves out. The validator must accept exactly that: for
    each optional property whose own schema does not allow null, a null is
    dropped (so the default applies), at every level of the schema.
    """

    __slots__ = ("drop", "items", "props", "values")

    def __init__(self) -> None:
        self.drop: frozenset[str] = frozenset()
        self.props: dict[str, NullPlan] = {}
        self.items: NullPlan | None = None
        self.values: NullPlan | None = None

    def apply(self, value: Any) -> Any:
        """``value`` with the planned nulls removed (copies only what changes)."""
        if isinstance(value, dict):
            return self._apply_object(value)
        if isinstance(value, list) and self.items is not None:
            items = self.items
            new = [items.apply(v) for v in value]
            return new if any(a is not b for a, b in zip(new, value, strict=True)) else value
        return value

    def _apply_object(self, data: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] | None = None
        for key in self.drop:
            if key in data and data[key] is None:
                if out is None:
                    out = dict(data)
                del out[key]
        source = data if out is None else out
        for key, child in self.props.items():
            value = source.get(key)
            if isinstance(value, (dict, list)):
                new = child.apply(value)
                if new is not value:
                    if out is None:
                        out = dict(data)
                    out[key] = new
        if self.values is not None:
            values = self.values
            for key, value in list(source.items()):
                if key in self.props or not isinstance(value, (dict, list)):
                    continue
                new = values.apply(value)
                if new is not value:
                    if out is None:
                        out = dict(data)
                    out[key] = new
        return data if out is None else out


def compile_null_plan(schema: Mapping[str, Any]) -> NullPlan | None:
    """The NullPlan for a JSON Schema (as exported), or None when no null needs dropping."""
    builder = _PlanBuilder(schema)
    plan = builder.build(schema)
    builder.prune()
    return plan if plan is not None and builder.useful(plan) else None


class _PlanBuilder:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.by_ref: dict[str, NullPlan] = {}
        self.plans: list[NullPlan] = []
        self._useful: dict[int, bool] = {}

    def resolve(self, node: Any, depth: int = 0) -> Any:
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and depth < 50:
            target: Any = self.root
            for part in node["$ref"].lstrip("#").strip("/").split("/"):
                if not part:
                    continue
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part) if isinstance(target, Mapping) else None
            node = target
            depth += 1
        return node

    def allows_null(self, node: Any, depth: int = 0) -> bool:
        node = self.resolve(node)
        if not isinstance(node, Mapping) or depth > 20:
            return True
        kind = node.get("type")
        if kind == "null" or (isinstance(kind, list) and "null" in kind):
            return True
        if isinstance(node.get("enum"), list):
            return None in node["enum"]
        if "const" in node:
            return node["const"] is None
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list):
                return any(self.allows_null(alt, depth + 1) for alt in node[key])
        if isinstance(node.get("allOf"), list):
            return all(self.allows_null(alt, depth + 1) for alt in node["allOf"])
        shaped = ("properties", "items", "prefixItems", "additionalProperties", "not")
        return kind is None and not any(k in node for k in shaped)

    def build(self, node: Any) -> NullPlan | None:
        if isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in self.by_ref:
                return self.by_ref[ref]
            plan = NullPlan()
            self.by_ref[ref] = plan
            self.plans.append(plan)
            self.fill(plan, self.resolve(node))
            return plan
        plan = NullPlan()
        self.plans.append(plan)
        self.fill(plan, node)
        return plan

    def fill(self, plan: NullPlan, node: Any) -> None:
        if not isinstance(node, Mapping):
            return
        for key in ("anyOf", "oneOf"):
            alternatives = node.get(key)
            if isinstance(alternatives, list):
                shaped = [alt for alt in alternatives if not self.allows_null(alt) or "$ref" in alt]
                # only an unambiguous single shaped alternative can be followed safely
                if len(shaped) == 1:
                    self.fill(plan, self.resolve(shaped[0]))
                return
        all_of = node.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1:
            self.fill(plan, self.resolve(all_of[0]))
            return
        props = node.get("properties")
        if isinstance(props, Mapping):
            required = set(node.get("required", ()) or ())
            plan.drop = frozenset(
                name
                for name, sub in props.items()
                if name not in required and not self.allows_null(sub)
            )
            for name, sub in props.items():
                child = self.build(sub)
                if child is not None:
                    plan.props[name] = child
        extra = node.get("additionalProperties")
        if isinstance(extra, Mapping) and extra:
            plan.values = self.build(extra)
        items = node.get("items")
        if isinstance(items, Mapping) and items:
            plan.items = self.build(items)

    def useful(self, plan: NullPlan) -> bool:
        return self._useful.get(id(plan), False)

    def prune(self) -> None:
        """Mark plans that drop something (themselves or below); cut the others away."""
        changed = True
        while changed:
            changed = False
            for plan in self.plans:
                if self._useful.get(id(plan)):
                    continue
                children = [*plan.props.values(), plan.items, plan.values]
                if plan.drop or any(c is not None and self._useful.get(id(c)) for c in children):
                    self._useful[id(plan)] = True
                    changed = True
        for plan in self.plans:
            plan.props = {k: c for k, c in plan.props.items() if self.useful(c)}
            if plan.items is not None and not self.useful(plan.items):
                plan.items = None
            if plan.values is not None and not self.useful(plan.values):
                plan.values = None
