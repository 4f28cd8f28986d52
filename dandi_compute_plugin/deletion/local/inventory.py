"""What a local version directory holds, seen once by the plan.

A version directory of a clone may hold regular files, git-annex/DataLad symbolic
links whose content is present (compared by the content they point to) or absent
(a broken link: compared by path only), and Zarr directories (one asset each).  A
link to a directory is not data of the version directory: the removal takes only
the link, never what it points to.

Besides the files to compare with the archive, the inventory keeps a *stamp*
(device, inode, size, modification time) of every object the removal may later
unlink: the removal touches those very objects and nothing else.  The walk never
follows a link and never crosses into another file system: a directory on another
device, or a mount point of the same one (a bind mount, which only the mount table
shows), is recorded and not entered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import logging
import os
import re
import stat

lgr = logging.getLogger("dandi.compute")

ZARR_SUFFIXES = (".zarr", ".ngff")
MOUNTINFO = "/proc/self/mountinfo"
_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Stamp:
    """What identifies one file system object as the plan saw it (``lstat``)."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stamp:
        """The stamp of an ``lstat`` result."""
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class LocalFile:
    """One asset-sized unit of a local version directory: a file, a link, a Zarr.

    Attributes
    ----------
    path
        POSIX path relative to the dandiset's top directory (the asset path it
        would have).
    size
        Its content's size in bytes; None for a Zarr directory or a broken
        git-annex link (content absent: compared by path only).
    mtime_ns
        Its content's modification time when ``size`` is known: what the
        journal keeps to recognise this very file later.
    kind
        ``file``, ``link`` (content present), ``absent`` (a broken link) or
        ``zarr``.
    """

    path: str
    size: int | None
    mtime_ns: int | None = None
    kind: str = "file"

    @property
    def has_content(self) -> bool:
        """Whether its content is here to be compared (not a broken link)."""
        return self.kind != "absent"


@dataclass
class Inventory:
    """A version directory as the plan saw it.

    Attributes
    ----------
    files
        The files to compare with the archive, sorted by path.
    stamps
        ``{relpath: Stamp}`` of every object the removal may unlink: files,
        links (to anything), the files inside Zarr directories.
    mounts
        Directories inside it that belong to another file system (not entered).
    """

    files: list[LocalFile] = field(default_factory=list)
    stamps: dict[str, Stamp] = field(default_factory=dict)
    mounts: list[str] = field(default_factory=list)


def mount_points() -> frozenset[str]:
    """The mount points of this process's mount table (empty where there is none).

    A bind mount of a directory of the same file system has the same device
    number as its parent: only the table tells it apart.
    """
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return frozenset()
    # field 5 is the mount point; the kernel writes space, tab, newline and
    # backslash in it as \ooo
    return frozenset(
        _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), fields[4])
        for fields in (line.split(" ") for line in lines)
        if len(fields) > 4
    )


def inventory(top: str | os.PathLike[str], relpath: str) -> Inventory:
    """List what a version directory holds, without following links.

    Parameters
    ----------
    top
        The dandiset's top directory.
    relpath
        The version directory, POSIX, relative to ``top``.

    Returns
    -------
    Inventory

    Raises
    ------
    OSError
        When a directory cannot be read: what it holds cannot be vouched for.
    """
    found = Inventory()
    root = os.path.join(top, *relpath.split("/"))
    real_root = os.path.realpath(root)
    mounts = mount_points()
    device = os.lstat(root).st_dev
    stack = [(root, real_root, relpath)]
    while stack:
        directory, real, rel = stack.pop()
        with os.scandir(directory) as it:
            entries = list(it)
        for entry in entries:
            path, real_path = f"{rel}/{entry.name}", os.path.join(real, entry.name)
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                if st.st_dev != device or real_path in mounts:
                    found.mounts.append(path)
                elif entry.name.lower().endswith(ZARR_SUFFIXES):
                    _add_zarr(found, entry.path, path, device, mounts)
                else:
                    stack.append((entry.path, real_path, path))
                continue
            found.stamps[path] = Stamp.of(st)
            if stat.S_ISLNK(st.st_mode):
                _add_link(found, entry.path, path)
            else:
                found.files.append(LocalFile(path, st.st_size, st.st_mtime_ns))
    found.files.sort(key=lambda f: f.path)
    found.mounts.sort()
    return found


def _add_link(found: Inventory, full: str, path: str) -> None:
    try:
        st = os.stat(full)
    except OSError:  # broken: git-annex content not present
        found.files.append(LocalFile(path, None, kind="absent"))
        return
    if stat.S_ISDIR(st.st_mode):
        lgr.debug("%s links to a directory: only the link goes", path)
        return
    found.files.append(LocalFile(path, st.st_size, st.st_mtime_ns, kind="link"))


def _add_zarr(
    found: Inventory, full: str, path: str, device: int, mounts: frozenset[str]
) -> None:
    """A Zarr directory is one asset; every object in it is stamped."""
    found.files.append(LocalFile(path, None, kind="zarr"))
    stack = [(full, path)]
    while stack:
        directory, rel = stack.pop()
        with os.scandir(directory) as it:
            entries = list(it)
        for entry in entries:
            sub = f"{rel}/{entry.name}"
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                found.stamps[sub] = Stamp.of(st)
            elif st.st_dev != device or os.path.realpath(entry.path) in mounts:
                found.mounts.append(sub)
            else:
                stack.append((entry.path, sub))
