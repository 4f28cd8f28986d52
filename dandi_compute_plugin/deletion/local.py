"""The local side of a deletion: what a version directory holds, and its removal.

A version directory of a clone may hold regular files, git-annex/DataLad symbolic
links whose content is present (their target's size counts) or absent (a broken
link: it is compared by path only), and Zarr directories (one asset each, compared
by path only).  A link to a directory is not data of the version directory: the
removal takes only the link, never what it points to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import logging
import os
from pathlib import Path
import shutil
import stat

from ..errors import UnsafePathError
from ..versions import version_directory_parts

lgr = logging.getLogger("dandi.compute")

ZARR_SUFFIXES = (".zarr", ".ngff")


@dataclass(frozen=True)
class LocalFile:
    """One file (or Zarr directory) of a local version directory.

    Attributes
    ----------
    path
        POSIX path relative to the dandiset's top directory (the asset path it
        would have).
    size
        Its size in bytes; None when it is compared by path only (a broken
        git-annex link, whose content is absent, or a Zarr directory).
    mtime_ns
        Its modification time (of the content, for a link), when ``size`` is
        known: what the journal keeps to recognise this very file later.
    """

    path: str
    size: int | None
    mtime_ns: int | None = None


@dataclass(frozen=True)
class UnuploadedFile:
    """A local file that the server does not hold (as it is here).

    Attributes
    ----------
    path
        POSIX path relative to the dandiset's top directory.
    reason
        ``not on the server`` or the sizes that differ.
    """

    path: str
    reason: str


def inventory(top: str | Path, relpath: str) -> list[LocalFile]:
    """List the files below a version directory, without following links.

    Parameters
    ----------
    top
        The dandiset's top directory.
    relpath
        The version directory, POSIX, relative to ``top``.

    Returns
    -------
    list of LocalFile
        Sorted by path.

    Raises
    ------
    OSError
        When a directory cannot be read: what it holds cannot be vouched for.
    """
    found: list[LocalFile] = []
    stack = [(os.path.join(top, *relpath.split("/")), relpath)]
    while stack:
        directory, rel = stack.pop()
        with os.scandir(directory) as it:
            entries = list(it)
        for entry in entries:
            path = f"{rel}/{entry.name}"
            if entry.is_symlink():
                try:
                    st = os.stat(entry.path)
                except OSError:  # broken: git-annex content not present
                    found.append(LocalFile(path, None))
                    continue
                if stat.S_ISDIR(st.st_mode):
                    lgr.debug("%s links to a directory: only the link goes", path)
                    continue
                found.append(LocalFile(path, st.st_size, st.st_mtime_ns))
            elif entry.is_dir(follow_symlinks=False):
                if entry.name.lower().endswith(ZARR_SUFFIXES):
                    found.append(LocalFile(path, None))
                else:
                    stack.append((entry.path, path))
            else:
                st = entry.stat(follow_symlinks=False)
                found.append(LocalFile(path, st.st_size, st.st_mtime_ns))
    return sorted(found, key=lambda f: f.path)


def find_unuploaded(
    files: Sequence[LocalFile],
    remote_sizes: Mapping[str, int],
    journal_sizes: Mapping[str, int] | None = None,
    journal_mtimes: Mapping[str, int | None] | None = None,
) -> list[UnuploadedFile]:
    """Return the local files that the server does not hold.

    Parameters
    ----------
    files
        From :func:`inventory`.
    remote_sizes
        ``{asset path: size}`` of the remote assets below the directory.
    journal_sizes
        ``{asset path: size}`` of assets that an earlier, interrupted run deleted
        from the server (the journal): they count as on the server...
    journal_mtimes
        ... for the very files that run saw: ``{asset path: mtime_ns}`` of the
        local file it found at that path (None: there was none).  A file whose
        content is present and whose time differs is not that file: it was
        written since, and counts as un-uploaded.  Paths missing here are
        checked by size only.

    Returns
    -------
    list of UnuploadedFile
        A file is un-uploaded when no asset has its path, or when its content is
        present and its size differs from the asset's.
    """
    journal_sizes = journal_sizes or {}
    journal_mtimes = journal_mtimes or {}
    missing: list[UnuploadedFile] = []
    for f in files:
        size = remote_sizes.get(f.path)
        if (
            size is None
            and f.path in journal_sizes
            and f.size is not None
            and f.path in journal_mtimes
            and journal_mtimes[f.path] != f.mtime_ns
        ):
            missing.append(
                UnuploadedFile(
                    f.path,
                    "written after the asset at this path was deleted from the server",
                )
            )
            continue
        if size is None:
            size = journal_sizes.get(f.path)
        if size is None:
            missing.append(UnuploadedFile(f.path, "not on the server"))
        elif f.size is not None and f.size != size:
            missing.append(
                UnuploadedFile(f.path, f"{f.size} bytes here, {size} on the server")
            )
    return missing


def check_removable(top: str | Path, relpath: str) -> Path:
    """Check that a version directory may be removed, and return its real path.

    Every component from the real top directory down must be a real directory
    (``lstat``, no symbolic link), the path must be
    ``derivatives/dandiset-*/.../version-*`` with no ``.``/``..`` parts.

    Parameters
    ----------
    top
        The dandiset's top directory (may itself be reached through a link).
    relpath
        POSIX path relative to ``top``.

    Returns
    -------
    pathlib.Path
        The directory to remove.

    Raises
    ------
    FileNotFoundError
        When the directory (or a parent) no longer exists.
    UnsafePathError
        When a component is a link or not a directory, or the path has the
        wrong shape.
    """
    try:
        parts = version_directory_parts(relpath)
    except ValueError as exc:
        raise UnsafePathError(str(exc)) from None
    current = os.path.realpath(top)
    for part in parts:
        current = os.path.join(current, part)
        st = os.lstat(current)  # FileNotFoundError when gone
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePathError(f"{current} is a symbolic link: not removed")
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePathError(f"{current} is not a directory: not removed")
    return Path(current)


def _make_writable(path: str) -> None:
    """Give the owner rwx on every directory below ``path`` (links not followed)."""
    stack = [path]
    while stack:
        directory = stack.pop()
        st = os.lstat(directory)
        if stat.S_IMODE(st.st_mode) & stat.S_IRWXU != stat.S_IRWXU:
            os.chmod(directory, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)
        with os.scandir(directory) as it:
            stack.extend(e.path for e in it if e.is_dir(follow_symlinks=False))


def remove_version_directory(top: str | Path, relpath: str) -> bool:
    """Remove a version directory after :func:`check_removable`.

    :func:`shutil.rmtree` removes links, never what they point to.  Read-only
    directories (git-annex makes some) are made writable and the removal retried.

    Returns
    -------
    bool
        False when the directory was already gone.

    Raises
    ------
    UnsafePathError, OSError
    """
    try:
        path = check_removable(top, relpath)
    except FileNotFoundError:
        return False
    try:
        shutil.rmtree(path)
    except PermissionError:
        _make_writable(str(path))
        shutil.rmtree(path)
    return True
