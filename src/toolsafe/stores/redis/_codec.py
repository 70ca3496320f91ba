"""How the Redis store encodes cached values: JSON (only plain data that comes back the
same) or, when chosen, pickle. A one-byte tag says which, so a reader never
unpickles what was written as JSON."""

from __future__ import annotations

import json
import pickle
from typing import Any

__all__ = ["dump_value", "load_value"]


def dump_value(value: Any, serializer: str) -> bytes | None:
    """The cache entry for ``value``, or None when it cannot be stored faithfully."""
    if serializer == "pickle":
        try:
            return b"p" + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            return None
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    if json.loads(text) != value or not _plain(value):
        return None  # would not come back as the same value (tuples, int keys, ...)
    return b"j" + text.encode("utf-8")


def load_value(blob: bytes, serializer: str) -> Any:
    """The value of a cache entry (pickle only when this store writes pickle)."""
    kind, body = blob[:1], blob[1:]
    if kind == b"j":
        return json.loads(body)
    if kind == b"p" and serializer == "pickle":
        return pickle.loads(body)
    raise ValueError("unknown cache entry encoding")


def _plain(value: Any, depth: int = 0) -> bool:
    """True for JSON-native data (no tuples, no non-str keys) that JSON gives back as is."""
    if depth > 100:
        return False
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    if isinstance(value, list):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False
