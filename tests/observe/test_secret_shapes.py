"""The token shapes adopted from detect-secrets are its patterns, unchanged, and in use."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from toolsafe.observe._shapes import SHAPES
from toolsafe.observe.redact import DEFAULT_RULES, Redactor

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> object:
    spec = importlib.util.spec_from_file_location(
        "secret_shapes", ROOT / "scripts/secret_shapes.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_data_matches_the_pinned_detect_secrets() -> None:
    pytest.importorskip("detect_secrets")
    generated = _generator().shapes()  # type: ignore[attr-defined]
    assert tuple(generated) == SHAPES, (
        "regenerate src/toolsafe/observe/_shapes.py with scripts/secret_shapes.py"
    )


def test_every_shape_is_a_default_rule_with_triggers_and_its_license_ships() -> None:
    names = [rule.name for rule in DEFAULT_RULES]
    assert sum(len(patterns) for _, _, patterns in SHAPES) >= 15
    for plugin, triggers, patterns in SHAPES:
        assert f"detect-secrets:{plugin}" in names
        assert triggers and all(t == t.lower() for t in triggers)
        for pattern, flags in patterns:
            re.compile(pattern, flags)
    assert "Apache License" in (ROOT / "LICENSES/detect-secrets-Apache-2.0.txt").read_text()


@pytest.mark.parametrize(
    "token",
    [
        "SG." + "a" * 22 + "." + "b" * 43,
        "pypi-AgEIcHlwaS5vcmc" + "x" * 70,
        "sq0csp-" + "c" * 43,
        "AccountKey=" + "d" * 88,
        "https://hooks.slack.com/services/T0000/B0000/XXXXXXXX",
    ],
)
def test_adopted_shapes_are_redacted(token: str) -> None:
    assert token not in Redactor().text(f"sent {token} upstream")
