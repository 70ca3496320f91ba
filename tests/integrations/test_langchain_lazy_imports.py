"""``import toolsafe`` imports no agent framework; each adapter imports only its own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FRAMEWORKS = (
    "anthropic",
    "crewai",
    "langchain",
    "langchain_core",
    "langgraph",
    "mcp",
    "openai",
    "ray",
    "starlette",
    "uvicorn",
)


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(FRAMEWORKS)!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def test_import_toolsafe_imports_no_framework() -> None:
    assert _loaded_after("import toolsafe") == []


@pytest.mark.parametrize(
    "module,allowed",
    [
        ("openai", set()),  # plain dicts and duck-typed SDK objects: no import at all
        ("anthropic", set()),
        ("langchain", {"langchain_core", "langgraph", "langchain"}),
        ("mcp", {"mcp", "starlette", "uvicorn"}),
    ],
)
def test_each_adapter_imports_only_its_framework(module: str, allowed: set[str]) -> None:
    for needed in allowed & {"langchain_core", "mcp"}:
        pytest.importorskip(needed)
    loaded = set(_loaded_after(f"import toolsafe.integrations.{module}"))
    assert loaded <= allowed, loaded - allowed


@pytest.mark.parametrize(
    "module,blocked,extra",
    [("langchain", "langchain_core", "toolsafe[langchain]"), ("mcp", "mcp", "toolsafe[mcp]")],
)
def test_a_missing_framework_names_the_extra(module: str, blocked: str, extra: str) -> None:
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "try:\n"
        f"    import toolsafe.integrations.{module}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f"pip install '{extra}'" in out.stdout
