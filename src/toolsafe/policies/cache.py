"""Result cache: opt-in per tool, kept in the runtime's store (never on the tool instance).

``cache=300`` (seconds) or ``cache=toolsafe.Cache(ttl=300)``. The key is the tool's
name plus the canonical JSON of its *validated* arguments (keys sorted), so
``{"a": 1, "b": 2}`` and ``{"b": 2, "a": 1}`` share an entry, and a repaired or
coerced argument hits the same entry as a clean one. Only results are cached,
never errors. A hit returns a copy: a caller that mutates it changes nothing
for the next one. Arguments that have no JSON form bypass the cache.

Concurrent misses of one key each run the tool (no single-flight).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from toolsafe._pipeline import Handler, PipelineEnv, Result
from toolsafe.errors import ConfigurationError
from toolsafe.observe import events as ev

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool

__all__ = ["Cache", "CacheHit", "CachePolicy", "as_cache", "cache_key"]


@dataclass(frozen=True, slots=True)
class Cache:
    """Cache a tool's results for ``ttl`` seconds."""

    ttl: float = 300.0

    def __post_init__(self) -> None:
        if not isinstance(self.ttl, (int, float)) or isinstance(self.ttl, bool) or self.ttl <= 0:
            raise ConfigurationError([f"Cache(ttl={self.ttl!r}): must be a number of seconds > 0"])


def as_cache(value: Any) -> Cache | None:
    """Read the ``cache=`` option: a Cache, a TTL in seconds, True (defaults), False/None."""
    if value is None or value is False:
        return None
    if isinstance(value, Cache):
        return value
    if value is True:
        return Cache()
    if isinstance(value, (int, float)):
        return Cache(ttl=float(value)) if value else None
    if isinstance(value, dict):
        return Cache(**value)
    raise ConfigurationError(
        [f"cache={value!r}: expected toolsafe.Cache(ttl=...), a TTL in seconds, True or False"]
    )


def cache_key(tool_name: str, arguments: dict[str, Any]) -> str | None:
    """``cache:<tool>:<sha256 of canonical JSON>``, or None when an argument has no JSON form."""
    from pydantic_core import to_jsonable_python

    try:
        text = json.dumps(
            to_jsonable_python(arguments),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except (TypeError, ValueError):
        return None
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"{tool_name}:{digest}"


@dataclass(frozen=True, slots=True)
class CacheHit(ev.Event):
    """The call was answered from the cache; the tool did not run."""

    key: str = ""


class CachePolicy:
    name = "cache"
    level: Literal["call"] = "call"

    def __init__(self, options: Cache) -> None:
        self.options = options

    def wrap(self, inner: Handler, *, tool: Tool, env: PipelineEnv) -> Handler:
        ttl = float(self.options.ttl)
        store = env.store
        clock = env.clock
        listeners = env.listeners
        name = tool.name

        async def cached(ctx: CallContext) -> Result:
            key = cache_key(name, ctx.arguments)
            if key is None:
                return await inner(ctx)
            try:
                found, value = await store.cache_get(key)
            except Exception:  # an unreachable cache is a miss
                found, value = False, None
            if found:
                if listeners:
                    ev.emit(listeners, CacheHit(ctx.call_id, name, clock.now(), key))
                return Result(value)
            result = await inner(ctx)
            if result.error is None:
                with contextlib.suppress(Exception):
                    await store.cache_set(key, result.value, ttl)
            return result

        return cached
