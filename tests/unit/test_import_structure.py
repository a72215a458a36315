"""Imports run one way inside harness/: no function-level import of the project's own modules (outside
the pytest plugin, where laziness is deliberate: pytest loads every installed plugin), and no cycle in
the import graph. A cycle used to be held together by imports placed inside functions (issue 21)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OWN = ("harness", "localstack_plugin", "sagemaker_emulator", "training", "lambdas")
LAZY_ALLOWED = ("harness/pytest_plugin/",)


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The project modules an import statement names (``from a import b`` names ``a.b`` when it is one)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        if not is_package:
            parts = parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    return [f"{base}.{a.name}" for a in node.names] + [base]


def _is_own(name: str) -> bool:
    return name.split(".")[0] in OWN


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(n) for n in ast.walk(node))
    return inside


def function_level_imports(source: str, module: str = "m", is_package: bool = False) -> list[str]:
    """``line: statement`` for each import of a project module placed inside a function or class."""
    tree = ast.parse(source)
    top = {id(n) for n in tree.body}
    top |= {
        id(n) for n in ast.walk(tree) if isinstance(n, ast.If | ast.Try) and id(n) in top for n in ast.walk(n)
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or id(node) in top:
            continue
        relative = isinstance(node, ast.ImportFrom) and node.level > 0
        if relative or any(_is_own(name) for name in _imported(node, module, is_package)):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def harness_files() -> list[Path]:
    return sorted((REPO / "harness").rglob("*.py"))


def import_graph() -> dict[str, set[str]]:
    """harness/'s modules and the project modules each imports at import time (not under TYPE_CHECKING).

    A package's ``__init__`` that imports its own submodules (``harness/commands``) is not a cycle: the
    edge a submodule has to its package, which Python imports first, is left out."""
    modules = {_module_name(p): p for p in harness_files()}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skip:
                for name in _imported(node, module, path.name == "__init__.py"):
                    if name in modules and name != module:
                        graph[module].add(name)
    return graph


def test_no_function_level_import_of_the_project_outside_the_pytest_plugin() -> None:
    offenders = []
    for path in harness_files():
        rel = str(path.relative_to(REPO))
        if rel.startswith(LAZY_ALLOWED):
            continue
        module = _module_name(path)
        offenders += [
            f"{rel}:{hit}"
            for hit in function_level_imports(path.read_text(), module, path.name == "__init__.py")
        ]
    assert offenders == [], "import these at the top of the module:\n" + "\n".join(offenders)


def test_the_scan_finds_an_import_inside_a_function() -> None:
    code = (
        "import json\nfrom harness import names\n\n"
        "def f():\n    import pandas\n    from harness.deploy import deploy\n"
    )
    assert function_level_imports(code) == ["6: from harness.deploy import deploy"]
    method = "class A:\n    def m(self):\n        from . import x\n"
    assert function_level_imports(method, "harness.a") == ["3: from . import x"]
    guarded = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from harness.targets.base import Target\n"
    )
    assert function_level_imports(guarded) == []


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (module -> the modules it imports), or ``[]``."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return []


def test_the_import_graph_of_harness_has_no_cycle() -> None:
    graph = import_graph()
    assert sum(len(v) for v in graph.values()) > 100  # the scan sees the imports
    assert "harness.targets.base" in graph["harness.deploy"]
    assert cycle(graph) == [], f"an import cycle in harness/: {' -> '.join(cycle(graph))}"


def test_the_graph_check_would_see_a_cycle() -> None:
    graph = import_graph()
    graph["harness.names"].add("harness.deploy")  # deploy imports names; the other way closes a circle
    assert "harness.names" in cycle(graph)
