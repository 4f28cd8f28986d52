"""Every cross-reference of the package's own text names something that exists.

A module that moves leaves its old name behind in the docstrings and comments
that point at it (``:mod:`.cache_fetch```, ``:func:`~.cache.cache_directory```).
Sphinx sees only the pages it renders; this reads every module of the package
and resolves each reference that is relative (``.name``) or names the package.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
import re

import dandi_compute_plugin

PACKAGE = Path(dandi_compute_plugin.__file__).resolve().parent
ROLE = re.compile(r":(?:mod|func|class|data|meth|attr|exc|obj):`~?([.\w]+)`")


def absolute(reference: str, package: str) -> str | None:
    """``reference`` as a dotted name, seen from a module of ``package``
    (None: a name of another project, or a bare name)."""
    if reference.startswith("."):
        dots = len(reference) - len(reference.lstrip("."))
        base = package.split(".")
        if dots > len(base):
            return reference  # above the top: never resolves
        return ".".join([*base[: len(base) - dots + 1], reference.lstrip(".")])
    if reference.split(".")[0] == "dandi_compute_plugin":
        return reference
    return None


def resolves(name: str) -> bool:
    """Whether ``name`` is a module, or an attribute of one (as deep as needed)."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                found = getattr(found, attribute)
        except AttributeError:
            return False
        return True
    return False


def broken_references(text: str, package: str) -> list[str]:
    """The references of ``text`` (a module of ``package``) that resolve to nothing."""
    broken = []
    for reference in ROLE.findall(text):
        name = absolute(reference, package)
        if name is not None and not resolves(name):
            broken.append(reference)
    return broken


def _modules() -> list[tuple[Path, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        # a module's references are relative to its package (an __init__'s
        # to the package it is)
        parts = path.relative_to(PACKAGE.parent).parts[:-1]
        found.append((path, ".".join(parts)))
    return found


def test_every_reference_resolves() -> None:
    checked = 0
    broken = {}
    for path, package in _modules():
        text = path.read_text()
        checked += sum(absolute(r, package) is not None for r in ROLE.findall(text))
        if found := broken_references(text, package):
            broken[str(path.relative_to(PACKAGE))] = found
    assert broken == {}
    assert checked > 100  # the check reads what it should


def test_the_reference_check_can_fail() -> None:
    text = (
        ":mod:`.cache_fetch` :func:`~.cache.cache_directory` :class:`.entry.Nope` "
        ":mod:`.entry` :func:`~.entry.cache_directory` :mod:`..fetch` "
        ":class:`~dandi_compute_plugin.errors.ArchiveError` "
        ":class:`dandi_compute_plugin.errors.Gone` :class:`DandiAPIClient`"
    )
    assert broken_references(text, "dandi_compute_plugin.manifest.cache") == [
        ".cache_fetch",
        ".cache.cache_directory",
        ".entry.Nope",
        "dandi_compute_plugin.errors.Gone",
    ]
