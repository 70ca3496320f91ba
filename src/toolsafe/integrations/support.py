"""What every framework adapter needs beyond toolsafe's public API (for adapter authors).

An adapter only translates: it turns the framework's tools into toolsafe ``Tool``s
and the framework's calls into ``Runtime.call``. The steps every adapter shares
live here, so that each is written once and behaves the same in every adapter:

- ``split_policy`` and ``runtime_for``: the one way adapters take policies. Tool
  options (``timeout=``, ``retry=``, ...) apply to the tools being wrapped; runtime
  options (``listeners=``, ``backend=``, ...) make the runtime when none is given.
- ``register``: the one reconciliation rule between tools and a runtime's
  registrations (see its docstring); ``resolve_tools`` takes "some tools" in a
  framework's many shapes (Tools, functions, instances, a Runtime, names) through
  it in one call.
- ``USAGE_LIMIT_EXCEEDED``: the error type of a call past ``max_calls=`` (a
  framework's own usage limit, mapped to that option, reports its refusals so).
- ``strict_model``, ``is_stub`` and ``contract_findings``: how a framework's
  ``args_schema`` and run method become a toolsafe tool.
- ``new_call_id``, ``safe_str`` and ``utf8_safe``: a call id when the framework gave
  none, and a framework's text made safe to log and to send (no lone surrogates).

Adapters import from ``toolsafe`` and from this module only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from typing import Any

from pydantic import BaseModel

import toolsafe
from toolsafe._call import new_call_id
from toolsafe._runtime import Runtime
from toolsafe._schema import contract_problems, model_from_signature
from toolsafe._text import safe_str, utf8_safe
from toolsafe._tool import Tool, ToolOptions, _is_not_implemented, _strict_subclass
from toolsafe.errors import ConfigurationError, UnknownTool
from toolsafe.policies.usage import USAGE_LIMIT_EXCEEDED

__all__ = [
    "TOOL_OPTIONS",
    "USAGE_LIMIT_EXCEEDED",
    "contract_findings",
    "is_stub",
    "new_call_id",
    "register",
    "resolve_tools",
    "runtime_for",
    "runtime_problems",
    "safe_str",
    "split_policy",
    "strict_model",
    "utf8_safe",
]

#: Names of the per-tool options; every other policy keyword is a runtime option.
TOOL_OPTIONS = frozenset(f.name for f in fields(ToolOptions)) - {"extra"}


def split_policy(policy: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(tool options, runtime options)`` of an adapter's ``**policy`` keywords."""
    tool_opts = {k: v for k, v in policy.items() if k in TOOL_OPTIONS}
    runtime_opts = {k: v for k, v in policy.items() if k not in TOOL_OPTIONS}
    return tool_opts, runtime_opts


def runtime_problems(runtime: Runtime | None, runtime_opts: Mapping[str, Any]) -> list[str]:
    """Runtime options given together with a runtime: they would be silently ignored."""
    if runtime is None:
        return []
    return [
        f"'{name}' is a runtime option: set it on the runtime you passed" for name in runtime_opts
    ]


def runtime_for(runtime: Runtime | None, runtime_opts: Mapping[str, Any]) -> Runtime:
    """``runtime``, or a new one made with ``runtime_opts`` (unknown ones are reported)."""
    problems = runtime_problems(runtime, runtime_opts)
    if problems:
        raise ConfigurationError(problems)
    return runtime if runtime is not None else Runtime(**runtime_opts)


