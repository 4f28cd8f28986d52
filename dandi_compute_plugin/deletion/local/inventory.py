"""What a local version directory holds, seen once by the plan.

A version directory of a clone may hold regular files, git-annex/DataLad symbolic
links whose content is present (compared by the content they point to) or absent
(a broken link: compared by path only), and Zarr directories (one asset each).  A
link to a directory is not data of the version directory: the removal takes only
the link, never what it points to.

Besides the files to compare with the archive, the inventory keeps a *stamp*
(device, inode, size, modification and change times) of every object the removal
may later unlink: the removal touches those very objects and nothing else.  The
walk never follows a link and never crosses into another file system: a directory
on another device, or a mount point of the same one (a bind mount, which only the
mount table shows), is recorded and not entered.

Some local data can never be on the archive, and is listed as *local only*:

- a FIFO, socket or device (also as the target of a link): never opened, since
  opening one may wait forever;
- inside a Zarr, what dandi's Zarr checksum skips (its own rule,
  :func:`dandi.utils.exclude_from_zarr`: ``.git``, ``.datalad``, ...): a
  matching checksum says nothing of it;
- inside a Zarr, a link to a directory or a broken link: dandi's checksum would
  follow the one out of the Zarr and cannot read the other.  (A Zarr whose
  files are all broken links -- git-annex content not fetched -- holds nothing
  to lose: it is compared by path, as a broken link is.)

A Zarr holding any of the last two kinds is not read for a checksum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import logging
import os
from pathlib import Path
import re
import stat

lgr = logging.getLogger("dandi.compute")

ZARR_SUFFIXES = (".zarr", ".ngff")
MOUNTINFO = "/proc/self/mountinfo"
_OCTAL = re.compile(r"\\([0-7]{3})")
NEVER_UPLOADED = "skipped by dandi's Zarr checksum: never uploaded"


@dataclass(frozen=True)
class Stamp:
    """What identifies one file system object as the plan saw it (``lstat``).

    The change time is set by the kernel on every write and cannot be set back
    by a user (unlike the modification time, which ``touch -r`` restores).
    """

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stamp:
        """The stamp of an ``lstat`` result."""
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


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
    zarr_files, zarr_bytes
        For a Zarr: the files its checksum covers, and their bytes.
    readable
        False for a Zarr holding what must not be read (see the module): its
        checksum is not computed.
    members
        For a Zarr: ``(path inside it, Stamp)`` of each file its checksum
        covers, sorted; None when one of them is a link (its stamp does not
        stand for its content).  What the journal keeps, so that a re-run after
        a kill in the middle of its removal can tell the files left for those
        the checksum covered.
    """

    path: str
    size: int | None
    mtime_ns: int | None = None
    kind: str = "file"
    zarr_files: int = 0
    zarr_bytes: int = 0
    readable: bool = True
    members: tuple[tuple[str, Stamp], ...] | None = None

    @property
    def has_content(self) -> bool:
        """Whether its content is here to be compared (not a broken link)."""
        return self.kind != "absent"

    @property
    def files(self) -> int:
        """How many local files it is (a Zarr: those its checksum covers)."""
        return self.zarr_files if self.kind == "zarr" else 1

    @property
    def bytes(self) -> int:
        """Its local bytes (a Zarr: its files'; absent content: 0)."""
        return self.zarr_bytes if self.kind == "zarr" else self.size or 0


@dataclass
class Inventory:
    """A version directory as the plan saw it.

    Attributes
    ----------
    files
        The files to compare with the archive, sorted by path.
    stamps
        ``{relpath: Stamp}`` of every object the removal may unlink: files,
        links (to anything), special files, every object inside a Zarr.
    mounts
        Directories inside it that belong to another file system (not entered).
    local_only
        ``(relpath, reason)`` of what the archive cannot hold (see the
        module), sorted.
    """

    files: list[LocalFile] = field(default_factory=list)
    stamps: dict[str, Stamp] = field(default_factory=dict)
    mounts: list[str] = field(default_factory=list)
    local_only: list[tuple[str, str]] = field(default_factory=list)


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


_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def special_kind(mode: int) -> str | None:
    """What a file mode is when it is neither a regular file, a directory nor a
    symbolic link (``"a FIFO"``, ...), else None."""
    for test, name in _SPECIAL:
        if test(mode):
            return name
    return None


#: a broken link inside a Zarr (its git-annex content not fetched)
_BROKEN = object()
_PARTLY_ABSENT = (
    "a broken link inside a Zarr whose other files are here: dandi's checksum "
    "cannot read it, so the Zarr cannot be compared with the archive's"
)


def _never_opened(kind: str) -> str:
    return f"{kind}: the archive cannot hold it (never opened)"


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
    walker = _Walker(found, mount_points(), os.lstat(root).st_dev)
    stack = [(root, os.path.realpath(root), relpath)]
    while stack:
        directory, real, rel = stack.pop()
        for entry, path, real_path, st in walker.entries(directory, real, rel):
            if stat.S_ISDIR(st.st_mode):
                if walker.enters(st, path, real_path):
                    if entry.name.lower().endswith(ZARR_SUFFIXES):
                        walker.zarr(entry.path, real_path, path)
                    else:
                        stack.append((entry.path, real_path, path))
                continue
            found.stamps[path] = Stamp.of(st)
            if stat.S_ISLNK(st.st_mode):
                walker.link(entry.path, path)
            elif stat.S_ISREG(st.st_mode):
                found.files.append(LocalFile(path, st.st_size, st.st_mtime_ns))
            else:
                found.local_only.append(
                    (path, _never_opened(special_kind(st.st_mode) or "not a file"))
                )
    found.files.sort(key=lambda f: f.path)
    found.mounts.sort()
    found.local_only.sort()
    return found


