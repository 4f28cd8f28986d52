"""No private attribute of a dependency anywhere in the package.

A private attribute of requests, dandi, pluggy... (``response._content``,
``client._get_keyring_ids()``) may change or vanish in any release, silently.
Every module of the package is parsed; an import of a dependency's private
module or name is refused, and an attribute ``X._name`` (not a dunder) is
allowed only where ``X`` is ``self``, ``cls``, or a name the module binds to one
of the package's own modules, classes or functions (imported from the package,
or a class it defines).  ``getattr(X, "_name")`` and its siblings count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dandi_compute_plugin

PACKAGE = Path(dandi_compute_plugin.__file__).parent

#: names of the standard library that are public although they start with an
#: underscore (documented as such)
PUBLIC_UNDERSCORED = {("os", "_exit")}

#: the built-ins that reach an attribute by a name given as a string
BY_NAME = {"getattr", "setattr", "hasattr", "delattr"}


def _is_private(name: str) -> bool:
    dunder = name.startswith("__") and name.endswith("__")
    return name.startswith("_") and not dunder and name != "_"


def _own_names(tree: ast.AST, package: str) -> set[str]:
    """The names a module binds to the package's own modules and classes."""
    own = {"self", "cls"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            own.add(node.name)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or module == package or module.startswith(package + "."):
                own.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == package or alias.name.startswith(package + "."):
                    own.add(alias.asname or alias.name.split(".")[0])
    return own


def _reached(node: ast.AST) -> tuple[ast.AST, str] | None:
    """``(X, name)`` when ``node`` reaches the attribute ``name`` of ``X``."""
    if isinstance(node, ast.Attribute):
        return node.value, node.attr
    by_name = (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in BY_NAME
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    )
    if by_name:
        assert isinstance(node, ast.Call)
        return node.args[0], node.args[1].value
    return None


def _private_import(node: ast.AST, package: str) -> bool:
    """Whether ``node`` imports a private module or name of a dependency."""
    if isinstance(node, ast.Import):
        modules = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and not node.level:
        modules = [node.module or ""]
        if not any(m == package or m.startswith(package + ".") for m in modules):
            modules += [f"{node.module}.{a.name}" for a in node.names]
    else:
        return False
    return any(
        any(_is_private(part) for part in module.split(".")[1:])
        for module in modules
        if module != package and not module.startswith(package + ".")
    )


def private_accesses(
    source: str, filename: str, package: str = "dandi_compute_plugin"
) -> list[str]:
    """``file:line: X._name`` of every private attribute of something that is
    not the package's own, and every import of a dependency's private module or
    name."""
    tree = ast.parse(source, filename)
    own = _own_names(tree, package)
    found = []
    for node in ast.walk(tree):
        if _private_import(node, package):
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
            continue
        reached = _reached(node)
        if reached is None or not _is_private(reached[1]):
            continue
        value, name = reached
        if isinstance(value, ast.Name) and (
            value.id in own or (value.id, name) in PUBLIC_UNDERSCORED
        ):
            continue
        found.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_private_attribute_of_a_dependency() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE.parent).as_posix()
        found += private_accesses(path.read_text(encoding="utf-8"), name)
    assert not found, "private attributes of dependencies:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "snippet",
    [
        "response._content = b'{}'",
        "response._content_consumed = True",
        "ids = client._get_keyring_ids()",
        "def f(self):\n    return self.session._adapters",
        "value = getattr(client, '_token', None)",
        "setattr(response, '_content', b'')",
        "from dandi.dandiapi import DandiAPIClient\nDandiAPIClient._instance_id",
        "import pluggy\npluggy._hooks",
        "import os\nos._wrap_close",
        "from requests._internal_utils import to_native_string",
        "from dandi.dandiapi import _paginate",
        "import pluggy._hooks",
    ],
)
def test_the_check_finds_a_private_attribute(snippet: str) -> None:
    found = private_accesses(snippet, "snippet.py")
    assert len(found) == 1 and found[0].startswith("snippet.py:"), found


def test_the_check_allows_the_package_own() -> None:
    snippet = "\n".join(
        [
            "import os",
            "import dandi_compute_plugin._host as host",
            "from . import hookspecs",
            "from .journal import Journal",
            "from dandi_compute_plugin.deletion import plan",
            "from dandi_compute_plugin._limits import call_within",
            "from .._http import deadline",
            "from __future__ import annotations",
            "class Lanes:",
            "    def start(self):",
            "        self._width, cls._x = host._install, Journal._drop_cut_line",
            "        return Lanes._y, plan._gather, hookspecs._z, self.__dict__",
            "os._exit(1)",
        ]
    )
    assert private_accesses(snippet, "snippet.py") == []
