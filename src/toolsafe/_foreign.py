"""Foreign tool definitions (OpenAI, Anthropic, MCP, BFCL) to a JSON Schema and a validator.

Definitions found in the wild rarely follow JSON Schema to the letter. BFCL, the
Berkeley Function Calling Leaderboard, writes ``"type": "dict"``, ``float``,
``tuple`` and ``any``, string-typed defaults (``"false"``) and ``"optional":
true`` on properties. ``normalize_schema`` turns such a schema into standard
JSON Schema once, at definition, so that every export and the validator agree;
``model_from_json_schema`` then builds a strict pydantic model from it.
"""

from __future__ import annotations

import ast
import copy
import json
import keyword
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, cast

from pydantic import BaseModel, ConfigDict, Field, create_model

from toolsafe.errors import ConfigurationError

__all__ = ["model_from_json_schema", "normalize_schema", "parse_definition"]

# --------------------------------------------------------------------------- definitions


def parse_definition(definition: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """``(name, description, parameters schema)`` of an OpenAI, Anthropic, MCP or BFCL tool.

    Recognised shapes: OpenAI Chat (``{"type": "function", "function": {...}}``),
    OpenAI Responses and bare function objects (``name`` + ``parameters``, which is
    also BFCL's shape), Anthropic (``input_schema``) and MCP (``inputSchema``).
    A definition without parameters describes a tool that takes none.
    """
    if not isinstance(definition, Mapping):
        raise ConfigurationError(
            [f"a tool definition must be a JSON object, got {type(definition).__name__}"]
        )
    body: Mapping[str, Any] = definition
    inner = definition.get("function")
    if isinstance(inner, Mapping):
        body = inner  # OpenAI Chat Completions
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(
            ["the tool definition has no name (expected a non-empty 'name' string)"]
        )
    description = body.get("description") or ""
    if not isinstance(description, str):
        description = str(description)
    for key in ("parameters", "input_schema", "inputSchema", "parametersJsonSchema"):
        if key in body:
            params = body[key]
            break
    else:
        params = None
    if params is None:
        params = {"type": "object", "properties": {}}
    if not isinstance(params, Mapping):
        raise ConfigurationError(
            [f"the parameters of '{name}' must be a JSON Schema object, got {params!r:.60}"],
            subject=name,
        )
    return name, description, dict(params)


# --------------------------------------------------------------------------- normalization

_TYPE_ALIASES = {
    "dict": "object",
    "map": "object",
    "float": "number",
    "double": "number",
    "tuple": "array",
    "list": "array",
    "int": "integer",
    "long": "integer",
    "str": "string",
    "bool": "boolean",
    "none": "null",
}
#: Keywords whose value is a map of name -> schema.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
#: Keywords whose value is a schema.
_SCHEMA_ONE = ("additionalProperties", "not", "contains", "if", "then", "else", "propertyNames")
#: Keywords whose value is a list of schemas.
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_NULL_WORDS = frozenset({"none", "null", "nil", ""})
_INT_TEXT = re.compile(r"[+-]?\d+")


def normalize_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Standard JSON Schema for a foreign (e.g. BFCL) parameters schema. The input is not changed.

    ``dict``/``float``/``tuple`` become ``object``/``number``/``array``; ``any``
    drops the type; defaults written as strings are converted to the declared
    type (or dropped when they cannot be); numeric enums written as strings become
    numbers; ``"optional": true`` and OpenAPI's ``nullable`` are honoured; names
    listed in ``required`` but not declared become untyped properties. Objects
    that declare properties are closed (``additionalProperties: false``) unless
    they say otherwise: unknown keys are rejected at every level.
    """
    root = _normalize(schema)
    if not isinstance(root, dict):
        root = {}
    for key in ("$schema", "$id"):  # MCP servers often add them; model APIs reject them
        root.pop(key, None)
    if "type" not in root and "properties" not in root and "$ref" not in root:
        root["type"] = "object"
    if root.get("type", "object") != "object":
        raise ConfigurationError(
            [f"tool parameters must be an object schema, got type {root['type']!r}"]
        )
    if root.get("type") == "object":
        root.setdefault("properties", {})
        root.setdefault("additionalProperties", False)
    return root


def _normalize(node: Any) -> Any:
    if node is True:
        return {}
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, Mapping):
            out[key] = {name: _normalize(sub) for name, sub in value.items()}
        elif key in _SCHEMA_ONE and isinstance(value, Mapping):
            out[key] = _normalize(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_normalize(sub) for sub in value]
        elif key == "items":
            if isinstance(value, list):  # draft-4 tuple form
                out["prefixItems"] = [_normalize(sub) for sub in value]
            else:
                out[key] = _normalize(value)
        elif key not in ("optional", "nullable"):
            out[key] = copy.deepcopy(value)
    _normalize_type(out, nullable=node.get("nullable") is True)
    _normalize_enum(out)
    if "default" in out:
        ok, value = _coerce_default(out["default"], out)
        if ok and value is not None:
            out["default"] = value
        else:
            del out["default"]
    if out.get("type") == "object" or "properties" in out:
        _normalize_object(out, node)
    return out


def _normalize_type(out: dict[str, Any], *, nullable: bool) -> None:
    kind = out.get("type")
    if kind is None:
        return
    kinds = kind if isinstance(kind, list) else [kind]
    mapped: list[str] = []
    for item in kinds:
        word = _TYPE_ALIASES.get(str(item).lower(), str(item).lower())
        if word == "any":
            del out["type"]
            return
        if word not in mapped:
            mapped.append(word)
    if nullable and "null" not in mapped:
        mapped.append("null")
    out["type"] = mapped[0] if len(mapped) == 1 else mapped


def _normalize_enum(out: dict[str, Any]) -> None:
    values = out.get("enum")
    if not isinstance(values, list):
        return
    kind = out.get("type")
    if kind in ("integer", "number"):
        converted = [_number(v, integer=kind == "integer") for v in values]
        if all(ok for ok, _ in converted):
            out["enum"] = [v for _, v in converted]
    elif kind == "string" and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    ):
        out["enum"] = [str(v) for v in values]


def _number(value: Any, *, integer: bool) -> tuple[bool, Any]:
    if isinstance(value, bool):
        return False, value
    if isinstance(value, int):
        return True, value
    if isinstance(value, float):
        if integer:
            return (True, int(value)) if value.is_integer() else (False, value)
        return True, value
    if isinstance(value, str):
        text = value.strip()
        if _INT_TEXT.fullmatch(text):
            return True, int(text)
        if not integer:
            try:
                number = float(text)
            except ValueError:
                return False, value
            if math.isfinite(number):
                return True, number
    return False, value


def _coerce_default(value: Any, schema: Mapping[str, Any]) -> tuple[bool, Any]:
    """``(True, value)`` in the declared type, ``(False, _)`` when it cannot be converted."""
    kind = schema.get("type")
    if not isinstance(kind, str):
        return True, value
    if isinstance(value, str) and kind != "string" and value.strip().lower() in _NULL_WORDS:
        return True, None  # "None" as a default means: no default
    if kind == "boolean":
        if isinstance(value, bool):
            return True, value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return True, value.strip().lower() == "true"
        return False, value
    if kind in ("integer", "number"):
        return _number(value, integer=kind == "integer")
    if kind == "string":
        return isinstance(value, str), value
    if kind == "null":
        return value is None, value
    want = list if kind == "array" else dict if kind == "object" else None
    if want is None:
        return True, value
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, str):
        parsed = _parse_literal(value)
        if parsed is None:
            return False, value
        value = parsed
    return isinstance(value, want), value


def _parse_literal(text: str) -> Any:
    """A JSON or Python literal (list/dict) read from text, or None."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    if len(text) > 100_000:
        return None
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value


def _normalize_object(out: dict[str, Any], original: Mapping[str, Any]) -> None:
    out["type"] = out.get("type", "object")
    raw_props = original.get("properties")
    props: dict[str, Any] = out.get("properties") or {}
    declared = bool(props)
    required: list[str] = []
    for name in out.get("required", ()) or ():
        if isinstance(name, str) and name not in required:
            required.append(name)
    optional: set[str] = set()
    listed = original.get("optional")
    if isinstance(listed, list):  # BFCL: "optional": ["name", ...] on the object
        optional.update(n for n in listed if isinstance(n, str))
    if isinstance(raw_props, Mapping):
        for name, sub in raw_props.items():
            if isinstance(sub, Mapping) and sub.get("optional") is True:
                optional.add(name)
    required = [n for n in required if n not in optional]
    for name in required:
        if name not in props:
            props[name] = {}  # required but undeclared: any value
    out["properties"] = props
    if required:
        out["required"] = required
    else:
        out.pop("required", None)
    open_keys = "additionalProperties" in out or "patternProperties" in out
    if not open_keys and (declared or required):
        out["additionalProperties"] = False
    if not props:
        out.pop("properties")


# --------------------------------------------------------------------------- model building

_RESERVED = frozenset(dir(BaseModel))
_PYTHON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "null": None,
}


