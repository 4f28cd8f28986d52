"""Opening the journal's files without trusting what is found at their names.

The journal and its lock live in ``DANDISET_DIR/.dandi-compute/``, a directory of
a clone that may be shared: anybody who can write there could plant a symbolic
link (to make a run write through it), a hard link to another file, a FIFO (to
make a run hang) or a file of their own.  So the directory and both files are
opened without following links (``O_NOFOLLOW``), the files relative to the
directory's descriptor, and each must be what it claims: a directory, or a
regular file with one link, owned by the user who runs (the directory itself
may be a colleague's, in a shared clone).  Anything else is a
:class:`~dandi_compute_plugin.errors.JournalError` naming it, raised before any
change.
"""

from __future__ import annotations

import os
from pathlib import Path
import stat

from ..errors import JournalError

#: flags that never follow a link, never block on a FIFO, never leak to children
_SAFE = (
    getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _owner_problem(st: os.stat_result) -> str | None:
    geteuid = getattr(os, "geteuid", None)
    if geteuid is not None and st.st_uid != geteuid():
        return f"owned by uid {st.st_uid}, not by you (uid {geteuid()})"
    return None


def _refuse(path: Path, problem: str) -> JournalError:
    return JournalError(
        f"The journal's {path} is {problem}: it is not used, and nothing was "
        "changed. Check who put it there; remove it if no run is going on.",
        str(path),
    )


def open_journal_dir(directory: Path, create: bool) -> int | None:
    """Open the journal's directory (creating it when ``create``); its descriptor.

    Returns None when it does not exist and ``create`` is false.

    Raises
    ------
    JournalError
        When it is a symbolic link or not a directory.
    """
    if create:
        try:
            os.mkdir(directory, 0o755)
        except FileExistsError:
            pass
        except OSError as exc:
            raise _refuse(directory, f"not creatable ({exc.strerror})") from None
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _SAFE
    try:
        fd = os.open(directory, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        # ELOOP / ENOTDIR: a link or a file planted at its name
        raise _refuse(
            directory, f"not a directory reached without links ({exc.strerror})"
        ) from None
    # a directory of a shared clone may well be a colleague's: its files are
    # what must be the user's
    return fd


def open_journal_file(dir_fd: int, directory: Path, name: str, flags: int) -> int:
    """Open ``name`` in the journal's directory with ``flags``; check it.

    Raises
    ------
    FileNotFoundError
        When it does not exist and ``flags`` do not create it.
    JournalError
        When it is a link, not a regular file, has other links, or is not the
        user's.
    """
    path = directory / name
    try:
        fd = os.open(name, flags | _SAFE, 0o644, dir_fd=dir_fd)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _refuse(path, f"not openable safely ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(path, f"not a regular file ({stat.filemode(st.st_mode)})")
        if st.st_nlink != 1:
            raise _refuse(path, f"a file with {st.st_nlink} hard links")
        problem = _owner_problem(st)
        if problem is not None:
            raise _refuse(path, problem)
        # back to blocking writes: O_NONBLOCK only kept a FIFO from hanging open()
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_journal_bytes(path: Path) -> bytes:
    """The journal's content, read safely; empty when there is none.

    Raises
    ------
    JournalError
        As :func:`open_journal_file`, or when it cannot be read.
    """
    dir_fd = open_journal_dir(path.parent, create=False)
    if dir_fd is None:
        return b""
    try:
        fd = open_journal_file(dir_fd, path.parent, path.name, os.O_RDONLY)
    except FileNotFoundError:
        return b""
    finally:
        os.close(dir_fd)
    try:
        with open(fd, "rb") as f:
            return f.read()
    except OSError as exc:
        raise JournalError(
            f"Cannot read the journal {path}: {exc.strerror}", str(path)
        ) from None
