"""Signatures and docstrings to argument models; argument models to the schemas models use.

Everything here runs once, at definition, and reports every problem together.
Validation itself is pydantic's (strict by default); this module only decides
what the model is and how its JSON Schema is exported for OpenAI, Anthropic and MCP.
"""

from __future__ import annotations

import copy
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.fields import FieldInfo

from toolsafe.errors import ConfigurationError

__all__ = [
    "ParsedDoc",
    "SignatureModel",
    "contract_problems",
    "export_name",
    "model_from_signature",
    "parse_docstring",
    "signature_for_schema",
    "strict_schema",
]

_EXPORT_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_RESERVED = set(dir(BaseModel))


def export_name(name: str) -> str:
    """A name OpenAI and Anthropic accept (``^[a-zA-Z0-9_-]{1,64}$``); dots become ``_``."""
    cleaned = _EXPORT_NAME.sub("_", name)[:64]
    return cleaned or "tool"


# --------------------------------------------------------------------------- docstrings


@dataclass(frozen=True)
class ParsedDoc:
    description: str
    params: dict[str, str]


def parse_docstring(doc: str | None) -> ParsedDoc:
    """Split a Google, NumPy, Sphinx or Epydoc docstring into a description and per-param text."""
    if not doc:
        return ParsedDoc("", {})
    import docstring_parser  # light, pure Python; kept lazy so import toolsafe stays fast

    parsed = docstring_parser.parse(inspect.cleandoc(doc))
    parts = [p for p in (parsed.short_description, parsed.long_description) if p]
    description = "\n\n".join(parts).strip()
    params = {p.arg_name: (p.description or "").strip() for p in parsed.params if p.arg_name}
    return ParsedDoc(description, params)


# --------------------------------------------------------------------------- signatures


@dataclass(frozen=True)
class SignatureModel:
    """The argument model of a callable, and how to call it with validated arguments."""

    model: type[BaseModel]
    #: Parameter names passed positionally (positional-only parameters), in order.
    positional: tuple[str, ...]
    #: Name of a parameter that receives the CallContext, if any.
    context_param: str | None
    #: field name in the model -> parameter name in the function (differs for reserved names)
    field_to_param: dict[str, str]


def _is_context_annotation(annotation: Any) -> bool:
    from toolsafe._call import CallContext

    return annotation is CallContext or (
        isinstance(annotation, str) and annotation.split(".")[-1] == "CallContext"
    )


def model_from_signature(
    fn: Callable[..., Any],
    *,
    model_name: str,
    param_docs: Mapping[str, str] | None = None,
    strict: bool = True,
    skip_first: bool = False,
) -> SignatureModel:
    """Build a pydantic model from ``fn``'s parameters. Raises ConfigurationError with all problems."""
    problems: list[str] = []
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError([f"cannot read the signature: {exc}"], subject=model_name) from exc
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # unresolved forward references and the like
        problems.append(f"cannot resolve type hints: {exc}")
        hints = {}
    docs = dict(param_docs or {})
    fields: dict[str, Any] = {}
    positional: list[str] = []
    field_to_param: dict[str, str] = {}
    context_param: str | None = None
    params = list(sig.parameters.values())
    if skip_first and params:
        params = params[1:]
    for param in params:
        annotation = hints.get(param.name, param.annotation)
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            problems.append(f"parameter '*{param.name}': *args cannot be expressed in JSON Schema")
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            problems.append(
                f"parameter '**{param.name}': **kwargs cannot be expressed in JSON Schema"
            )
            continue
        if _is_context_annotation(annotation):
            context_param = param.name
            continue
        if annotation is inspect.Parameter.empty:
            problems.append(
                f"parameter '{param.name}' has no type annotation: the model cannot know what to send"
            )
            continue
        problem = _json_schema_problem(param.name, annotation)
        if problem:
            problems.append(problem)
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        field_name = param.name
        extra: dict[str, Any] = {}
        if param.name in _RESERVED or param.name.startswith("model_"):
            field_name = f"p_{param.name}"
            extra["alias"] = param.name
        description = docs.get(param.name)
        if description and not _annotated_description(annotation):
            # never description=None: it would erase Annotated[..., Field(description=...)]
            extra["description"] = description
        info = Field(default, **extra)
        fields[field_name] = (annotation, info)
        field_to_param[field_name] = param.name
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            positional.append(param.name)
    if problems:
        raise ConfigurationError(problems, subject=model_name)
    config = ConfigDict(
        extra="forbid",
        strict=strict,
        arbitrary_types_allowed=False,
        populate_by_name=True,
        title=model_name,
    )
    try:
        model = create_model(model_name, __config__=config, **fields)
        model.model_json_schema()
    except Exception as exc:
        raise ConfigurationError(
            [f"cannot build the argument model: {exc}"], subject=model_name
        ) from exc
    return SignatureModel(model, tuple(positional), context_param, field_to_param)