class _Walker:
    """The steps of :func:`inventory`, sharing what it found."""

    def __init__(self, found: Inventory, mounts: frozenset[str], device: int):
        self.found, self.mounts, self.device = found, mounts, device

    @staticmethod
    def entries(
        directory: str, real: str, rel: str
    ) -> list[tuple[os.DirEntry[str], str, str, os.stat_result]]:
        """``(entry, relpath, real path, lstat)`` of each entry of a directory."""
        with os.scandir(directory) as it:
            entries = list(it)
        return [
            (
                e,
                f"{rel}/{e.name}",
                os.path.join(real, e.name),
                e.stat(follow_symlinks=False),
            )
            for e in entries
        ]

    def enters(self, st: os.stat_result, path: str, real_path: str) -> bool:
        """Whether a directory may be entered (False: a mount point, recorded)."""
        if st.st_dev != self.device or real_path in self.mounts:
            self.found.mounts.append(path)
            return False
        return True

    def link(self, full: str, path: str) -> None:
        """A link of the version directory: compared by the content it points to."""
        try:
            st = os.stat(full)
        except OSError:  # broken: git-annex content not present
            self.found.files.append(LocalFile(path, None, kind="absent"))
            return
        if stat.S_ISDIR(st.st_mode):
            lgr.debug("%s links to a directory: only the link goes", path)
        elif stat.S_ISREG(st.st_mode):
            self.found.files.append(
                LocalFile(path, st.st_size, st.st_mtime_ns, kind="link")
            )
        else:
            kind = special_kind(st.st_mode) or "not a file"
            self.found.local_only.append((path, _never_opened(f"a link to {kind}")))

    def zarr(self, full: str, real: str, path: str) -> None:
        """A Zarr directory is one asset; every object in it is stamped."""
        # dandi's own rule, whatever the installed dandi skips (imported here:
        # dandi.utils is slow to import and most directories hold no Zarr)
        from dandi.utils import exclude_from_zarr

        count = size = 0
        readable, broken = True, []
        members: list[tuple[str, Stamp]] | None = []
        # the rule is given each path as dandi's walk gives it (a Path joined
        # to its parent's: cheaper than parsing each path anew)
        stack = [(full, real, path, False, Path(full))]
        while stack:
            directory, real_dir, rel, skipped, parent = stack.pop()
            for entry, sub, real_sub, st in self.entries(directory, real_dir, rel):
                member = parent / entry.name
                excluded = skipped or exclude_from_zarr(member)
                is_dir = stat.S_ISDIR(st.st_mode)
                if excluded and not skipped:
                    self.found.local_only.append(
                        (sub + "/" if is_dir else sub, NEVER_UPLOADED)
                    )
                if is_dir:
                    if self.enters(st, sub, real_sub):
                        stack.append((entry.path, real_sub, sub, excluded, member))
                    continue
                stamp = self.found.stamps[sub] = Stamp.of(st)
                if excluded:
                    continue
                covered = self._zarr_member(entry.path, sub, st)
                if covered is _BROKEN:
                    broken.append(sub)
                elif covered is None:
                    readable = False
                else:
                    count, size = count + 1, size + covered
                    if members is not None and stat.S_ISREG(st.st_mode):
                        members.append((sub[len(path) + 1 :], stamp))
                    else:
                        members = None
        if broken and not count and readable:
            # git-annex content not fetched: nothing here to lose, compared by
            # path as a broken link is
            self.found.files.append(LocalFile(path, None, kind="absent"))
            return
        self.found.local_only.extend((sub, _PARTLY_ABSENT) for sub in broken)
        self.found.files.append(
            LocalFile(
                path,
                None,
                kind="zarr",
                zarr_files=count,
                zarr_bytes=size,
                readable=readable and not broken,
                members=None if members is None else tuple(sorted(members)),
            )
        )

    def _zarr_member(
        self, full: str, sub: str, st: os.stat_result
    ) -> int | object | None:
        """The size of a Zarr's file as its checksum reads it; :data:`_BROKEN`
        for a broken link; None (and the reason recorded) when the checksum
        must not read it."""
        if stat.S_ISREG(st.st_mode):
            return st.st_size
        if not stat.S_ISLNK(st.st_mode):
            why = _never_opened(special_kind(st.st_mode) or "not a file")
        else:
            try:
                target = os.stat(full)
            except OSError:
                return _BROKEN
            else:
                if stat.S_ISREG(target.st_mode):
                    return target.st_size
                if stat.S_ISDIR(target.st_mode):
                    why = (
                        "a link to a directory inside a Zarr: dandi's checksum "
                        "would follow it out of the Zarr"
                    )
                else:
                    kind = special_kind(target.st_mode) or "not a file"
                    why = _never_opened(f"a link to {kind}")
        self.found.local_only.append((sub, why))
        return None
