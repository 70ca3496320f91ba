"""docs/distributed.md: its Python examples run (the Ray one is covered by tests/backends)."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytest.importorskip("redis")

import _redis

redis_url = _redis.redis_url

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "distributed.md").read_text()


def test_python_examples_run(redis_url: str) -> None:
    if redis_url != _redis.SHARED_URL:
        pytest.skip("the examples use the Redis at 127.0.0.1:6379")
    blocks = re.findall(r"```python\n(.*?)```", DOC, re.S)
    runnable = [b for b in blocks if "ray" not in b.lower()]
    assert len(blocks) == 3 and len(runnable) == 2
    prefix = f"toolsafe-test:{uuid.uuid4().hex[:12]}:"
    code = "\n".join(runnable).replace('prefix="myapp:"', f"prefix={prefix!r}")
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
        )
    finally:
        _redis.delete_prefix(redis_url, prefix)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "charged 7"


def test_documented_keys_are_the_keys_the_store_writes() -> None:
    families = set(re.findall(r"^\| `P (\w+):\{k\}` \|", DOC, re.M))
    from toolsafe.stores import redis as store_module

    documented_in_code = set(re.findall(r"``P (\w+):\{k\}``", store_module.__doc__ or ""))
    assert (
        families
        == documented_in_code
        == {
            "slots",
            "slotq",
            "slotqx",
            "slotseq",
            "rate",
            "breaker",
            "cache",
            "once",
        }
    )
