"""The installed distribution's version, read from its metadata (pyproject.toml is the source).

Inner modules import it from here, never from the package's front door
(``toolsafe/__init__.py`` imports nearly everything, so importing it back from
inside makes a cycle).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["VERSION"]

try:
    VERSION = version("toolsafe")
except PackageNotFoundError:  # run from a source tree that was never installed
    VERSION = "0.0.0+unknown"
