"""Load toolsafe Tools from a file, folder or module for the CLI commands.

This is the simple loader (toolsafe tools and plain typed functions); the doctor's
discovery (``toolsafe.doctor.discover``) extends it to CrewAI and LangChain tools.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path
from types import ModuleType

from toolsafe._importing import import_file
from toolsafe._tool import Tool

__all__ = ["import_target", "load_tools"]


def import_target(target: str) -> list[ModuleType]:
    """Import a ``.py`` file, every ``.py`` file in a folder, or a dotted module name."""
    from toolsafe._cli import UsageError

    path = Path(target)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.py") if not p.name.startswith("_"))
        return [_import_file(p) for p in files]
    if path.suffix == ".py":
        if not path.exists():
            raise UsageError(f"no such file: {target}")
        return [_import_file(path)]
    try:
        return [importlib.import_module(target)]
    except ImportError as exc:
        raise UsageError(f"cannot import '{target}': {exc}") from exc


def _import_file(path: Path) -> ModuleType:
    from toolsafe._cli import UsageError

    try:
        return import_file(path)
    except ImportError as exc:
        raise UsageError(str(exc)) from exc


def load_tools(target: str) -> list[Tool]:
    """Every toolsafe Tool defined at the top level of the target's modules."""
    from toolsafe._cli import UsageError

    tools: list[Tool] = []
    for module in import_target(target):
        for _, value in inspect.getmembers(module):
            if isinstance(value, Tool) and value not in tools:
                tools.append(value)
    if not tools:
        raise UsageError(f"no toolsafe tools found in {target}")
    return tools
