"""Backends by name: ``Runtime(backend="thread" | "process" | "ray")``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolsafe.backends._base import Backend
from toolsafe.errors import ConfigurationError

__all__ = ["create", "register"]

_FACTORIES: dict[str, Callable[..., Backend]] = {}


def register(name: str, factory: Callable[..., Backend]) -> None:
    """Make ``Runtime(backend=name)`` build its backend with ``factory(**options)``."""
    _FACTORIES[name] = factory


def _thread(**options: Any) -> Backend:
    from toolsafe.backends.thread import DEFAULT_SYNC_WORKERS, ThreadBackend

    return ThreadBackend(
        options.get("sync_workers") or DEFAULT_SYNC_WORKERS,
        share=options.get("sync_share"),
        max_abandoned=options.get("max_abandoned"),
        on_event=options.get("on_event"),
    )


register("thread", _thread)


def _process(**options: Any) -> Backend:
    from toolsafe.backends.process import ProcessBackend

    return ProcessBackend(options.get("sync_workers"), on_event=options.get("on_event"))


register("process", _process)


def _ray(**options: Any) -> Backend:
    from toolsafe.backends.ray import RayBackend  # imports ray lazily, on first use

    return RayBackend(on_event=options.get("on_event"))


register("ray", _ray)


def create(name: str, **options: Any) -> Backend:
    factory = _FACTORIES.get(name)
    if factory is None:
        known = ", ".join(sorted(_FACTORIES))
        raise ConfigurationError([f"unknown backend '{name}' (known: {known})"])
    return factory(**options)
