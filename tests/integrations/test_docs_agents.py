"""docs/openai-agents.md and docs/pydantic-ai.md: every Python example runs as its own script."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _examples(page: str) -> list[str]:
    return BLOCK.findall((DOCS / page).read_text())


@pytest.mark.parametrize(
    ("page", "needs"), [("openai-agents.md", "agents"), ("pydantic-ai.md", "pydantic_ai")]
)
def test_examples_run(page: str, needs: str, tmp_path: Path) -> None:
    pytest.importorskip(needs, reason=f"needs {needs} (make test runs it in .venv-latest)")
    examples = _examples(page)
    assert examples, f"{page} has no Python example"
    for i, code in enumerate(examples):
        script = tmp_path / f"example_{i}.py"
        script.write_text(code)
        done = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=120,
            env={"OPENAI_AGENTS_DISABLE_TRACING": "1", "PATH": "/usr/bin:/bin"},
        )
        assert done.returncode == 0, f"{page} example {i} failed:\n{done.stderr[-2000:]}"
