"""What ``dandi_compute_plugin`` exports: its API and its errors, from one list.

``_EXPORTS`` (module -> names) is the list: ``__all__`` derives from it and the
lazy ``__getattr__`` reads it.  Type checkers follow neither, so the
``if TYPE_CHECKING:`` block of ``__init__.py`` imports the same names again; the
test here holds the two equal.  Importing the package, and reaching an error
through it, loads neither click, dandi nor pluggy.
"""

from __future__ import annotations

import ast
from importlib import import_module
import json
from pathlib import Path
import subprocess
import sys

import pytest

import dandi_compute_plugin

INIT = Path(dandi_compute_plugin.__file__)
#: what a cheap import must not load (the .pth imports the package at every start)
HEAVY = {"click", "dandi", "pluggy", "ijson", "requests", "dandischema"}


def exported_pairs() -> set[tuple[str, str]]:
    return {
        (module, name)
        for module, names in dandi_compute_plugin._EXPORTS.items()
        for name in names
    }


def type_checking_imports(source: str) -> tuple[set[tuple[str, str]], list[str]]:
    """``{(module, name)}`` the ``if TYPE_CHECKING:`` block imports relatively,
    and the problems of its form (a name not re-exported as ``X as X``)."""
    found, problems = set(), []
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"):
            continue
        for stmt in node.body:
            if not isinstance(stmt, ast.ImportFrom) or stmt.level != 1:
                continue
            for alias in stmt.names:
                found.add((stmt.module or "", alias.name))
                if alias.asname != alias.name:
                    problems.append(f"{alias.name} is not imported as itself")
    return found, problems


def test_all_is_the_exports() -> None:
    names = [name for _, name in sorted(exported_pairs())]
    assert len(names) == len(set(names)), "a name exported twice"
    assert sorted(dandi_compute_plugin.__all__) == sorted(["__version__", *names])
    assert len(dandi_compute_plugin.__all__) == len(set(dandi_compute_plugin.__all__))
    assert dir(dandi_compute_plugin) == sorted(dandi_compute_plugin.__all__)


def test_every_export_is_the_object_of_its_module() -> None:
    for module, name in sorted(exported_pairs()):
        defined = getattr(import_module(f"dandi_compute_plugin.{module}"), name)
        assert getattr(dandi_compute_plugin, name) is defined, (module, name)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        dandi_compute_plugin.no_such_name  # noqa: B018


def test_the_type_checking_imports_name_exactly_the_exports() -> None:
    found, problems = type_checking_imports(INIT.read_text(encoding="utf-8"))
    assert problems == []
    assert found == exported_pairs()


def test_the_type_checking_check_can_fail() -> None:
    source = (
        "TYPE_CHECKING = False\n"
        "if TYPE_CHECKING:\n"
        "    from typing import Any\n"
        "    from .errors import AError as AError\n"
        "    from .move import move\n"
    )
    found, problems = type_checking_imports(source)
    assert found == {("errors", "AError"), ("move", "move")}
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
