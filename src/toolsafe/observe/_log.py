"""The library's logger. toolsafe logs; only the CLI prints."""

from __future__ import annotations

import logging

logger = logging.getLogger("toolsafe")
logger.addHandler(logging.NullHandler())
