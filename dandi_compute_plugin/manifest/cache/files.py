"""The files of a cache entry: its lock, its temporaries, and their removal.

A cache entry is a private directory (see :mod:`.entry` and :mod:`.dirs`),
and every name in it is reached through the directory's descriptor, never through
a link.  Whatever changes what it holds
-- putting a new download in place, removing a damaged or cleared entry, sweeping
up stale temporaries -- does so under the entry's lock (:func:`entry_lock`): the
inter-process file lock ``lock`` in the directory, taken after a lock shared by
this process's threads (a POSIX file lock does not exclude the threads of its own
process).  Waiting for it is always bounded: past the deadline,
:class:`LockTimeout` (a stopped process, a lock on NFS that is never released),
and the caller runs without the cache.  A cache entry's uses share one deadline
(:meth:`~.entry.CacheEntry.lock`).  Clean-up removes only regular files of the
names this module and :mod:`.writer` create (:func:`is_cache_file`).

A download is written to temporaries, ``*.tmp`` files in the entry's directory,
renamed into place when the download is complete.  A run that is killed
(SIGKILL, SIGTERM, a crash) cannot remove its temporaries; the next run that uses
the entry does.  Which temporaries are *stale* -- left by a writer that is gone --
is decided by locks that the operating system drops when their holder dies:

- :func:`open_temporary`, under the entry's lock, creates a temporary and takes an
  exclusive ``flock`` on it, held as long as the writer's descriptor stays open,
  and records its path in this process's set of live temporaries;
- :func:`sweep`, also under the entry's lock, leaves the temporaries in that set
  alone and tries a non-blocking ``flock`` on each other one: when it gets the
  lock, nobody holds the file open for writing any more and it is removed; when
  the lock is held, a live writer is using it and it stays.

Locks rather than process ids in the names: a process id says nothing about a
writer in another PID namespace (a container) or on another host sharing the cache
directory, and ids are reused; a lock is released by the kernel at the moment its
holder dies, whatever killed it, and seen by every process that can open the
file.  The set of live temporaries covers the threads of one process, and file
systems where ``flock`` is emulated by per-process POSIX locks (NFS).  Creating
and locking under the entry's lock means no sweep can see a temporary between its
creation and its lock.  Where ``flock`` is missing (Windows), an open file cannot
be removed: the sweep just tries, and a live writer's file stays.  A temporary
whose lock cannot be tested at all (an error other than "held") is removed only
once it is a day old.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from contextlib import contextmanager, suppress
import errno
import logging
import os
import re
import stat
import threading
import time
from typing import IO

from .dirs import EntryDirectory

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

lgr = logging.getLogger("dandi.compute")

LOCK_NAME = "lock"
TMP_SUFFIX = ".tmp"
#: a temporary whose lock cannot be tested is removed only when older than this
UNTESTABLE_TMP_SECONDS = 24 * 3600
#: how often a held lock is tried again while waiting for it
LOCK_POLL_SECONDS = 0.05
_HELD = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES)
#: the names the cache creates in an entry: nothing else is ever removed
_OURS = re.compile(
    r"(meta\.json|assets-[0-9a-f]{16}\.jsonld|index-[0-9a-f]{16}\.txt"
    r"|(offsets|blocks)-[0-9a-f]{16}\.bin)(\.tmp)?|meta-[0-9a-f]{8}\.json\.tmp"
)

#: one thread of this process at a time holds any entry's lock
_THREAD_LOCK = threading.Lock()
#: the names of the temporaries this process writes now (each name holds a random
#: token: names, unlike paths, do not depend on how the cache directory is spelt)
_LIVE: set[str] = set()


class LockTimeout(OSError):
    """An entry's lock was not had before the deadline."""


def is_cache_file(name: str) -> bool:
    """True for the names of the files the cache creates in an entry."""
    return _OURS.fullmatch(name) is not None


@contextmanager
def entry_lock(directory: EntryDirectory, timeout: float) -> Iterator[None]:
    """Hold the lock of the cache entry ``directory`` (made if missing).

    Parameters
    ----------
    directory
        The entry's open directory.
    timeout
        Seconds to wait at most; 0 or less: one try, no wait.

    Raises
    ------
    LockTimeout
        When the lock is held by another process or thread past ``timeout``.
    OSError
        When the lock file cannot be made or locked (``UnsafeCacheError`` when
        it is a link or not this user's).
    """
    timeout = max(timeout, 0.0)
    deadline = time.monotonic() + timeout
    shown = directory.path / LOCK_NAME
    if not _THREAD_LOCK.acquire(timeout=timeout):
        raise LockTimeout(f"{shown} is held by another thread (waited {timeout} s)")
    try:
        fd = directory.open_lock(LOCK_NAME)
        try:
            _flock(fd, deadline, shown, timeout)
            try:
                yield
            finally:
                if fcntl is not None:
                    with suppress(OSError):
                        fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        _THREAD_LOCK.release()


