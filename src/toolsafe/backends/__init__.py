"""Backends run a tool body: ``thread`` (default), ``process``, ``ray``."""

from toolsafe.backends._base import AttemptTimeout, Backend
from toolsafe.backends.thread import ThreadBackend

__all__ = ["AttemptTimeout", "Backend", "ThreadBackend"]
