"""The shared helpers of the fault suites are defined once, in ``trees.py``: a
copy in a test module would drift from it (a path rule changed in one place)."""

from __future__ import annotations

import ast
from pathlib import Path

from . import trees

HERE = Path(__file__).parent


def top_level_names(source: str) -> set[str]:
    """Functions, classes and assigned names at the top of a module."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_the_helpers_of_trees_are_defined_nowhere_else() -> None:
    shared = {n for n in vars(trees) if not n.startswith("_")} & top_level_names(
        Path(trees.__file__).read_text()
    )
    assert {"vdir", "files", "statuses", "records", "bind_mount", "NAMES"} <= shared
    copies = {
        module.name: sorted(top_level_names(module.read_text()) & shared)
        for module in sorted(HERE.glob("*.py"))
        if module.name != "trees.py"
    }
    assert {name: found for name, found in copies.items() if found} == {}


def test_the_check_finds_a_copy() -> None:
    """Self-test: a module defining ``vdir`` or ``NAMES`` again is found."""
    copy = "NAMES = ('x',)\n\ndef vdir(sub):\n    return sub\n"
    assert {"NAMES", "vdir"} <= top_level_names(copy)
