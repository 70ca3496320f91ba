"""The import layering of docs/architecture.md holds: arrows point down, and nothing cycles.

The layers are import-linter contracts in pyproject.toml (``[tool.importlinter]``);
``lint-imports`` checks them here so that ``make test`` fails on an upward import.
The cycle check also counts imports inside functions: a function-local import
may defer an optional dependency, never hide a cycle.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_layers_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), "import-linter is in the test extra: pip install -e '.[test]'"
    done = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def test_no_module_imports_itself_back_not_even_from_inside_a_function() -> None:
    graph = grimp.build_graph("toolsafe", exclude_type_checking_imports=True)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert _cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_every_module_of_the_package_has_a_layer() -> None:
    """A module in no layer is checked by no contract: an upward import from it would pass."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = config["tool"]["importlinter"]["contracts"]
    layered = {
        name.strip() for layer in contract["layers"] for name in layer.replace("|", ":").split(":")
    }
    package = ROOT / "src" / "toolsafe"
    modules = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {p.parent.name for p in package.glob("*/__init__.py")}
    assert sorted(modules - layered) == []


def test_adapters_import_only_the_public_api_and_support() -> None:
    """Adapters only translate: what they need beyond ``toolsafe`` is in ``support``."""
    graph = grimp.build_graph("toolsafe", exclude_type_checking_imports=True)
    private = []
    for module in sorted(graph.find_children("toolsafe.integrations")):
        if module == "toolsafe.integrations.support":
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            if "._" in imported and not imported.startswith("toolsafe.integrations."):
                private.append(f"{module} -> {imported}")
    assert private == []
