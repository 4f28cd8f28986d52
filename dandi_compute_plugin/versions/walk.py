"""The local scan: the version directories of a clone, found by walking it.

The walk uses :func:`os.scandir` and the entries' ``d_type`` (no ``stat`` per
entry), never follows symbolic links and never descends into a ``version-*``
directory: a version directory's content goes with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import logging
import os
from pathlib import Path

from .layout import (
    DANDISET_PREFIX,
    DERIVATIVES,
    VERSION_PREFIX,
    VersionDirectory,
    fits_a_form,
    validate_version,
    version_names,
)

lgr = logging.getLogger("dandi.compute")

#: called with the error of a directory that cannot be read
OnError = Callable[[OSError], None]


def _log_walk_error(exc: OSError) -> None:
    lgr.warning("Skipping %s: %s", exc.filename, exc.strerror or exc)


def iter_version_directories(
    dandiset_directory: str | Path,
    version: str,
    on_error: OnError | None = None,
) -> Iterator[VersionDirectory]:
    """Yield the directories of ``version`` below ``derivatives/dandiset-*/``:
    nested version directories and flat job capsules alike.

    The walk uses :func:`os.scandir`, never follows symbolic links (a link named
    like a version directory is not a match; a warning says so), never descends
    into any ``version-*`` directory (its content goes with it) and skips hidden
    entries.
    The order is the walk's; :func:`scan_version_directories` sorts.

    Parameters
    ----------
    dandiset_directory
        The top directory of a local clone of the dandiset.
    version
        The pipeline version, e.g. ``v1.1.1``; validated by
        :func:`~dandi_compute_plugin.versions.validate_version`.
    on_error
        Called with the :class:`OSError` of a directory that cannot be read (it is
        skipped); by default a warning is logged.

    Yields
    ------
    VersionDirectory

    Raises
    ------
    InvalidVersionError
        For an invalid ``version``.
    FileNotFoundError, NotADirectoryError
        When ``dandiset_directory`` is missing or not a directory.
    """
    top = os.fspath(dandiset_directory)
    for relpath in _walk(top, version, on_error or _log_walk_error):
        yield VersionDirectory.from_relpath(top, relpath)


def scan_version_directories(
    dandiset_directory: str | Path, version: str
) -> list[Path]:
    """Return the sorted paths of the directories of pipeline version ``version``.

    Compatible with ``dandi_compute_code.dandiset.scan_version_directories``:
    every directory named ``version-{version}`` or starting with
    ``version-{version}+`` at any depth below ``dandiset_directory/derivatives/
    dandiset-*/``.  See :func:`iter_version_directories` for the walk's rules.

    Parameters
    ----------
    dandiset_directory
        The top directory of a local clone of the dandiset.
    version
        The pipeline version, e.g. ``v1.1.1``.

    Returns
    -------
    list of pathlib.Path
        Sorted; empty when there is no ``derivatives/`` directory.
    """
    top = os.fspath(dandiset_directory)
    found = list(_walk(top, version, _log_walk_error))
    # the order of Path objects below one top directory: by path components
    found.sort(key=lambda relpath: relpath.split("/"))
    return [Path(os.path.join(top, relpath)) for relpath in found]


def _walk(dandiset_directory: str, version: str, on_error: OnError) -> Iterator[str]:
    """Yield the relative POSIX paths of the directories of ``version``."""
    validate_version(version)
    exact, variant, capsule = version_names(version)
    others = (variant, capsule)  # one startswith call for both

    def candidate(name: str) -> bool:
        return name == exact or name.startswith(others)

    misfits: list[str] = []
    for name, relpath in walk_version_named(dandiset_directory, on_error, candidate):
        if name == exact:
            yield relpath
        elif name.startswith(others):
            if fits_a_form(name):
                yield relpath
            else:
                misfits.append(relpath)
    log_misfits(misfits)


def log_misfits(relpaths: list[str]) -> None:
    """Say at INFO how many ``version-*`` directories of the version asked for
    were skipped because their name fits neither form, with the first one."""
    if relpaths:
        lgr.info(
            "Skipped %d director%s named %s* that fit%s neither the nested form "
            "(version-V) nor the flat one "
            "(version-V_codebase-C_params-P_config-K_attempt-N), e.g. %s",
            len(relpaths),
            "y" if len(relpaths) == 1 else "ies",
            VERSION_PREFIX,
            "s" if len(relpaths) == 1 else "",
            relpaths[0],
        )


def walk_version_named(
    dandiset_directory: str | Path,
    on_error: OnError | None = None,
    looks_selected: Callable[[str], bool] | None = None,
) -> Iterator[tuple[str, str]]:
    """Yield ``(name, relpath)`` of every ``version-*`` directory of a clone.

    The walk of :func:`iter_version_directories` before any version is chosen:
    below ``derivatives/dandiset-*/``, links never followed, hidden entries
    skipped, never into a ``version-*`` directory.  ``relpath`` is POSIX,
    relative to the clone; the name may fit neither form of a version directory
    (:func:`~.layout.fits_a_form` tells).

    Parameters
    ----------
    dandiset_directory
        The top directory of a local clone.
    on_error
        Called with the :class:`OSError` of a directory that cannot be read;
        by default a warning is logged.
    looks_selected
        Whether a name looks like a selected directory: a symbolic link with
        such a name is reported (not followed).  By default every ``version-*``
        name does.
    """
    top = os.fspath(dandiset_directory)
    on_error = on_error or _log_walk_error
    looks_selected = looks_selected or _is_version_named
    # strings, not Path: Path("./x") drops the "./" that os.scandir keeps
    prefix = os.path.join(top, "")
    stack = _dandiset_directories(top, prefix + DERIVATIVES, on_error)
    start = len(prefix)
    while stack:
        try:
            entries = _subdirectories(stack.pop(), looks_selected)
        except OSError as exc:
            on_error(exc)
            continue
        for name, path in entries:
            if name.startswith(VERSION_PREFIX):
                yield name, path[start:]
                # never descend into a version directory
                continue
            stack.append(path)


def _is_version_named(name: str) -> bool:
    return name.startswith(VERSION_PREFIX)


def _dandiset_directories(top: str, derivatives: str, on_error: OnError) -> list[str]:
    """The ``derivatives/dandiset-*`` directories to walk (links are not)."""
    if not os.path.isdir(top):
        if os.path.lexists(top):
            raise NotADirectoryError(f"Not a directory: {top!r}")
        raise FileNotFoundError(f"No such dandiset directory: {top!r}")
    lgr.debug("Scanning %s for version directories", top)
    if os.path.islink(derivatives):
        lgr.warning(
            "%s is a symbolic link: not followed, so no version directories",
            derivatives,
        )
        return []
    if not os.path.isdir(derivatives):
        # a warning: a directory that is a clone (checked by the caller) and
        # holds nothing is more likely the wrong directory than an empty clone
        lgr.warning(
            "%s has no %s/ directory: it holds no version directories",
            top,
            DERIVATIVES,
        )
        return []
    try:
        with os.scandir(derivatives) as it:
            return [
                e.path
                for e in it
                if e.name.startswith(DANDISET_PREFIX)
                and e.is_dir(follow_symlinks=False)
            ]
    except OSError as exc:
        on_error(exc)
        return []


def _subdirectories(
    directory: str, looks_selected: Callable[[str], bool]
) -> list[tuple[str, str]]:
    """``(name, path)`` of the real, not hidden subdirectories of ``directory``.

    A symbolic link whose name ``looks_selected`` is reported: it looks like a
    match and is not one.
    """
    entries = []
    with os.scandir(directory) as it:
        # d_type only: no stat call, and links are never directories here
        for e in it:
            if e.is_dir(follow_symlinks=False):
                if e.name[0] != ".":
                    entries.append((e.name, e.path))
            elif looks_selected(e.name) and e.is_symlink():
                lgr.warning(
                    "Not following the symbolic link %s: named like a version "
                    "directory, it is not one",
                    e.path,
                )
    return entries