def _flock(fd: int, deadline: float, shown: object, timeout: object) -> None:
    """Take the exclusive ``flock`` of ``fd``, polling until ``deadline``."""
    if fcntl is None:  # pragma: no cover - Windows
        return
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in _HELD:
                raise
        left = deadline - time.monotonic()
        if left <= 0:
            raise LockTimeout(f"{shown} is held by another run (waited {timeout} s)")
        time.sleep(min(LOCK_POLL_SECONDS, left))


def open_temporary(directory: EntryDirectory, name: str) -> IO[bytes]:
    """Create the temporary ``name`` in ``directory`` for writing and mark it live.

    Call it under :func:`entry_lock`; close it with :func:`close_temporary`, or
    rename it and then call :func:`forget_temporary`.

    Raises
    ------
    OSError
        When it cannot be created or locked (then nothing is left behind).
    """
    f = directory.create(name)
    try:
        if fcntl is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        unlink_quietly(directory, name)
        raise
    _LIVE.add(name)
    return f


def forget_temporary(name: str) -> None:
    """Mark the temporary ``name`` as not live any more (renamed or removed)."""
    _LIVE.discard(name)


def close_temporary(f: IO[bytes], directory: EntryDirectory, name: str) -> None:
    """Close and remove a temporary; never raises.

    The close comes first and may fail on its own -- on a full disk, the last
    buffered bytes cannot be written -- without keeping the file from being
    removed.
    """
    with suppress(OSError, ValueError):
        f.close()
    unlink_quietly(directory, name)
    forget_temporary(name)


def unlink_quietly(directory: EntryDirectory, name: str) -> bool:
    """Remove ``name`` from ``directory``; False when it could not be (logged)."""
    try:
        directory.unlink(name)
    except FileNotFoundError:
        return True
    except OSError as exc:
        lgr.debug("Could not remove %s: %s", directory.path / name, exc)
        return False
    return True


def remove_if_stale(directory: EntryDirectory, name: str) -> bool:
    """Remove the temporary ``name`` unless a live writer holds it.

    Call it under the entry's lock.  Returns True when it was removed (or was
    gone already).
    """
    if name in _LIVE:
        return False
    if fcntl is None:  # pragma: no cover - Windows: an open file stays
        return unlink_quietly(directory, name)
    fd = _open_to_lock(directory, name)
    if fd is None:
        return _old(directory, name) and unlink_quietly(directory, name)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in _HELD or not _old(directory, name):
                return False
        # the lock is ours: no writer holds the file open any more
        return unlink_quietly(directory, name)
    finally:
        os.close(fd)


def _open_to_lock(directory: EntryDirectory, name: str) -> int | None:
    """A descriptor of ``name`` to try its lock with, or None (or gone)."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)  # a link is no temporary of ours
    # read-write first: where flock is emulated by POSIX locks (NFS), an
    # exclusive lock needs it
    for mode in (os.O_RDWR, os.O_RDONLY):
        try:
            return os.open(name, mode | nofollow, dir_fd=directory.fd)
        except PermissionError:
            continue
        except OSError:
            return None
    return None


def _old(directory: EntryDirectory, name: str) -> bool:
    try:
        mtime = directory.lstat(name).st_mtime
    except OSError:
        return False
    return time.time() - mtime > UNTESTABLE_TMP_SECONDS


def _our_files(directory: EntryDirectory) -> list[str]:
    """The names of ``directory`` that the cache creates, regular files only."""
    found = []
    for name in directory.names():
        if not is_cache_file(name):
            continue
        try:
            if stat.S_ISREG(directory.lstat(name).st_mode):
                found.append(name)
        except OSError:
            continue
    return found


def stale_candidates(directory: EntryDirectory) -> list[str]:
    """The temporaries in ``directory`` not written by this process.

    A cheap look without the lock: when it finds none, there is nothing to sweep.
    """
    return [
        name
        for name in directory.names()
        if name.endswith(TMP_SUFFIX) and is_cache_file(name) and name not in _LIVE
    ]


def remove_stale_temporaries(directory: EntryDirectory) -> None:
    """Remove the stale temporaries of ``directory`` (see the module's notes).

    Call it under :func:`entry_lock`.  Failures are logged, never raised.
    """
    for name in _our_files(directory):
        if name.endswith(TMP_SUFFIX):
            remove_if_stale(directory, name)


def sweep(directory: EntryDirectory, keep: Container[str]) -> None:
    """Remove the cache's files of ``directory`` but ``keep`` and live temporaries.

    Call it under :func:`entry_lock`.  The lock file always stays: another run
    may be waiting on it, and a new file in its place would be a second lock.
    Names the cache does not create, and anything but regular files, stay too.
    Failures are logged, never raised.
    """
    for name in _our_files(directory):
        if name in keep:
            continue
        if name.endswith(TMP_SUFFIX):
            remove_if_stale(directory, name)
        else:
            unlink_quietly(directory, name)
