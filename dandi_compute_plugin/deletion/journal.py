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
its version (see ``plan.py``).  When a run ends, targets that are ``done`` are
dropped; a journal with nothing left is removed.  An exclusive lock
(``fcntl.flock`` where available) on a lock file next to it, which is never
removed, keeps two runs off the same clone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import logging
import os
from pathlib import Path
import threading
from typing import Any

from ..errors import JournalBusyError, JournalMismatchError
from .journal_format import BINDING, binding_record, encode, read_records
from .local import Expected
from .model import PlannedAsset

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

lgr = logging.getLogger("dandi.compute")

JOURNAL_DIR = ".dandi-compute"
JOURNAL_NAME = "delete-journal.jsonl"


def journal_path(dandiset_directory: str | Path) -> Path:
    """Return where the journal of a clone lives."""
    return Path(dandiset_directory, JOURNAL_DIR, JOURNAL_NAME)


def pending_targets(records: Iterable[dict[str, Any]]) -> set[str]:
    """The targets an earlier run started and did not finish."""
    records = [r for r in records if "target" in r]
    done = {r["target"] for r in records if r["event"] == "done"}
    return {r["target"] for r in records if r["target"] not in done}


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
        self._lock = threading.Lock()
        self._file: Any = None
        self._lockfd: int | None = None
        self._closed = False
        self._broken: OSError | None = None
        if writable:
            self._take_lock()
        try:
            records = read_records(self.path)
            if records:
                self._check_binding(records[0])
        except BaseException:
            self._release_lock()
            raise
        self._records = records[1:]
        self.pending_targets = pending_targets(self._records)
        # read once: every target of the plan is compared with the same
        self._expected = {
            r["path"]: Expected(r["size"], r["digest"], r["mtime_ns"], deleted=True)
            for r in self._records
            if r["event"] == "intent" and r["target"] in self.pending_targets
        }
        if writable:
            self._drop_cut_line()

    def _drop_cut_line(self) -> None:
        """Cut a last line a crash left unfinished: appending must start a line."""
        try:
            with open(self.path, "rb+") as f:
                data = f.read()
                if data and not data.endswith(b"\n"):
                    f.truncate(data.rfind(b"\n") + 1)
        except FileNotFoundError:
            pass

    def _take_lock(self) -> None:
        self.path.parent.mkdir(exist_ok=True)
        self._lockfd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:  # pragma: no cover - Windows
            return
        try:
            fcntl.flock(self._lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._release_lock()
            raise JournalBusyError(
                f"Another delete-version run holds {self.path}"
            ) from None

    def _release_lock(self) -> None:
        # the lock file stays: removing it while held would let a third run lock
        # a new file while a second one waits on the old
        if self._lockfd is not None:
            os.close(self._lockfd)
            self._lockfd = None

    def _check_binding(self, found: dict[str, Any]) -> None:
        mine = self.binding
        if all(found[k] == mine[k] for k in BINDING):
            return
        raise JournalMismatchError(
            f"The journal {self.path} belongs to another run: dandiset "
            f"{found['dandiset_id']} on {found['api_url']} (clone {found['clone']}), "
            f"not dandiset {mine['dandiset_id']} on {mine['api_url']} (clone "
            f"{mine['clone']}). It vouches for nothing here, and nothing was "
            "changed. Finish that run first (the same command with -i "
            f"{found['api_url']}), or, after checking that what it records is "
            "safe, move the journal aside.",
            str(self.path),
        )

    def expected(self) -> dict[str, Expected]:
        """``{asset path: Expected}`` of the assets unfinished targets deleted (or
        were about to): what their local copies are compared with."""
        return dict(self._expected)

    def _write(self, records: Iterable[dict[str, Any]], sync: bool) -> None:
        if not self.writable:
            return
        with self._lock:
            if self._closed:  # a request abandoned by Ctrl-C answered late
                return
            if self._broken is not None:  # never append after a torn line
                raise self._broken
            try:
                self._append(records, sync)
            except OSError as exc:
                self._broken = exc
                raise

    def _append(self, records: Iterable[dict[str, Any]], sync: bool) -> None:
        # whole lines, encoded first, in one write
        data = "".join(encode(r) for r in records)
        if self._file is None:
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            if new:
                data = encode(self.binding) + data
        self._file.write(data)
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def record_intents(
        self,
        target: str,
        assets: Iterable[PlannedAsset],
        local_mtimes: Mapping[str, int | None] | None = None,
    ) -> None:
        """Record, durably, the assets of ``target`` about to be deleted, with
        the ``mtime_ns`` of the local files of the plan (None when unknown)."""
        local_mtimes = local_mtimes or {}
        records = [
            {
                "event": "intent",
                "target": target,
                "path": a.path,
                "asset_id": a.asset_id,
                "size": a.size,
                "digest": a.digest,
                "zarr": a.zarr,
                "mtime_ns": local_mtimes.get(a.path),
            }
            for a in assets
        ]
        if records:
            self._write(records, sync=True)

    def record_deleted(self, target: str, asset_id: str) -> None:
        """Record that the server confirmed one deletion (not fsync'd: the
        intent already protects the data)."""
        self._write(
            [{"event": "deleted", "target": target, "asset_id": asset_id}], False
        )

    def record_done(self, target: str) -> None:
        """Record, durably, that ``target`` is gone locally too."""
        self._write([{"event": "done", "target": target}], sync=True)

    def close(self) -> None:
        """Drop finished targets; remove the journal when nothing is left."""
        if not self.writable:
            return
        with self._lock:
            self._closed = True
            try:
                if self._file is not None:
                    self._file.close()
                if self._broken is None:
                    self._compact()
            except OSError as exc:  # it stays as written: still valid
                lgr.warning("Could not tidy the journal %s: %s", self.path, exc)
            self._file = None
            self._release_lock()

    def _compact(self) -> None:
        records = read_records(self.path)[1:]
        pending = pending_targets(records)
        keep = [r for r in records if r["target"] in pending]
        if not keep:
            self.path.unlink(missing_ok=True)
            return
        if len(keep) != len(records):
            tmp = self.path.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("".join(encode(r) for r in [self.binding, *keep]))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        lgr.warning(
            "The journal %s keeps %d unfinished target(s): a re-run finishes them",
            self.path,
            len({r["target"] for r in keep}),
        )
