"""Where a target is: the one check of every target, scanned, added or resumed.

A target is a version directory ``derivatives/dandiset-*/.../version-*`` of the
clone.  Its place is accepted only when every component, from the clone's real
top directory down, is a real directory (``lstat``: no symbolic link), on the
clone's file system and not a mount point (a bind mount of the same file system
has the same device number: only the mount table tells it apart).  The walk goes
through directory descriptors opened without following links, so a component
swapped for a link meanwhile fails the walk instead of leading elsewhere.

A target is *absent* only when a component does not exist and every component
above it is a real directory: a dangling link, an unreadable directory or a
mount point on the way leave its local state unknown, and such a target is
refused -- never taken for one that is on the archive only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import contextlib
import os
from pathlib import Path
import stat

from ...errors import UnsafePathError
from ...versions import version_directory_parts
from .inventory import mount_points

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

#: what :func:`locate` finds
PRESENT, ABSENT = "present", "absent"


@contextlib.contextmanager
def open_target_parent(
    top: str | Path, relpath: str, mounts: frozenset[str] | None = None
) -> Iterator[tuple[int, str]]:
    """Walk down to a version directory and yield its parent's descriptor.

    Parameters
    ----------
    top
        The dandiset's top directory (may itself be reached through a link).
    relpath
        The version directory, POSIX, relative to ``top``.
    mounts
        The mount table's mount points (default: read now).

    Yields
    ------
    tuple of (int, str)
        The descriptor of the version directory's parent, and the version
        directory's real path.

    Raises
    ------
    FileNotFoundError
        When a component does not exist (every one above it is a real
        directory): the target is absent.
    UnsafePathError
        When the path has the wrong shape, or a component is a link, not a
        directory, a mount point or on another file system, or cannot be
        examined (permission denied, ...).
    """
    try:
        parts = version_directory_parts(relpath)
    except ValueError as exc:
        raise UnsafePathError(str(exc)) from None
    if mounts is None:
        mounts = mount_points()
    current = os.path.realpath(top)
    try:
        fd = os.open(current, DIR_FLAGS)
    except OSError as exc:  # the clone itself: nothing below it is known
        raise UnsafePathError(
            f"the clone {current} cannot be opened: {exc.strerror or exc}"
        ) from None
    try:
        device = os.fstat(fd).st_dev
        for part in parts[:-1]:
            current = os.path.join(current, part)
            child = _step(fd, part, current, device, mounts)
            os.close(fd)
            fd = child
        current = os.path.join(current, parts[-1])
        _step(fd, parts[-1], current, device, mounts, enter=False)
        yield fd, current
    finally:
        os.close(fd)


def _step(
    fd: int,
    part: str,
    path: str,
    device: int,
    mounts: frozenset[str],
    enter: bool = True,
) -> int:
    """Check ``part`` of the directory ``fd``; open it unless not ``enter``
    (then -1)."""
    try:
        st = os.stat(part, dir_fd=fd, follow_symlinks=False)
        check_directory(st, path, device, mounts)
        if not enter:
            return -1
        # O_NOFOLLOW: a link swapped in since the check fails the open
        child = os.open(part, DIR_FLAGS, dir_fd=fd)
    except (FileNotFoundError, UnsafePathError):
        raise
    except OSError as exc:
        raise UnsafePathError(
            f"the local state of {path} cannot be established, below a "
            f"directory it cannot read: {exc.strerror or exc}"
        ) from None
    if os.fstat(child).st_ino != st.st_ino:
        os.close(child)
        raise UnsafePathError(f"{path} was replaced during the check")
    return child


def check_directory(
    st: os.stat_result, path: str, device: int, mounts: frozenset[str]
) -> None:
    """Refuse anything but a real directory of the clone's file system.

    Raises
    ------
    UnsafePathError
        Naming ``path`` and what it is instead.
    """
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(f"{path} is a symbolic link: not followed")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"{path} is not a directory")
    if st.st_dev != device or path in mounts:
        raise UnsafePathError(
            f"{path} is a mount point (another file system, or a bind mount): "
            "a removal never crosses into it"
        )


def locate(top: str | Path, relpath: str, mounts: frozenset[str] | None = None) -> str:
    """Tell whether a target is present in the clone or known to be absent.

    Parameters
    ----------
    top, relpath, mounts
        As for :func:`open_target_parent`.

    Returns
    -------
    str
        :data:`PRESENT` (a real directory in an accepted place) or
        :data:`ABSENT` (a component does not exist, every one above it is a
        real directory).

    Raises
    ------
    UnsafePathError
        When the target must be refused, with the reason: a link, a mount
        point on the way, or a place whose state cannot be established.
    """
    try:
        with open_target_parent(top, relpath, mounts):
            return PRESENT
    except FileNotFoundError:
        return ABSENT


def overlapping(relpaths: Iterable[str]) -> dict[str, str]:
    """Find the targets nested in one another: each gets a reason (both do).

    A removal of the outer one would take the inner one with it, whatever
    the inner one's own verdict; so neither is touched.

    Parameters
    ----------
    relpaths
        The targets, POSIX, relative to the clone.

    Returns
    -------
    dict of str to str
        ``{relpath: reason}`` for every target that holds or is inside another.
    """
    targets = set(relpaths)
    reasons: dict[str, list[str]] = {}
    for inner in sorted(targets):
        parts = inner.split("/")
        for depth in range(1, len(parts)):
            outer = "/".join(parts[:depth])
            if outer in targets:
                reasons.setdefault(inner, []).append(f"inside the target {outer}")
                reasons.setdefault(outer, []).append(f"holds the target {inner}")
    return {
        path: "; ".join(why) + ": nested targets are both refused, neither is touched"
        for path, why in reasons.items()
    }