def model_from_json_schema(
    schema: Mapping[str, Any], *, name: str, strict: bool = True
) -> type[BaseModel]:
    """A pydantic model validating what ``schema`` (an object schema) describes.

    Strict by default: ``"3"`` is not an integer. Objects that declare properties
    reject unknown keys; property names that are not Python identifiers or clash
    with BaseModel attributes are carried by aliases, so validation and dumping
    use the original names.
    """
    builder = _ModelBuilder(schema, strict=strict)
    try:
        node: Mapping[str, Any] = schema
        if isinstance(schema.get("$ref"), str):
            node = builder.resolve(schema["$ref"])
        root = builder.object_model(node, name)
        builder.finish()
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(
            [f"cannot build a validator from the schema: {exc}"], subject=name
        ) from exc
    return root


class _ModelBuilder:
    def __init__(self, root: Mapping[str, Any], *, strict: bool) -> None:
        self.root = root
        self.strict = strict
        self.models: dict[str, type[BaseModel]] = {}
        self.by_ref: dict[str, Any] = {}
        self.building: dict[str, str] = {}
        self.pending: list[type[BaseModel]] = []

    # -- naming

    def _unique(self, name: str) -> str:
        base = re.sub(r"\W", "_", name) or "Model"
        if base[0].isdigit():
            base = "M" + base
        candidate, n = base, 1
        while candidate in self.models or candidate in self.building.values():
            n += 1
            candidate = f"{base}{n}"
        return candidate

    # -- references

    def resolve(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#"):
            raise ConfigurationError([f"only local $ref is supported, got {ref!r}"])
        node: Any = self.root
        for part in ref.lstrip("#").strip("/").split("/") if ref.strip("#/") else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise ConfigurationError([f"$ref {ref!r} does not resolve"])
        if not isinstance(node, Mapping):
            raise ConfigurationError([f"$ref {ref!r} does not point to a schema"])
        return node

    def ref_type(self, ref: str, hint: str) -> Any:
        if ref in self.by_ref:
            return self.by_ref[ref]
        if ref in self.building:
            return self.building[ref]  # a recursive reference: resolved by model_rebuild
        target = self.resolve(ref)
        label = ref.rsplit("/", 1)[-1] or hint
        if _is_closed_object(target):
            model_name = self._unique(label)
            self.building[ref] = model_name
            try:
                result: Any = self.object_model(target, model_name)
            finally:
                del self.building[ref]
        else:
            self.building[ref] = "Any"
            try:
                result = self.annotation(target, label)
            finally:
                del self.building[ref]
        self.by_ref[ref] = result
        return result

    # -- types

    def annotation(self, node: Any, hint: str) -> Any:
        if node is True or node == {}:
            return Any
        if node is False:
            return _Never
        if not isinstance(node, Mapping):
            return Any
        if "$ref" in node and isinstance(node["$ref"], str):
            return self.ref_type(node["$ref"], hint)
        if "const" in node:
            return _literal([node["const"]])
        if isinstance(node.get("enum"), list) and node["enum"]:
            return _literal(node["enum"])
        for key in ("anyOf", "oneOf"):
            alternatives = node.get(key)
            if isinstance(alternatives, list) and alternatives:
                types = [
                    self.annotation(_with_siblings(alt, node, key), f"{hint}_{i}")
                    for i, alt in enumerate(alternatives)
                ]
                return _union(types)
        all_of = node.get("allOf")
        if isinstance(all_of, list) and all_of:
            return self.annotation(self._merge_all_of(node, all_of), hint)
        kind = node.get("type")
        if isinstance(kind, list):
            return _union([self.annotation({**node, "type": k}, hint) for k in kind])
        if kind is None and ("properties" in node or "additionalProperties" in node):
            kind = "object"
        if kind is None and ("items" in node or "prefixItems" in node):
            kind = "array"
        if kind == "object":
            return self.object_type(node, hint)
        if kind == "array":
            return self.array_type(node, hint)
        if kind in _PYTHON_TYPES:
            base = _PYTHON_TYPES[kind]
            constraints = _constraints(node, kind)
            return Annotated[base, Field(**constraints)] if constraints else base
        return Any

    def _merge_all_of(self, node: Mapping[str, Any], parts: list[Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for part in parts:
            if isinstance(part, Mapping) and "$ref" in part:
                part = self.resolve(part["$ref"])
            if not isinstance(part, Mapping):
                continue
            for key, value in part.items():
                if key == "properties":
                    merged.setdefault("properties", {}).update(value)
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    def array_type(self, node: Mapping[str, Any], hint: str) -> Any:
        items = node.get("items")
        if isinstance(node.get("prefixItems"), list):
            item: Any = Any  # positional item types: accept the array, keep it a list
        elif items is None or items is True:
            item = Any
        else:
            item = self.annotation(items, f"{hint}_item")
        constraints: dict[str, Any] = {}
        if isinstance(node.get("minItems"), int):
            constraints["min_length"] = node["minItems"]
        if isinstance(node.get("maxItems"), int):
            constraints["max_length"] = node["maxItems"]
        base = list[item]  # type: ignore[valid-type]
        return Annotated[base, Field(**constraints)] if constraints else base

    def object_type(self, node: Mapping[str, Any], hint: str) -> Any:
        if _is_closed_object(node) or node.get("additionalProperties") is False:
            return self.object_model(node, self._unique(hint))
        extra = node.get("additionalProperties")
        if isinstance(extra, Mapping) and extra:
            return dict[str, self.annotation(extra, f"{hint}_value")]  # type: ignore[misc]
        return dict[str, Any]

    def object_model(self, node: Mapping[str, Any], model_name: str) -> type[BaseModel]:
        props = node.get("properties") or {}
        if not isinstance(props, Mapping):
            props = {}
        required = {n for n in node.get("required", ()) or () if isinstance(n, str)}
        for name in required:
            if name not in props:
                props = {**props, name: {}}
        extra = node.get("additionalProperties")
        open_object = extra not in (None, False) or "patternProperties" in node
        fields: dict[str, Any] = {}
        used: set[str] = set()
        for index, (prop, sub) in enumerate(props.items()):
            field_name = _field_name(prop, index, used)
            used.add(field_name)
            annotation = self.annotation(sub, f"{model_name}_{prop}")
            info: dict[str, Any] = {}
            if field_name != prop:
                info["alias"] = prop
            if isinstance(sub, Mapping) and isinstance(sub.get("description"), str):
                info["description"] = sub["description"]
            if prop in required:
                default: Any = ...
            else:
                default = sub.get("default") if isinstance(sub, Mapping) else None
            fields[field_name] = (annotation, Field(default, **info))
        config = ConfigDict(
            extra="allow" if open_object else "forbid",
            strict=self.strict,
            protected_namespaces=(),
            regex_engine="python-re",
            title=model_name,
        )
        model = cast(
            "type[BaseModel]",
            create_model(model_name, __config__=config, **fields),
        )
        self.models[model_name] = model
        self.pending.append(model)
        return model

    def finish(self) -> None:
        """Resolve recursive references now that every model exists."""
        namespace: dict[str, Any] = {"Any": Any, **self.models}
        for model in self.pending:
            if not model.__pydantic_complete__:
                model.model_rebuild(_types_namespace=namespace)


def _is_closed_object(node: Any) -> bool:
    if not isinstance(node, Mapping):
        return False
    kind = node.get("type")
    is_object = kind == "object" or (kind is None and "properties" in node)
    return is_object and bool(node.get("properties") or node.get("required"))


def _with_siblings(alt: Any, parent: Mapping[str, Any], key: str) -> Any:
    """An anyOf alternative, inheriting a sibling ``type`` when it has none."""
    if isinstance(alt, Mapping) and "type" not in alt and "$ref" not in alt and "type" in parent:
        return {**alt, "type": parent["type"]}
    return alt


def _literal(values: list[Any]) -> Any:
    hashable = [v for v in values if isinstance(v, (str, int, float, bool)) or v is None]
    if len(hashable) != len(values):
        return Any
    return Literal[tuple(hashable)]


def _union(types: list[Any]) -> Any:
    unique: list[Any] = []
    for t in types:
        if t is Any:
            return Any
        if t not in unique:
            unique.append(t)
    if len(unique) == 1:
        return unique[0]
    return Union[tuple(unique)]


def _constraints(node: Mapping[str, Any], kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kind == "string":
        for key, arg in (("minLength", "min_length"), ("maxLength", "max_length")):
            if isinstance(node.get(key), int):
                out[arg] = node[key]
        if isinstance(node.get("pattern"), str):
            try:
                re.compile(node["pattern"])
            except re.error:
                pass
            else:
                out["pattern"] = node["pattern"]
    elif kind in ("integer", "number"):
        for key, arg in (
            ("minimum", "ge"),
            ("maximum", "le"),
            ("exclusiveMinimum", "gt"),
            ("exclusiveMaximum", "lt"),
            ("multipleOf", "multiple_of"),
        ):
            value = node.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[arg] = value
    return out


class _NeverModel(BaseModel):
    """Nothing validates against ``false``: an object with a required impossible field."""

    model_config = ConfigDict(extra="forbid")
    never: Literal["__never__"]


_Never: Any = _NeverModel


def _field_name(prop: str, index: int, used: set[str]) -> str:
    """A Python field name for a property; anything unusual gets a synthetic one."""
    if (
        prop.isidentifier()
        and not keyword.iskeyword(prop)
        and not prop.startswith("_")
        and not prop.startswith("model_")
        and prop not in _RESERVED
        and prop not in used
    ):
        return prop
    stem = re.sub(r"\W", "_", prop).strip("_") or "field"
    candidate = f"f{index}_{stem}"
    while candidate in used:
        candidate += "_"
    return candidate
