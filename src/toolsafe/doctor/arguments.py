"""Arguments for stress runs: generated from a tool's JSON Schema (hypothesis), or recorded.

Generation is seeded, so two runs stress a tool with the same calls and their
reports can be compared. Values are realistic rather than adversarial (printable
text, numbers in 0..100 unless the schema bounds them, short lists): the goal is
to make concurrency bugs visible, not to fuzz parsers.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["generate_arguments", "load_calls_file", "strategy_for_schema"]

_ALPHABET = string.ascii_letters + string.digits + " -_.,é"
_MAX_TEXT = 24
_MAX_ITEMS = 4
_DEFAULT_MIN, _DEFAULT_MAX = 0, 100


def strategy_for_schema(schema: Mapping[str, Any], defs: Mapping[str, Any] | None = None) -> Any:
    """A hypothesis strategy producing values valid for ``schema`` (a JSON Schema subset)."""
    from hypothesis import strategies as st

    defs = defs if defs is not None else schema.get("$defs", schema.get("definitions", {}))
    assert defs is not None

    def build(node: Mapping[str, Any]) -> Any:
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = defs.get(ref.rsplit("/", 1)[-1])
            return build(target) if isinstance(target, Mapping) else st.none()
        if "const" in node:
            return st.just(node["const"])
        if isinstance(node.get("enum"), list) and node["enum"]:
            return st.sampled_from(node["enum"])
        for key in ("anyOf", "oneOf"):
            options = node.get(key)
            if isinstance(options, list) and options:
                return st.one_of([build(o) for o in options if isinstance(o, Mapping)])
        all_of = node.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
            return build(all_of[0])
        kind = node.get("type")
        if isinstance(kind, list):
            return st.one_of([build({**node, "type": k}) for k in kind])
        if kind == "string":
            return _string(node)
        if kind == "integer":
            low, high = _bounds(node, integer=True)
            return st.integers(low, high)
        if kind == "number":
            low, high = _bounds(node, integer=False)
            return st.floats(low, high, allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        if kind == "array":
            items = node.get("items")
            inner = build(items) if isinstance(items, Mapping) else st.text(_ALPHABET, max_size=8)
            low = int(node.get("minItems", 0))
            high = max(low, min(int(node.get("maxItems", _MAX_ITEMS)), low + _MAX_ITEMS))
            unique = bool(node.get("uniqueItems"))
            return st.lists(
                inner,
                min_size=low,
                max_size=high,
                unique_by=(lambda v: json.dumps(v, sort_keys=True)) if unique else None,
            )
        if kind == "object" or "properties" in node:
            props = node.get("properties") or {}
            required = set(node.get("required") or ())
            return st.fixed_dictionaries(
                {k: build(v) for k, v in props.items() if k in required},
                optional={k: build(v) for k, v in props.items() if k not in required},
            )
        return st.one_of(st.text(_ALPHABET, max_size=8), st.integers(0, 100), st.booleans())

    def _string(node: Mapping[str, Any]) -> Any:
        fmt = node.get("format")
        if fmt == "date":
            return st.dates().map(lambda d: d.isoformat())
        if fmt == "date-time":
            return st.datetimes().map(lambda d: d.isoformat())
        if fmt == "uuid":
            return st.uuids().map(str)
        if fmt == "email":
            return st.from_regex(r"[a-z]{1,8}@example\.com", fullmatch=True)
        if fmt in {"uri", "url"}:
            return st.from_regex(r"https://example\.com/[a-z]{1,8}", fullmatch=True)
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            return st.from_regex(pattern, fullmatch=True)
        low = int(node.get("minLength", 0))
        high = max(low, min(int(node.get("maxLength", _MAX_TEXT)), low + _MAX_TEXT))
        return st.text(_ALPHABET, min_size=low, max_size=high)

    return build(schema)


def _bounds(node: Mapping[str, Any], *, integer: bool) -> tuple[Any, Any]:
    step = 1 if integer else 1e-9
    low: float | None = node.get("minimum")
    high: float | None = node.get("maximum")
    if "exclusiveMinimum" in node:
        low = float(node["exclusiveMinimum"]) + step
    if "exclusiveMaximum" in node:
        high = float(node["exclusiveMaximum"]) - step
    if low is None and high is None:
        low, high = _DEFAULT_MIN, _DEFAULT_MAX
    elif low is None:
        assert high is not None
        low = min(_DEFAULT_MIN, high)
    elif high is None:
        high = max(_DEFAULT_MAX, low)
    assert low is not None and high is not None
    if integer:
        return math.ceil(low), math.floor(high)
    return float(low), float(high)


def generate_arguments(schema: Mapping[str, Any], count: int, *, seed: int = 0) -> list[Any]:
    """Up to ``count`` distinct argument sets for ``schema``, the same ones for the same seed."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    if not schema.get("properties") and schema.get("type", "object") == "object":
        return [{}]
    strategy = strategy_for_schema(schema)
    found: list[Any] = []
    seen: set[str] = set()

    @hypothesis_seed(seed)
    @settings(
        max_examples=max(count * 3, 10),
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        key = json.dumps(value, sort_keys=True, default=str)
        if key not in seen and len(found) < count:
            seen.add(key)
            found.append(value)

    collect()
    return found


def load_calls_file(path: Path, tool_names: set[str]) -> dict[str, list[Any]]:
    """Recorded calls from a JSONL file, grouped by tool name.

    Each line is an object with the tool's name (``tool`` or ``name``) and its
    arguments (``arguments``, ``args`` or ``input``: an object or JSON text).
    Lines for tools not in ``tool_names`` are ignored. Raises ValueError on a bad line.
    """
    calls: dict[str, list[Any]] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected an object per line")
            name = record.get("tool", record.get("name"))
            if not isinstance(name, str):
                raise ValueError(f"{path}:{number}: no tool name ('tool' or 'name')")
            arguments: Any = next(
                (record[k] for k in ("arguments", "args", "input") if k in record), {}
            )
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments)
                except json.JSONDecodeError as exc:
                    raise ValueError(
                        f"{path}:{number}: arguments are not JSON: {exc.msg}"
                    ) from None
            if name in tool_names:
                calls.setdefault(name, []).append(arguments)
    return calls
