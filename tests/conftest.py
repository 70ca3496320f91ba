"""Shared test helpers."""

from __future__ import annotations

from typing import Any

import pytest

#: Lines tests want shown at the end of the run (even with -q), e.g. corpus counts.
_SUMMARY: list[str] = []


@pytest.fixture(scope="session")
def terminal_summary() -> list[str]:
    """Append a line here to have it printed in the terminal summary of the run."""
    return _SUMMARY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _SUMMARY:
        terminalreporter.section("toolsafe")
        for line in _SUMMARY:
            terminalreporter.write_line(line)


#: Packages whose versions a green run records (README's table of tested versions).
_RECORDED = (
    "pydantic",
    "crewai",
    "crewai-tools",
    "langchain-core",
    "langgraph",
    "langchain-community",
    "openai",
    "openai-agents",
    "pydantic-ai-slim",
    "anthropic",
    "mcp",
)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """With TOOLSAFE_RECORD_VERSIONS set (make test sets it), a green run writes the
    versions it ran against to .cache/versions/<venv>.json for `.ci/versions.py`."""
    import json
    import os
    import sys
    from importlib import metadata
    from pathlib import Path

    if exitstatus != 0 or not os.environ.get("TOOLSAFE_RECORD_VERSIONS"):
        return
    found: dict[str, str] = {}
    for name in _RECORDED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    out = Path(session.config.rootpath) / ".cache" / "versions"
    out.mkdir(parents=True, exist_ok=True)
    record = {"python": sys.version.split()[0], "packages": found}
    (out / f"{Path(sys.prefix).name.lstrip('.')}.json").write_text(json.dumps(record, indent=1))