def signature_for_schema(
    fn: Callable[..., Any],
    model: type[BaseModel],
    *,
    subject: str,
    warnings: list[str] | None = None,
    enforce: bool = True,
) -> SignatureModel:
    """Check a run method against the ``args_schema`` that describes it; how to call it.

    The schema gives the types, so unannotated parameters and ``**kwargs`` are
    fine here. What must agree: every schema field reaches a parameter (by name,
    or through ``**kwargs``), every required parameter is a schema field, and
    required-ness and simple types match. Every problem is reported together.

    Harmless disagreements (required-ness: calls get every field, defaults filled
    in) go to ``warnings`` instead. With ``enforce=False``
    (the ``contract="warn"`` opt-out for code the user cannot edit) every
    disagreement is a warning; only what makes the schema unusable still raises.
    """
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError([f"cannot read the signature: {exc}"], subject=subject) from exc
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolved forward references: the schema has the types anyway
        hints = {}
    problems: list[str] = []
    schema_fields = {(info.alias or name): info for name, info in model.model_fields.items()}
    for key, info in schema_fields.items():
        problem = _json_schema_problem(key, info.annotation, where="args_schema field")
        if problem:
            problems.append(problem)
    params: dict[str, inspect.Parameter] = {}
    takes_kwargs = False
    positional: list[str] = []
    context_param: str | None = None
    for param in sig.parameters.values():
        annotation = hints.get(param.name, param.annotation)
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue  # never filled: tools are called with named arguments
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            takes_kwargs = True
            continue
        if _is_context_annotation(annotation):
            context_param = param.name
            continue
        params[param.name] = param
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            positional.append(param.name)
    code = {
        name: (param.default is inspect.Parameter.empty, hints.get(name))
        for name, param in params.items()
    }
    harmless: list[str] = []
    disagreements = _contract(schema_fields, code, takes_kwargs=takes_kwargs, harmless=harmless)
    if enforce:
        problems.extend(disagreements)
    else:
        harmless.extend(disagreements)
    if warnings is not None:
        warnings.extend(harmless)
    if not problems:
        try:
            model.model_json_schema()
        except Exception as exc:
            problems.append(f"args_schema cannot be exported as JSON Schema: {exc}")
    if problems:
        raise ConfigurationError(problems, subject=subject)
    field_to_param = {name: (info.alias or name) for name, info in model.model_fields.items()}
    return SignatureModel(model, tuple(positional), context_param, field_to_param)


def contract_problems(
    schema: type[BaseModel], sig: SignatureModel, *, harmless: list[str] | None = None
) -> list[str]:
    """Disagreements between an ``args_schema`` and a run method's signature model.

    With ``harmless`` given, the disagreements no call can suffer from go there.
    """
    schema_fields = {(info.alias or n): info for n, info in schema.model_fields.items()}
    code = {
        sig.field_to_param.get(n, n): (info.is_required(), info.annotation)
        for n, info in sig.model.model_fields.items()
    }
    return _contract(schema_fields, code, takes_kwargs=False, harmless=harmless)


def _contract(
    schema_fields: Mapping[str, Any],
    code: Mapping[str, tuple[bool, Any]],
    *,
    takes_kwargs: bool,
    harmless: list[str] | None = None,
) -> list[str]:
    """Compare schema fields with parameters (name -> (required, annotation)).

    Required-ness disagreements are harmless (every call passes every validated
    field, the schema's defaults filled in): they go to ``harmless`` when given, to
    the problems otherwise. Names and types that disagree make calls crash.
    """
    problems: list[str] = []
    for key, info in schema_fields.items():
        if key not in code:
            if not takes_kwargs:
                problems.append(
                    f"args_schema declares '{key}' but the run method has no parameter "
                    f"'{key}'" + _closest_hint(key, code)
                )
            continue
        code_required, coded = code[key]
        if info.is_required() and not code_required:
            (harmless if harmless is not None else problems).append(
                f"'{key}' is required in args_schema but has a default in the run method"
            )
        elif not info.is_required() and code_required:
            # toolsafe (and CrewAI) pass every validated field, defaults filled in
            (harmless if harmless is not None else problems).append(
                f"'{key}' is optional in args_schema but required by the run method "
                "(the schema's default is passed)"
            )
        declared = info.annotation
        if (
            isinstance(declared, type)
            and isinstance(coded, type)
            and not issubclass(declared, coded)
            and not issubclass(coded, declared)
            and not (coded is float and declared is int)
        ):
            problems.append(
                f"'{key}' is {declared.__name__} in args_schema but {coded.__name__} "
                "in the run method"
            )
    for name, (required, _) in code.items():
        if name not in schema_fields and required:
            problems.append(
                f"the run method requires '{name}' but args_schema does not declare it"
                + _closest_hint(name, schema_fields)
            )
    return problems


