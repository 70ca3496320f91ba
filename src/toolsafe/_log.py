"""The library's logger. toolsafe logs; only the CLI prints.

A core module, so every layer may log.
"""

from __future__ import annotations

import logging

__all__ = ["logger"]

logger = logging.getLogger("toolsafe")
logger.addHandler(logging.NullHandler())
