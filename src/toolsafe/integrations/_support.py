"""What every adapter needs from the runtime: the tools it was given, registered once.

Adapters take "some tools" in their framework's many shapes plus policy keywords,
and must end with toolsafe Tools registered in one Runtime. The rules, one place:

- ``policy`` keywords that are tool options (``timeout=``, ``retry=``, ...) apply to
  every tool given; the others are runtime options (``listeners=``, ``backend=``) and
  only make sense when the adapter makes the runtime itself;
- a tool already registered in ``runtime`` (the same Tool object, or a Tool made from
  the same function or instance) is reused, never registered twice;
- a different tool under a taken name, and every other problem of every tool, is
  reported together in one ``ConfigurationError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from typing import Any

from toolsafe import ConfigurationError, Runtime, Tool, ToolOptions, UnknownTool, tool

__all__ = ["TOOL_OPTIONS", "resolve_tools", "split_policy"]

#: Keywords that are tool options; everything else in ``**policy`` is a runtime option.
TOOL_OPTIONS = frozenset(f.name for f in fields(ToolOptions)) - {"extra"}


def split_policy(policy: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``policy`` as (tool options, runtime options)."""
    tool_opts = {k: v for k, v in policy.items() if k in TOOL_OPTIONS}
    runtime_opts = {k: v for k, v in policy.items() if k not in TOOL_OPTIONS}
    return tool_opts, runtime_opts


def resolve_tools(
    items: Iterable[Any],
    runtime: Runtime | None,
    policy: Mapping[str, Any],
    *,
    convert: Callable[[Any], Any] = lambda item: item,
) -> tuple[Runtime, list[Tool]]:
    """The runtime to use and each item as a Tool registered in it, in order.

    ``items`` may hold Tools, functions, class-based tools, a Runtime (all its
    tools) or names of tools registered in ``runtime``; ``convert`` turns a
    framework's own tool objects into something ``toolsafe.tool`` accepts.
    """
    flat: list[Any] = []
    for item in items:
        if isinstance(item, Runtime):
            runtime = runtime or item
            flat.extend(item.tools)
        else:
            flat.append(item)
    tool_opts, runtime_opts = split_policy(policy)
    problems: list[str] = []
    if runtime is not None and runtime_opts:
        problems.extend(
            f"'{name}' is a runtime option: set it on the runtime you passed"
            for name in sorted(runtime_opts)
        )
    if runtime is None:
        try:
            runtime = Runtime(**runtime_opts)
        except TypeError as exc:
            raise ConfigurationError([f"unknown option: {exc}"]) from None
    resolved: list[Tool | None] = []
    pending: list[tuple[int, Tool]] = []
    for item in flat:
        if isinstance(item, str):
            try:
                resolved.append(runtime.get(item))
            except UnknownTool as exc:
                problems.append(str(exc))
            continue
        try:
            original = convert(item)
            made = tool(original)
            if tool_opts:
                made = made.with_options(**tool_opts)
        except ConfigurationError as exc:
            label = exc.subject or _label(item)
            problems.extend(f"{label}: {p}" for p in exc.problems)
            continue
        existing = _registered(runtime, made, original)
        if existing is not None:
            resolved.append(existing)
            continue
        if _name_taken(runtime, made.name):
            problems.append(f"{made.name}: the runtime already has another tool of that name")
            continue
        pending.append((len(resolved), made))
        resolved.append(None)
    if problems:
        raise ConfigurationError(problems)
    if pending:
        registered = runtime.register_many(t for _, t in pending)
        for (index, _), done in zip(pending, registered, strict=True):
            resolved[index] = done
    return runtime, [t for t in resolved if t is not None]


def _registered(runtime: Runtime, made: Tool, item: Any) -> Tool | None:
    """The registered tool ``item`` already is, if any (same Tool, function or instance)."""
    try:
        existing = runtime.get(made.name)
    except UnknownTool:
        return None
    if existing is made or existing is item:
        return existing
    if existing.fn is not None and (existing.fn is item or existing.fn is made.fn):
        return existing
    if existing.instance is not None and (
        existing.instance is item or existing.instance is made.instance
    ):
        return existing
    return None


def _name_taken(runtime: Runtime, name: str) -> bool:
    try:
        runtime.get(name)
    except UnknownTool:
        return False
    return True


def _label(item: Any) -> str:
    name = getattr(item, "name", None)
    if isinstance(name, str) and name:
        return name
    return str(getattr(item, "__name__", type(item).__name__))
