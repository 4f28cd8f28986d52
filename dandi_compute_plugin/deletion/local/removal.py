"""Removing a version directory: the vetted objects, then the directories emptied.

The removal unlinks exactly the objects the plan's inventory stamped (same path,
device, inode, size, modification and change times, checked through the
directory's descriptor right before each unlink), then removes the directories
that became empty, deepest first, with ``rmdir``.  A file rewritten with bytes of
the same size and its modification time put back still has a new change time:
it stays.  Anything else -- a file written
since the plan, a file changed since, a mount point -- stays, and is named.  It
works through directory descriptors opened without following links, from the
clone's top directory down, so a directory swapped for a symbolic link during the
run is never followed, and it never enters another file system.
"""

from __future__ import annotations

from collections.abc import Mapping
import contextlib
import dataclasses
import errno
import os
from pathlib import Path
import stat

from ...errors import UnsafePathError
from ...versions import version_directory_parts
from .inventory import Stamp, mount_points
from .place import DIR_FLAGS as _DIR_FLAGS
from .place import open_target_parent

#: Linux's descriptor of a place, not an open file (0 where there is none)
_O_PATH = getattr(os, "O_PATH", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


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
        mounts = mount_points()  # read now: a bind mount made since the plan
        try:
            parent, real = stack.enter_context(open_target_parent(top, relpath, mounts))
        except FileNotFoundError:
            return False, []
        name = relpath.rsplit("/", 1)[-1]
        pruner = _Pruner(stamps, mounts, os.stat(parent).st_dev)
        pruner.prune(parent, name, relpath, real)
        return True, pruner.left


class _Pruner:
    """Unlinks vetted objects and removes emptied directories, through descriptors."""

    def __init__(self, stamps: Mapping[str, Stamp], mounts: frozenset[str], dev: int):
        self.stamps, self.mounts, self.dev = stamps, mounts, dev
        self.left: list[str] = []
        #: ``{(dev, ino): ctime_ns}`` of files this removal unlinked a name of
        self.own_changes: dict[tuple[int, int], int] = {}

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
        """Unlink ``name`` if it is still the very object the plan vetted."""
        vetted = self.stamps.get(rel)
        if vetted is None:
            self.left.append(f"{rel} (not in the plan)")
            return
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        seen = Stamp.of(st)
        if self.own_changes.get((st.st_dev, st.st_ino)) == seen.ctime_ns:
            # another name of this file was unlinked here: that changed its
            # change time, nothing else did
            seen = dataclasses.replace(seen, ctime_ns=vetted.ctime_ns)
        if seen != vetted:
            self.left.append(f"{rel} (changed since the plan)")
            return
        if st.st_nlink > 1 and _O_PATH:
            self._unlink_one_of_many(fd, name, rel, st)
        else:
            os.unlink(name, dir_fd=fd)

    def _unlink_one_of_many(
        self, fd: int, name: str, rel: str, st: os.stat_result
    ) -> None:
        """Unlink one name of a file with several, noting its new change time
        (through an ``O_PATH`` descriptor: nothing is opened for reading)."""
        holder = os.open(name, _O_PATH | os.O_NOFOLLOW | _CLOEXEC, dir_fd=fd)
        try:
            if os.fstat(holder).st_ino != st.st_ino:  # replaced since the check
                self.left.append(f"{rel} (changed since the plan)")
                return
            os.unlink(name, dir_fd=fd)
            self.own_changes[(st.st_dev, st.st_ino)] = os.fstat(holder).st_ctime_ns
        finally:
            os.close(holder)


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
