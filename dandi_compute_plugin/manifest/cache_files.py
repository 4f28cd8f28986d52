"""The files of a cache entry: its lock, its temporaries, and their removal.

A cache entry is a directory (see :mod:`.cache`).  Whatever changes what it holds
-- putting a new download in place, removing a damaged or cleared entry, sweeping
up stale temporaries -- does so under the entry's lock (:func:`entry_lock`): the
inter-process file lock ``lock`` in the directory, taken after a lock shared by
this process's threads (a POSIX file lock does not exclude the threads of its own
process).

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
from pathlib import Path
import threading
import time
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

lgr = logging.getLogger("dandi.compute")

LOCK_NAME = "lock"
TMP_SUFFIX = ".tmp"
#: a temporary whose lock cannot be tested is removed only when older than this
UNTESTABLE_TMP_SECONDS = 24 * 3600
_HELD = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES)

#: one thread of this process at a time holds any entry's lock
_THREAD_LOCK = threading.Lock()
#: the names of the temporaries this process writes now (each name holds a random
#: token: names, unlike paths, do not depend on how the cache directory is spelt)
_LIVE: set[str] = set()


@contextmanager
def entry_lock(directory: Path) -> Iterator[None]:
    """Hold the lock of the cache entry in ``directory`` (made if missing).

    Raises
    ------
    OSError
        When the lock file cannot be made or locked.
    """
    import fasteners  # a dependency of dandi

    lock = fasteners.InterProcessLock(str(directory / LOCK_NAME))
    with _THREAD_LOCK:
        try:
            lock.acquire()
        except threading.ThreadError as exc:  # fasteners' word for OS errors
            raise OSError(f"cannot lock {directory / LOCK_NAME}: {exc}") from exc
        try:
            yield
        finally:
            try:
                lock.release()
            except (OSError, threading.ThreadError) as exc:  # pragma: no cover
                lgr.debug("Could not unlock %s: %s", directory / LOCK_NAME, exc)


def open_temporary(path: Path) -> IO[bytes]:
    """Create the temporary ``path`` for writing and mark it live.

    Call it under :func:`entry_lock`; close it with :func:`close_temporary`, or
    rename it and then call :func:`forget_temporary`.

    Raises
    ------
    OSError
        When it cannot be created or locked (then nothing is left behind).
    """
    f = open(path, "xb")  # noqa: SIM115 - handed to the caller
    try:
        if fcntl is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        unlink_quietly(path)
        raise
    _LIVE.add(path.name)
    return f


def forget_temporary(path: Path) -> None:
    """Mark the temporary ``path`` as not live any more (renamed or removed)."""
    _LIVE.discard(path.name)


def close_temporary(f: IO[bytes], path: Path) -> None:
    """Close and remove a temporary; never raises.

    The close comes first (on Windows an open file cannot be removed) and may
    fail on its own -- on a full disk, the last buffered bytes cannot be written
    -- without keeping the file from being removed.
    """
    with suppress(OSError, ValueError):
        f.close()
    unlink_quietly(path)
    forget_temporary(path)


def unlink_quietly(path: Path | str) -> bool:
    """Remove ``path``; return False when it could not be (logged)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return True
    except OSError as exc:
        lgr.debug("Could not remove %s: %s", path, exc)
        return False
    return True


def remove_if_stale(path: str) -> bool:
    """Remove the temporary ``path`` unless a live writer holds it.

    Call it under the entry's lock.  Returns True when it was removed (or was
    gone already).
    """
    if os.path.basename(path) in _LIVE:
        return False
    if fcntl is None:  # pragma: no cover - Windows: an open file stays
        return unlink_quietly(path)
    fd = _open_to_lock(path)
    if fd is None:
        return _old(path) and unlink_quietly(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in _HELD or not _old(path):
                return False
        # the lock is ours: no writer holds the file open any more
        return unlink_quietly(path)
    finally:
        os.close(fd)


def _open_to_lock(path: str) -> int | None:
    """A descriptor of ``path`` to try its lock with, or None (or gone)."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)  # a link is no temporary of ours
    # read-write first: where flock is emulated by POSIX locks (NFS), an
    # exclusive lock needs it; read-only when the file is another user's
    for mode in (os.O_RDWR, os.O_RDONLY):
        try:
            return os.open(path, mode | nofollow)
        except PermissionError:
            continue
        except OSError:
            return None
    return None


def _old(path: str) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime > UNTESTABLE_TMP_SECONDS
    except OSError:
        return False


def stale_candidates(directory: Path) -> list[str]:
    """The temporaries in ``directory`` not written by this process.

    A cheap look without the lock: when it finds none, there is nothing to sweep.
    """
    return [
        e.path
        for e in _scan(directory)
        if e.name.endswith(TMP_SUFFIX) and e.name not in _LIVE
    ]


def _scan(directory: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(directory) as it:
            return list(it)
    except OSError:
        return []


def remove_stale_temporaries(directory: Path) -> None:
    """Remove the stale temporaries of ``directory`` (see the module's notes).

    Call it under :func:`entry_lock`.  Failures are logged, never raised.
    """
    for entry in _scan(directory):
        if entry.name.endswith(TMP_SUFFIX):
            remove_if_stale(entry.path)


def sweep(directory: Path, keep: Container[str]) -> None:
    """Remove the files of ``directory`` but ``keep`` and live temporaries.

    Call it under :func:`entry_lock`.  The lock file always stays: another run
    may be waiting on it, and a new file in its place would be a second lock.
    Failures are logged, never raised.
    """
    for entry in _scan(directory):
        if entry.name in keep or entry.name == LOCK_NAME:
            continue
        if entry.name.endswith(TMP_SUFFIX):
            remove_if_stale(entry.path)
        else:
            unlink_quietly(entry.path)
