"""The tool registry: names (and exported names) to assembled pipelines.

Registration checks names here (taken, clashing exported names) and leaves
option checks to the policies; lookups suggest the closest name on a miss.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from toolsafe._assembly import Entry
from toolsafe._tool import Tool
from toolsafe.errors import UnknownTool

__all__ = ["Registry"]


class Registry:
    def __init__(self) -> None:
        #: Tool name -> entry. The runtime reads it directly on the hot path.
        self.entries: dict[str, Entry] = {}
        #: Exported name (what a model may call it) -> tool name.
        self.aliases: dict[str, str] = {}

    def name_problems(self, tool: Tool, pending: Sequence[Tool] = ()) -> list[str]:
        """What stops ``tool`` from being registered beside the registered and ``pending``."""
        problems: list[str] = []
        if not tool.runnable:
            problems.append("built from a schema without a function: it can only validate")
        taken = {t.name for t in pending} | set(self.entries)
        if tool.name in taken:
            problems.append(f"a tool named '{tool.name}' is already registered")
        exported = {t.export_name: t.name for t in pending} | self.aliases
        if tool.export_name != tool.name and exported.get(tool.export_name, tool.name) != tool.name:
            problems.append(
                f"its exported name '{tool.export_name}' clashes with tool "
                f"'{exported[tool.export_name]}'"
            )
        return problems

    def add(self, entry: Entry) -> None:
        tool = entry.tool
        self.entries[tool.name] = entry
        self.aliases[tool.export_name] = tool.name

    def remove(self, name: str) -> Entry:
        """Take ``name`` out (calls already in flight keep its entry)."""
        entry = self.lookup(name)
        del self.entries[entry.tool.name]
        self.aliases.pop(entry.tool.export_name, None)
        return entry

    def find(self, name: str) -> Entry | None:
        """The entry of ``name`` (a tool name or an exported name), or None."""
        entry = self.entries.get(name)
        if entry is None:
            real = self.aliases.get(name)
            if real is not None:
                entry = self.entries.get(real)
        return entry

    def lookup(self, name: str) -> Entry:
        """The entry of ``name``; raises ``UnknownTool`` with the closest name."""
        entry = self.find(name)
        if entry is None:
            known = sorted(self.entries)
            # no tool name is long: a long one (hostile, 10 MB) gets no costly fuzzy match
            match = (
                difflib.get_close_matches(name, known + list(self.aliases), n=1, cutoff=0.5)
                if len(name) <= 256
                else []
            )
            suggestion = self.aliases.get(match[0], match[0]) if match else None
            raise UnknownTool(name, known, suggestion)
        return entry

    @property
    def tools(self) -> list[Tool]:
        return [entry.tool for entry in self.entries.values()]
