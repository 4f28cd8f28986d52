"""A package's module map (its docstring's "Its modules ..." list) stays true.

The map names every module of the package; where it says the modules import
"only those before it", no module imports a sibling listed after it (imports for
type checkers aside: they do not run).
"""

from __future__ import annotations

import ast
from pathlib import Path
import re

import pytest

import dandi_compute_plugin

PACKAGE = Path(dandi_compute_plugin.__file__).resolve().parent
MAPPED = sorted(
    path.parent
    for path in PACKAGE.rglob("__init__.py")
    if "Its modules" in (ast.get_docstring(ast.parse(path.read_text())) or "")
)


def mapped_modules(docstring: str) -> list[str]:
    """The sibling modules the map names (``:mod:`.name```), in its order."""
    names = re.findall(r":mod:`\.([a-z_]+)`", docstring)
    return list(dict.fromkeys(names))


def sibling_modules(package: Path) -> set[str]:
    """The package's modules and subpackages."""
    return {p.stem for p in package.glob("*.py") if p.name != "__init__.py"} | {
        p.name for p in package.iterdir() if (p / "__init__.py").is_file()
    }


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The ids of the nodes inside an ``if TYPE_CHECKING:`` block."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for child in node.body:
                found.update(id(n) for n in ast.walk(child))
    return found


def sibling_imports(source: str, depth: int) -> set[str]:
    """The siblings that ``source`` imports when it runs (in functions too);
    ``depth`` is how far below the package the module lies (0: a module of
    the package, 1: a module of one of its subpackages)."""
    tree = ast.parse(source)
    skip = _type_checking_only(tree)
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or id(node) in skip:
            continue
        if node.level != depth + 1:
            continue
        if node.module:
            found.add(node.module.split(".")[0])
        else:
            found.update(a.name for a in node.names)
    return found


def map_problems(
    docstring: str, modules: dict[str, list[tuple[str, int]]]
) -> list[str]:
    """What is untrue of the map in ``docstring``: ``modules`` maps each
    sibling to the ``(source, depth)`` of its files."""
    listed = mapped_modules(docstring)
    problems = [f"{m} is not in the map" for m in sorted(set(modules) - set(listed))]
    problems += [f"{m} is no module" for m in listed if m not in modules]
    if "only those before it" not in docstring:
        return problems
    for position, module in enumerate(listed):
        later = set(listed[position + 1 :])
        for source, depth in modules.get(module, []):
            for name in sorted(sibling_imports(source, depth) & later):
                problems.append(f"{module} imports {name}, listed after it")
    return problems


def test_the_packages_with_a_map() -> None:
    names = {str(p.relative_to(PACKAGE)) for p in MAPPED}
    assert names >= {"manifest", "manifest/cache", "deletion"}


@pytest.mark.parametrize(
    "package", MAPPED, ids=[str(p.relative_to(PACKAGE)) for p in MAPPED]
)
def test_the_map_is_true(package: Path) -> None:
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
    modules: dict[str, list[tuple[str, int]]] = {}
    for name in sibling_modules(package):
        if (package / name).is_dir():
            files = [
                (p.read_text(), len(p.relative_to(package).parts) - 1)
                for p in sorted((package / name).rglob("*.py"))
            ]
        else:
            files = [((package / f"{name}.py").read_text(), 0)]
        modules[name] = files
    assert map_problems(docstring or "", modules) == []


def test_the_map_check_can_fail() -> None:
    doc = (
        "Its modules, each importing only those before it:\n\n"
        ":mod:`.a`\n    first;\n:mod:`.b`\n    second;\n:mod:`.gone`\n    none.\n"
    )
    modules = {
        "a": [("from .b import x\n", 0)],
        "b": [("from .a import y\nif TYPE_CHECKING:\n    from .c import z\n", 0)],
        "c": [("def f():\n    from ..a import w\n", 1)],
    }
    assert map_problems(doc, modules) == [
        "c is not in the map",
        "gone is no module",
        "a imports b, listed after it",
    ]
    assert (
        map_problems(
            doc.replace("each importing only those before it", "x"),
            {
                "a": modules["a"],
                "b": modules["b"],
                "gone": [],
            },
        )
        == []
    )