def register(runtime: Runtime, tools: Iterable[Tool]) -> list[Tool]:
    """The registered Tool for each of ``tools``, registering the new ones together.

    One rule for every adapter: a tool whose name is free is registered; a tool
    already registered (the same ``Tool``, or one made from the same object, its
    ``origin``, with the same options) is the registration; anything else under a
    taken name is a clash. Every clash is reported in one ``ConfigurationError``.
    """
    batch = list(tools)
    resolved: list[Tool | None] = []
    fresh: list[tuple[int, Tool]] = []
    problems: list[str] = []
    for tool in batch:
        existing = _registered(runtime, tool.name)
        if existing is None:
            fresh.append((len(resolved), tool))
            resolved.append(None)
        elif existing is tool or _same_origin(existing, tool):
            if existing is not tool and existing.options != tool.options:
                problems.append(f"'{tool.name}' is already registered, with other options")
            resolved.append(existing)
        else:
            problems.append(f"another tool named '{tool.name}' is already registered")
            resolved.append(None)
    if problems:
        raise ConfigurationError(problems)
    if fresh:
        made = runtime.register_many(t for _, t in fresh)  # reports clashes among them at once
        for (index, _), tool in zip(fresh, made, strict=True):
            resolved[index] = tool
    return [t for t in resolved if t is not None]


def resolve_tools(
    items: Iterable[Any],
    runtime: Runtime | None,
    policy: Mapping[str, Any],
    *,
    convert: Callable[[Any], Any] = lambda item: item,
) -> tuple[Runtime, list[Tool]]:
    """The runtime to use and each item as a Tool registered in it, in order.

    ``items`` may hold Tools, functions, class-based tools, a Runtime (all its
    tools; it is the runtime when none is given) or names of tools registered in
    the runtime; ``convert`` turns a framework's own tool objects into something
    ``toolsafe.tool`` accepts. ``policy``: as ``split_policy``. Every problem of
    every item is reported together.
    """
    flat: list[Any] = []
    for item in items:
        if isinstance(item, Runtime):
            runtime = runtime or item
            flat.extend(item.tools)
        else:
            flat.append(item)
    tool_opts, runtime_opts = split_policy(policy)
    runtime = runtime_for(runtime, runtime_opts)
    problems: list[str] = []
    made: list[Tool] = []
    for item in flat:
        if isinstance(item, str):
            try:
                made.append(runtime.get(item))
            except UnknownTool as exc:
                problems.append(str(exc))
            continue
        try:
            one = toolsafe.tool(convert(item))
            made.append(one.with_options(**tool_opts) if tool_opts else one)
        except ConfigurationError as exc:
            label = exc.subject or _label(item)
            problems.extend(f"{label}: {p}" for p in exc.problems)
    if problems:
        raise ConfigurationError(problems)
    return runtime, register(runtime, made)


def _label(item: Any) -> str:
    name = getattr(item, "name", None)
    if isinstance(name, str) and name:
        return name
    return str(getattr(item, "__name__", type(item).__name__))


def _registered(runtime: Runtime, name: str) -> Tool | None:
    try:
        return runtime.get(name)
    except (KeyError, UnknownTool):
        return None


def _same_origin(existing: Tool, tool: Tool) -> bool:
    origin = getattr(tool, "origin", None)
    return origin is not None and getattr(existing, "origin", None) is origin


def strict_model(schema: type[BaseModel], *, strict: bool) -> type[BaseModel]:
    """A subclass of a framework's ``args_schema`` that rejects unknown keys."""
    return _strict_subclass(schema, strict=strict)


def is_stub(method: Any) -> bool:
    """Whether a run method is a base-class stub that only raises NotImplementedError."""
    return _is_not_implemented(method)


def contract_findings(
    schema: type[BaseModel], method: Callable[..., Any]
) -> tuple[list[str], list[str]]:
    """``(problems, harmless)``: how ``schema`` and a typed run method disagree.

    Problems make calls crash (names or types that differ); harmless findings do
    not (required-ness: every call passes every field, defaults filled in). A run
    method with ``**kwargs`` or untyped parameters has nothing precise to compare.
    """
    try:
        sig = model_from_signature(method, model_name="Body", strict=False)
    except ConfigurationError:
        return [], []
    harmless: list[str] = []
    return contract_problems(schema, sig, harmless=harmless), harmless
