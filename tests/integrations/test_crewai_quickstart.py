"""examples/crewai_quickstart.py runs, offline, and shows what it claims."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolsafe import parse_tool_error

pytest.importorskip("crewai", reason="needs the crewai extra: pip install 'toolsafe[crewai]'")

pytestmark = pytest.mark.crewai

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "crewai_quickstart.py"


def test_quickstart_hardened_crews_answer_for_their_own_sku() -> None:
    env = {
        **os.environ,
        "CREWAI_DISABLE_TELEMETRY": "true",
        "CREWAI_DISABLE_TRACKING": "true",
        "OTEL_SDK_DISABLED": "true",
        "CREWAI_TRACING_ENABLED": "false",
        "CREWAI_DISABLE_VERSION_CHECK": "true",
        "CREWAI_TESTING": "true",
    }
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=EXAMPLE.parent,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    assert lines["hardened tool"].rsplit(":", 1)[1].strip() == "0"
    error = parse_tool_error(lines["bad arguments"].strip())
    assert error is not None
    assert (error.type, error.retryable) == ("InvalidArguments", False)
    assert [d["field"] for d in error.details] == ["sku"]