def _closest_hint(name: str, candidates: Mapping[str, Any]) -> str:
    import difflib

    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.0)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _annotated_description(annotation: Any) -> bool:
    """True when ``Annotated[..., Field(description=...)]`` already describes the parameter."""
    if typing.get_origin(annotation) is not typing.Annotated:
        return False
    return any(
        isinstance(meta, FieldInfo) and bool(meta.description)
        for meta in getattr(annotation, "__metadata__", ())
    )


def _json_schema_problem(name: str, annotation: Any, *, where: str = "parameter") -> str | None:
    try:
        TypeAdapter(annotation).json_schema()
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        shown = getattr(annotation, "__name__", None) or repr(annotation)
        return (
            f"{where} '{name}' has type {shown}, which cannot be expressed in JSON Schema ({text})"
        )
    return None


# --------------------------------------------------------------------------- export


def clean_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Drop pydantic's titles (noise to a model); say that objects are closed.

    Validation rejects unknown keys in every object that declares properties
    (unless it explicitly allows more), so the exported schema says so too.
    """

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "title" and isinstance(value, str):
                    continue
                if key in _SCHEMA_MAPS and isinstance(value, dict):
                    out[key] = {name: walk(sub) for name, sub in value.items()}
                else:
                    out[key] = walk(value)
            if isinstance(out.get("properties"), dict) and out["properties"]:
                out.setdefault("additionalProperties", False)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result = walk(copy.deepcopy(dict(schema)))
    result.setdefault("type", "object")
    result.setdefault("properties", {})
    return typing.cast(dict[str, Any], result)


_STRICT_DROP = {"default", "title"}
_SCHEMA_MAPS = {"properties", "$defs", "definitions", "patternProperties"}


def strict_schema(schema: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """OpenAI strict-mode form of ``schema`` and whether strict mode can be honoured.

    Every object gets ``additionalProperties: false`` and lists all its properties
    as required; properties that were optional become nullable (the validator
    treats an explicit null for them as "not given"). Free-form objects
    (``dict[str, X]``) cannot be strict; the second value is then False.
    """
    compatible = True

    def nullable(node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node or "enum" in node or "const" in node:
            if "enum" in node and None not in node["enum"]:
                node = dict(node)
                node["enum"] = [*node["enum"], None]
                if isinstance(node.get("type"), str):
                    node["type"] = [node["type"], "null"]
                return node
            return {"anyOf": [node, {"type": "null"}]}
        if "anyOf" in node:
            if not any(alt.get("type") == "null" for alt in node["anyOf"]):
                node = dict(node)
                node["anyOf"] = [*node["anyOf"], {"type": "null"}]
            return node
        kind = node.get("type")
        if isinstance(kind, str):
            if kind != "null":
                node = dict(node)
                node["type"] = [kind, "null"]
            return node
        if isinstance(kind, list):
            if "null" not in kind:
                node = dict(node)
                node["type"] = [*kind, "null"]
            return node
        return {"anyOf": [node, {"type": "null"}]}

    def walk(node: Any) -> Any:
        nonlocal compatible
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _STRICT_DROP:
                continue
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: walk(sub) for name, sub in value.items()}
            else:
                out[key] = walk(value)
        is_object = out.get("type") == "object" or "properties" in out
        if is_object:
            props: dict[str, Any] = out.get("properties", {})
            extra = out.get("additionalProperties")
            if isinstance(extra, dict) or (extra is True) or (not props and extra is None):
                compatible = False
            required = set(node.get("required", []))
            for key, value in list(props.items()):
                if key not in required:
                    props[key] = nullable(value)
            out["properties"] = props
            out["required"] = list(props)
            out["additionalProperties"] = False
        return out

    result = walk(copy.deepcopy(dict(schema)))
    return result, compatible
