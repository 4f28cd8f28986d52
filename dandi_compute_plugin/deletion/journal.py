"""The deletion journal: what a run deleted remotely, so that a re-run can finish.

The journal lives inside the clone, at
``DANDISET_DIR/.dandi-compute/delete-journal.jsonl`` (a hidden directory: the scan,
``dandi upload`` and ``dandi organize`` skip it), so that it travels with the clone
and any run on the same clone finds it -- no ``--resume`` flag: resuming is
automatic.  Its lines are described in :mod:`.journal_format`.

On the next run, the assets of every target that is not ``done`` count as "on the
server" for the un-uploaded-data refusal, for the very content that run saw (the
same digest; with ``--verify size`` the same size and modification time): their
local copies were uploaded, the run deleted them remotely, and may now finish the
local removal.  The journal is bound to one archive instance, dandiset and clone:
opened by a run for anything else, it stops that run before any change.  A
journaled target whose directory is gone locally is finished by the next run of
its version (:func:`.targets.journaled_and_gone`).  When a run ends, targets
that are ``done`` are dropped; a journal with nothing left is removed.  An
exclusive lock (``fcntl.flock`` where available) on a lock file next to it,
removed by the run that holds it when it ends, keeps two runs off the same
clone.  The directory and both files are opened without following links and checked
(:mod:`.journal_files`).

Intents are durable before the first deletion request of their target; the
fsyncs are shared (a group commit): one covers every line written while the
previous one ran, so targets starting at once do not queue one fsync each
behind one lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import contextlib
import errno
import logging
import os
from pathlib import Path
import threading
from typing import Any

from ..errors import JournalBusyError, JournalError, JournalMismatchError
from .journal_files import open_journal_dir, open_journal_file
from .journal_format import BINDING, binding_record, encode, read_journal
from .local import Expected, Stamp
from .model import PlannedAsset

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

lgr = logging.getLogger("dandi.compute")

JOURNAL_DIR = ".dandi-compute"
JOURNAL_NAME = "delete-journal.jsonl"
LOCK_NAME = JOURNAL_NAME + ".lock"


def journal_path(dandiset_directory: str | Path) -> Path:
    """Return where the journal of a clone lives."""
    return Path(dandiset_directory, JOURNAL_DIR, JOURNAL_NAME)


def pending_targets(records: Iterable[dict[str, Any]]) -> set[str]:
    """The targets an earlier run started and did not finish."""
    records = [r for r in records if "target" in r]
    done = {r["target"] for r in records if r["event"] == "done"}
    return {r["target"] for r in records if r["target"] not in done}


def unfinished_targets(dandiset_directory: str | Path) -> set[str]:
    """The targets the clone's journal holds unfinished, read without taking
    its lock; a journal that cannot be trusted raises :class:`JournalError`."""
    return pending_targets(read_journal(journal_path(dandiset_directory)).entries)


class Journal:
    """The journal of one clone, for one run against one instance and dandiset.

    Parameters
    ----------
    dandiset_directory
        The clone's top directory.
    api_url, dandiset_id
        The archive instance (its API URL) and the dandiset of this run.
    writable
        False for a dry run: read what is there, write nothing, take no lock.

    Raises
    ------
    JournalBusyError
        When ``writable`` and another run holds the lock.
    JournalMismatchError
        When the journal belongs to another instance, dandiset or clone.
    JournalError
        When it is damaged.
    """

    def __init__(
        self,
        dandiset_directory: str | Path,
        *,
        api_url: str,
        dandiset_id: str,
        writable: bool,
    ) -> None:
        self.path = journal_path(dandiset_directory)
        self.writable = writable
        self.binding = binding_record(
            api_url, dandiset_id, os.path.realpath(dandiset_directory)
        )
        self._lock = threading.Lock()  # appends: whole lines, in order
        self._sync = threading.Condition()  # the group commit (see _sync_to)
        self._fd: int | None = None
        self._dir_fd: int | None = None
        self._lockfd: int | None = None
        self._closed = False
        self._broken: OSError | None = None
        self._written = 0  # appends made (under _lock)
        self._synced = 0  # appends known durable (under _sync)
        self._syncing = False
        if writable:
            self._take_lock()
        try:
            found, self._records = read_journal(self.path)
            if found is not None:
                self._check_binding(found)
        except BaseException:
            self._release_lock()
            raise
        self.pending_targets = pending_targets(self._records)
        # read once: every target of the plan is compared with the same
        self._expected = {
            r["path"]: Expected(
                r["size"],
                r["digest"],
                r["mtime_ns"],
                deleted=True,
                members=_members(r.get("members")),
            )
            for r in self._records
            if r["event"] == "intent" and r["target"] in self.pending_targets
        }
        #: what this run journaled: {target: assets confirmed deleted}, and the
        #: targets whose local directory it recorded gone
        self.deleted_by_run: dict[str, int] = {}
        self.done_by_run: set[str] = set()
        #: {target: asset ids of its intents}: all that a resume may delete
        self.intended: dict[str, set[str]] = {}
        for r in self._records:
            if r["event"] == "intent" and r["target"] in self.pending_targets:
                self.intended.setdefault(r["target"], set()).add(r["asset_id"])

    def _take_lock(self) -> None:
        """Lock the clone for this run, on a lock file checked like the journal.

        The lock file is removed by the run that holds it: a run that opened
        it just before must then find that the name is no longer its file, and
        tries again with the new one.
        """
        self._dir_fd = open_journal_dir(self.path.parent, create=True)
        assert self._dir_fd is not None
        for _ in range(100):
            fd = self._open(LOCK_NAME, os.O_RDWR | os.O_CREAT)
            self._lockfd = fd
            if fcntl is None:  # pragma: no cover - Windows
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._release_lock()
                raise JournalBusyError(
                    f"Another delete-version run holds {self.path}"
                ) from None
            try:
                now = os.stat(LOCK_NAME, dir_fd=self._dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                now = None
            mine = os.fstat(fd)
            if now is not None and (now.st_dev, now.st_ino) == (
                mine.st_dev,
                mine.st_ino,
            ):
                return
            os.close(fd)  # removed (or replaced) by the run that just ended
            self._lockfd = None
        self._release_lock()
        raise JournalBusyError(f"Cannot lock {self.path}: its lock file keeps changing")

    def _open(self, name: str, flags: int) -> int:
        assert self._dir_fd is not None
        return open_journal_file(self._dir_fd, self.path.parent, name, flags)

    def _release_lock(self, remove: bool = False) -> None:
        if self._lockfd is not None:
            if remove:  # while still holding it: see _take_lock
                with contextlib.suppress(OSError):
                    os.unlink(LOCK_NAME, dir_fd=self._dir_fd)
            os.close(self._lockfd)
            self._lockfd = None
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None

    def _check_binding(self, found: dict[str, Any]) -> None:
        mine = self.binding
        if all(found[k] == mine[k] for k in BINDING):
            return
        raise JournalMismatchError(
            f"The journal {self.path} belongs to another run: dandiset "
            f"{found['dandiset_id']} on {found['api_url']} (clone {found['clone']}), "
            f"not dandiset {mine['dandiset_id']} on {mine['api_url']} (clone "
            f"{mine['clone']}). It vouches for nothing here, and nothing was "
            "changed. Finish that run first: the same command with -i "
            f"{found['api_url']} (dandi_instance= in Python); or, after checking "
            "that what it records is safe, move the journal aside.",
            str(self.path),
        )

    def expected(self) -> dict[str, Expected]:
        """``{asset path: Expected}`` of the assets unfinished targets deleted (or
        were about to): what their local copies are compared with."""
        return dict(self._expected)

    def _write(self, records: Iterable[dict[str, Any]], sync: bool) -> None:
        if not self.writable:
            return
        # whole lines, encoded first, in one write
        data = "".join(encode(r) for r in records).encode("utf-8")
        with self._lock:
            if self._closed:  # a request abandoned by Ctrl-C answered late
                if sync:  # an intent: no deletion may follow it unjournaled
                    raise OSError(errno.EBADF, "the journal is closed")
                return
            if self._broken is not None:  # never append after a torn line
                raise self._broken
            try:
                self._append(data)
            except OSError as exc:
                self._broken = exc
                raise
            self._written += 1
            mine = self._written
        if sync:
            self._sync_to(mine)

    def _append(self, data: bytes) -> None:
        if self._fd is None:
            self._fd = self._open(JOURNAL_NAME, os.O_RDWR | os.O_CREAT | os.O_APPEND)
            size = self._drop_cut_line(self._fd)
            if size == 0:
                data = encode(self.binding).encode("utf-8") + data
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    @staticmethod
    def _drop_cut_line(fd: int) -> int:
        """Cut a last line a crash left unfinished (appending must start a
        line); the size left."""
        with open(fd, "rb", closefd=False) as f:
            content = f.read()
        if content and not content.endswith(b"\n"):
            os.ftruncate(fd, content.rfind(b"\n") + 1)
        return content.rfind(b"\n") + 1

    def _sync_to(self, mine: int) -> None:
        """Return once append number ``mine`` is on disk: a group commit.

        One thread at a time fsyncs; it covers every append made before it
        started, so the appends made while it ran share the next fsync instead
        of queueing one each behind the append lock.
        """
        with self._sync:
            while self._synced < mine:
                if self._broken is not None:
                    raise self._broken
                if self._syncing:
                    self._sync.wait()
                    continue
                if self._fd is None:  # closed under an abandoned request
                    raise OSError(errno.EBADF, "the journal is closed")
                self._syncing, covered, fd = True, self._written, self._fd
                self._sync.release()
                try:
                    os.fsync(fd)  # type: ignore[arg-type]
                except OSError as exc:
                    self._broken = self._broken or exc
                finally:
                    self._sync.acquire()
                    self._syncing = False
                    if self._broken is None:
                        self._synced = max(self._synced, covered)
                    self._sync.notify_all()
                    if self._closed:
                        self._close_file()

    def record_intents(
        self,
        target: str,
        assets: Iterable[PlannedAsset],
        local_mtimes: Mapping[str, int | None] | None = None,
        zarr_members: Mapping[str, Mapping[str, Stamp]] | None = None,
    ) -> None:
        """Record, durably, the assets of ``target`` about to be deleted, with
        the ``mtime_ns`` of the local files of the plan (None when unknown) and,
        for a Zarr whose checksum matched the archive's, the stamps of the files
        the checksum covered (``zarr_members``)."""
        local_mtimes, zarr_members = local_mtimes or {}, zarr_members or {}
        records = []
        for a in assets:
            record = {
                "event": "intent",
                "target": target,
                "path": a.path,
                "asset_id": a.asset_id,
                "size": a.size,
                "digest": a.digest,
                "zarr": a.zarr,
                "mtime_ns": local_mtimes.get(a.path),
            }
            if a.path in zarr_members:
                record["members"] = {
                    name: [st.dev, st.ino, st.size, st.mtime_ns, st.ctime_ns]
                    for name, st in zarr_members[a.path].items()
                }
            records.append(record)
        if records:
            self._write(records, sync=True)

    def record_deleted(self, target: str, asset_id: str) -> None:
        """Record that the server confirmed one deletion (not fsync'd: the
        intent already protects the data)."""
        self._write(
            [{"event": "deleted", "target": target, "asset_id": asset_id}], False
        )
        with self._lock:
            self.deleted_by_run[target] = self.deleted_by_run.get(target, 0) + 1

    def record_done(self, target: str) -> None:
        """Record, durably, that ``target`` is gone locally too."""
        self._write([{"event": "done", "target": target}], sync=True)
        self.done_by_run.add(target)

    def close(self) -> None:
        """Drop finished targets; remove the journal when nothing is left; remove
        the lock file."""
        if not self.writable:
            return
        with self._lock, self._sync:
            self._closed = True
            if not self._syncing:  # else the fsync in flight closes it
                self._close_file()
            try:  # also after a failed write: a torn last line is ignored
                self._compact()
            except (OSError, JournalError) as exc:  # it stays as written: valid
                lgr.warning("Could not tidy the journal %s: %s", self.path, exc)
            self._release_lock(remove=True)

    def _close_file(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _compact(self) -> None:
        records = read_journal(self.path).entries
        pending = pending_targets(records)
        keep = [r for r in records if r["target"] in pending]
        if not keep:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(JOURNAL_NAME, dir_fd=self._dir_fd)
            return
        if len(keep) != len(records):
            tmp = JOURNAL_NAME + ".tmp"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=self._dir_fd)  # a link planted there too
            fd = self._open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            with open(fd, "w", encoding="utf-8") as f:
                f.write("".join(encode(r) for r in [self.binding, *keep]))
                f.flush()
                os.fsync(f.fileno())
            os.replace(
                tmp, JOURNAL_NAME, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd
            )
        lgr.warning(
            "The journal %s keeps %d unfinished target(s): a re-run finishes them",
            self.path,
            len({r["target"] for r in keep}),
        )


def _members(recorded: Mapping[str, list[int]] | None) -> dict[str, Stamp] | None:
    """The stamps of a Zarr's covered files as an intent records them."""
    if recorded is None:
        return None
    return {name: Stamp(*values) for name, values in recorded.items()}
