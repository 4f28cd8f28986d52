"""The cache's directories and files: private, owned, never reached through a link.

The cache may live where other local users can create names first (a
``$DANDI_COMPUTE_CACHE_DIR`` under ``/tmp``): a directory or file made by someone
else, or a symbolic link in place of one, would let them choose what a run deletes,
where it creates files, or which records it serves.  So every directory of the
cache -- its root, ``manifests`` and each entry -- is created ``0700`` and opened
with ``O_NOFOLLOW | O_DIRECTORY``, and used only when it is owned by this user and
not writable by group or others (:func:`open_entry_directory`).  Every file is then
reached through its directory's descriptor (``openat``), again without following
links, and read only when it is a regular file of this user with one link
(:meth:`EntryDirectory.open_read`).  A directory that fails these checks is never
deleted, written or trusted: :class:`UnsafeCacheError` says why, and the caller
runs without the cache.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
import stat
from typing import IO

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: opening a FIFO for reading would wait for a writer: never wait, look first
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
#: what an unsafe name gives when opened without following links
_LINK_ERRNOS = (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)


class UnsafeCacheError(OSError):
    """A directory or file of the cache that is not private to this user."""


def _owner_problem(st: os.stat_result) -> str | None:
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return f"owned by user id {st.st_uid}, not by this user ({os.geteuid()})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def directory_problem(st: os.stat_result) -> str | None:
    """Why a directory of this ``lstat``/``fstat`` may not hold the cache, or None."""
    if not stat.S_ISDIR(st.st_mode):
        return "not a directory"
    return _owner_problem(st)


def file_problem(st: os.stat_result) -> str | None:
    """Why a file of this ``fstat`` may not be read from the cache, or None."""
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_nlink != 1:
        return f"{st.st_nlink} hard links, not 1"
    return _owner_problem(st)


def open_private_directory(
    name: str, dir_fd: int | None, shown: Path, create: bool
) -> int:
    """Open (made ``0700`` first with ``create``) a private directory.

    Parameters
    ----------
    name
        Its name in ``dir_fd`` (or a path, with ``dir_fd`` None).
    dir_fd
        The descriptor of the directory holding it, or None.
    shown
        Its path, for messages.
    create
        Make it when it is missing.

    Returns
    -------
    int
        Its descriptor (the caller closes it).

    Raises
    ------
    UnsafeCacheError
        When it is a link, not a directory, another user's or writable by others.
    FileNotFoundError
        When it is missing and ``create`` is false.
    """
    made = False
    if create:
        try:
            os.mkdir(name, 0o700, dir_fd=dir_fd)
            made = True
        except FileExistsError:
            pass
    try:
        fd = os.open(name, _DIRECTORY_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in _LINK_ERRNOS:
            raise UnsafeCacheError(
                f"{shown} is a symbolic link or not a directory"
            ) from None
        raise
    try:
        if made:  # whatever the umask
            os.fchmod(fd, 0o700)
        problem = directory_problem(os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    if problem is not None:
        os.close(fd)
        raise UnsafeCacheError(f"{shown} is {problem}")
    return fd


def open_root(root: Path, create: bool) -> int:
    """Open the cache's top directory (see :func:`open_private_directory`); its
    parents are made as ``mkdir -p`` would, only the root itself must be private."""
    if create:
        root.parent.mkdir(parents=True, exist_ok=True)
    return open_private_directory(str(root), None, root, create)


class EntryDirectory:
    """An open, private directory of the cache; its files reached through it.

    Parameters
    ----------
    fd
        The directory's descriptor (owned: closed by :meth:`close`).
    path
        Its path, for messages.
    """

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path

    def __enter__(self) -> EntryDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the directory's descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def open_read(self, name: str) -> IO[bytes]:
        """Open the file ``name`` for reading, if it is a private regular file.

        Raises
        ------
        UnsafeCacheError
            A link, not a regular file, linked elsewhere too, or not private.
        OSError
            When it cannot be opened (``FileNotFoundError`` when missing).
        """
        try:
            flags = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK
            fd = os.open(name, flags, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno in _LINK_ERRNOS:
                raise UnsafeCacheError(f"{self.path / name} is a link") from None
            raise
        try:
            problem = file_problem(os.fstat(fd))
            if problem is not None:
                raise UnsafeCacheError(f"{self.path / name} is {problem}")
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def create(self, name: str) -> IO[bytes]:
        """Create the new file ``name`` (``0600``) for writing; never an existing
        name or a link."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
        fd = os.open(name, flags, 0o600, dir_fd=self.fd)
        return os.fdopen(fd, "wb")

    def open_lock(self, name: str) -> int:
        """The descriptor of the lock file ``name`` (made if missing), never
        through a link."""
        flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC | _NONBLOCK
        try:
            fd = os.open(name, flags, 0o600, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno in _LINK_ERRNOS:
                raise UnsafeCacheError(f"{self.path / name} is a link") from None
            raise
        problem = file_problem(os.fstat(fd))
        if problem is not None:
            os.close(fd)
            raise UnsafeCacheError(f"{self.path / name} is {problem}")
        return fd

    def replace(self, source: str, target: str) -> None:
        """Rename ``source`` to ``target`` in the directory."""
        os.replace(source, target, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def unlink(self, name: str) -> None:
        """Remove the name ``name`` (a link is removed, never followed)."""
        os.unlink(name, dir_fd=self.fd)

    def lstat(self, name: str) -> os.stat_result:
        """The ``lstat`` of ``name``."""
        return os.stat(name, dir_fd=self.fd, follow_symlinks=False)

    def touch(self, name: str) -> None:
        """Set the modification time of ``name`` to now (not through a link)."""
        os.utime(name, dir_fd=self.fd, follow_symlinks=False)

    def names(self) -> list[str]:
        """The names in the directory ([] when it cannot be listed)."""
        try:
            return os.listdir(self.fd)
        except OSError:
            return []

    def subdirectory(self, name: str, create: bool) -> EntryDirectory:
        """Open the private subdirectory ``name`` (see
        :func:`open_private_directory`)."""
        fd = open_private_directory(name, self.fd, self.path / name, create)
        return EntryDirectory(fd, self.path / name)


def open_entry_directory(
    root: Path, parts: tuple[str, ...], create: bool
) -> EntryDirectory:
    """Open ``root/parts...``, each directory on the way private (made ``0700``
    with ``create``).

    Raises
    ------
    UnsafeCacheError, FileNotFoundError, OSError
    """
    current = EntryDirectory(open_root(root, create), root)
    try:
        for part in parts:
            inner = current.subdirectory(part, create)
            current.close()
            current = inner
    except BaseException:
        current.close()
        raise
    return current
