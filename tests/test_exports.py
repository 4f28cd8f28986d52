"""What ``dandi_compute_plugin`` and its ``deletion`` package export, from one list.

``_EXPORTS`` (module -> names) is the list: ``__all__`` derives from it and the
lazy ``__getattr__`` reads it.  Type checkers follow neither, so the
``if TYPE_CHECKING:`` block of each ``__init__.py`` imports the same names again; the
test here holds the two equal.  Importing the package, and reaching an error
through it, loads neither click, dandi nor pluggy.
"""

from __future__ import annotations

import ast
from importlib import import_module
from importlib.util import resolve_name
import json
from pathlib import Path
import subprocess
import sys

import pytest

#: the packages whose names come lazily from an ``_EXPORTS`` list
PACKAGES = ["dandi_compute_plugin", "dandi_compute_plugin.deletion"]
#: what a cheap import must not load (the .pth imports the package at every start)
HEAVY = {"click", "dandi", "pluggy", "ijson", "requests", "dandischema"}


def absolute(module: str, package: str) -> str:
    """``module`` as written in ``package``'s ``_EXPORTS`` (the top level names
    its modules without a dot), made absolute."""
    if not module.startswith("."):
        module = "." + module
    return resolve_name(module, package)


def exported_pairs(package: str) -> set[tuple[str, str]]:
    """``{(absolute module, name)}`` of ``package``'s ``_EXPORTS``."""
    return {
        (absolute(module, package), name)
        for module, names in import_module(package)._EXPORTS.items()
        for name in names
    }


def type_checking_imports(
    source: str, package: str
) -> tuple[set[tuple[str, str]], list[str]]:
    """``{(absolute module, name)}`` the ``if TYPE_CHECKING:`` block imports
    relatively, and the problems of its form (a name not re-exported as
    ``X as X``)."""
    found, problems = set(), []
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"):
            continue
        for stmt in node.body:
            if not isinstance(stmt, ast.ImportFrom) or stmt.level == 0:
                continue
            module = resolve_name("." * stmt.level + (stmt.module or ""), package)
            for alias in stmt.names:
                found.add((module, alias.name))
                if alias.asname != alias.name:
                    problems.append(f"{alias.name} is not imported as itself")
    return found, problems


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_the_exports(package: str) -> None:
    mod = import_module(package)
    names = [name for _, name in sorted(exported_pairs(package))]
    assert len(names) == len(set(names)), "a name exported twice"
    version = ["__version__"] if package == "dandi_compute_plugin" else []
    assert sorted(mod.__all__) == sorted([*version, *names])
    assert len(mod.__all__) == len(set(mod.__all__))
    assert dir(mod) == sorted(mod.__all__)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_export_is_the_object_of_its_module(package: str) -> None:
    mod = import_module(package)
    for module, name in sorted(exported_pairs(package)):
        defined = getattr(import_module(module), name)
        assert getattr(mod, name) is defined, (module, name)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        mod.no_such_name  # noqa: B018


@pytest.mark.parametrize("package", PACKAGES)
def test_the_type_checking_imports_name_exactly_the_exports(package: str) -> None:
    init = Path(import_module(package).__file__)
    found, problems = type_checking_imports(init.read_text(encoding="utf-8"), package)
    assert problems == []
    assert found == exported_pairs(package)


def test_the_type_checking_check_can_fail() -> None:
    source = (
        "TYPE_CHECKING = False\n"
        "if TYPE_CHECKING:\n"
        "    from typing import Any\n"
        "    from .errors import AError as AError\n"
        "    from ..defaults import B as B\n"
        "    from .move import move\n"
    )
    found, problems = type_checking_imports(source, "dandi_compute_plugin.deletion")
    assert found == {
        ("dandi_compute_plugin.deletion.errors", "AError"),
        ("dandi_compute_plugin.defaults", "B"),
        ("dandi_compute_plugin.deletion.move", "move"),
    }
    assert problems == ["move is not imported as itself"]


def modules_loaded_by(code: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after ``code``."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return {m.split(".")[0] for m in json.loads(proc.stdout)}


def test_the_package_and_its_errors_import_nothing_heavy() -> None:
    loaded = modules_loaded_by(
        "import dandi_compute_plugin as p\n"
        "p.DandiComputeError, p.DeletionIncomplete, p.ManifestFormatError\n"
        "p.MoveUsageError, p.InvalidVersionError, p.__version__, dir(p)"
    )
    assert not loaded & HEAVY
    # the check sees them when they come: the deletion needs pluggy
    loaded = modules_loaded_by(
        "import dandi_compute_plugin as p\np.delete_dandiset_version"
    )
    assert "pluggy" in loaded
