"""Stores hold what calls share: concurrency slots, rate-limit tokens, breakers, cached results.

``MemoryStore`` is the embedded default; a shared store (Redis) implements the
same ``Store`` interface, one atomic step per operation.
"""

from toolsafe.stores._base import Store
from toolsafe.stores.memory import MemoryStore

__all__ = ["MemoryStore", "Store"]
