"""Removing a version directory: the vetted objects, then the directories emptied.

The removal unlinks exactly the objects the plan's inventory stamped (same path,
device, inode, size and modification time), then removes the directories that
became empty, deepest first, with ``rmdir``.  Anything else -- a file written
since the plan, a file changed since, a mount point -- stays, and is named.  It
works through directory descriptors opened without following links, from the
clone's top directory down, so a directory swapped for a symbolic link during the
run is never followed, and it never enters another file system.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import contextlib
import errno
import os
from pathlib import Path
import stat

from ...errors import UnsafePathError
from ...versions import version_directory_parts
from .inventory import Stamp, mount_points

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def check_removable(top: str | Path, relpath: str) -> Path:
    """Check that a version directory may be removed, and return its real path.

    Every component from the real top directory down must be a real directory
    (``lstat``, no symbolic link), the path must be
    ``derivatives/dandiset-*/.../version-*`` with no empty, ``.`` or ``..`` part.

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
    with _open_version_directory(top, relpath) as (_, real):
        return Path(real)


@contextlib.contextmanager
def _open_version_directory(top: str | Path, relpath: str) -> Iterator[tuple[int, str]]:
    """The descriptor of the version directory's parent, and its real path."""
    try:
        parts = version_directory_parts(relpath)
    except ValueError as exc:
        raise UnsafePathError(str(exc)) from None
    current = os.path.realpath(top)
    fd = os.open(current, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            current = os.path.join(current, part)
            _check_directory(os.stat(part, dir_fd=fd, follow_symlinks=False), current)
            # O_NOFOLLOW: a link swapped in since the check fails the open
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        current = os.path.join(current, parts[-1])
        _check_directory(os.stat(parts[-1], dir_fd=fd, follow_symlinks=False), current)
        yield fd, current
    finally:
        os.close(fd)


def _check_directory(st: os.stat_result, path: str) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(f"{path} is a symbolic link: not removed")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"{path} is not a directory: not removed")


def remove_vetted(
    top: str | Path, relpath: str, stamps: Mapping[str, Stamp]
) -> tuple[bool, list[str]]:
    """Remove what the plan vetted of a version directory, and what it emptied.

    Parameters
    ----------
    top
        The dandiset's top directory.
    relpath
        The version directory, POSIX, relative to ``top``.
    stamps
        ``{relpath: Stamp}`` of the objects that may be unlinked (from the
        plan's :func:`~.inventory.inventory`).

    Returns
    -------
    tuple of (bool, list of str)
        Whether anything was there to remove (False: already gone), and what
        stays: ``"relpath (why)"``, empty when the directory is gone.

    Raises
    ------
    UnsafePathError
        When the path has the wrong shape or a component is a symbolic link.
    OSError
        When a directory cannot be read or changed.
    """
    with contextlib.ExitStack() as stack:
        try:
            parent, real = stack.enter_context(_open_version_directory(top, relpath))
        except FileNotFoundError:
            return False, []
        name = relpath.rsplit("/", 1)[-1]
        pruner = _Pruner(stamps, mount_points(), os.stat(parent).st_dev)
        pruner.prune(parent, name, relpath, real)
        return True, pruner.left


class _Pruner:
    """Unlinks vetted objects and removes emptied directories, through descriptors."""

    def __init__(self, stamps: Mapping[str, Stamp], mounts: frozenset[str], dev: int):
        self.stamps, self.mounts, self.dev = stamps, mounts, dev
        self.left: list[str] = []

    def prune(self, parent: int, name: str, rel: str, real: str) -> None:
        """Empty the directory ``name`` of ``parent``, then remove it if empty."""
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if st.st_dev != self.dev or real in self.mounts:
            self.left.append(f"{rel} (another file system is mounted there)")
            return
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        reported = len(self.left)
        try:
            if stat.S_IMODE(st.st_mode) & stat.S_IRWXU != stat.S_IRWXU:
                # git-annex makes directories read-only; this one goes anyway
                os.fchmod(fd, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)
            with os.scandir(fd) as it:
                entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
            for child, is_dir in entries:
                child_rel = f"{rel}/{child}"
                if is_dir:
                    self.prune(fd, child, child_rel, os.path.join(real, child))
                else:
                    self._unlink(fd, child, child_rel)
        finally:
            os.close(fd)
        try:
            os.rmdir(name, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            if len(self.left) == reported:  # nothing below named yet
                self.left.append(f"{rel}/ (written to during the removal)")

    def _unlink(self, fd: int, name: str, rel: str) -> None:
        vetted = self.stamps.get(rel)
        if vetted is None:
            self.left.append(f"{rel} (not in the plan)")
            return
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if Stamp.of(st) != vetted:
            self.left.append(f"{rel} (changed since the plan)")
            return
        os.unlink(name, dir_fd=fd)


def prune_empty_parents(top: str | Path, relpath: str) -> list[str]:
    """Remove the parents of a removed version directory that it left empty.

    From the version directory's parent up to, but not including,
    ``derivatives/dandiset-*``: each is removed with ``rmdir`` (which never
    removes a directory holding anything), through descriptors opened without
    following links; the first that stays ends the pruning.

    Parameters
    ----------
    top
        The dandiset's top directory.
    relpath
        The removed version directory, POSIX, relative to ``top``.

    Returns
    -------
    list of str
        The directories removed, deepest first, relative to ``top``.
    """
    try:
        parts = version_directory_parts(relpath)
    except ValueError as exc:
        raise UnsafePathError(str(exc)) from None
    fds = [os.open(os.path.realpath(top), _DIR_FLAGS)]
    removed: list[str] = []
    try:
        # fds[i] is the directory holding parts[i]
        for part in parts[:-2]:
            fds.append(os.open(part, _DIR_FLAGS, dir_fd=fds[-1]))
        for i in range(len(parts) - 2, 1, -1):
            try:
                os.rmdir(parts[i], dir_fd=fds[i])
            except OSError:  # not empty, gone already, a mount point: it stays
                break
            removed.append("/".join(parts[: i + 1]))
    except OSError:  # a parent gone or replaced meanwhile: nothing to prune
        pass
    finally:
        for fd in fds:
            os.close(fd)
    return removed
