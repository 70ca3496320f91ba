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
