"""The deletion journal: what a run deleted remotely, so that a re-run can finish.

The journal lives inside the clone, at
``DANDISET_DIR/.dandi-compute/delete-journal.jsonl`` (a hidden directory: the scan,
``dandi upload`` and ``dandi organize`` skip it), so that it travels with the clone
and any run on the same clone finds it -- no ``--resume`` flag: resuming is
automatic.  It is one JSON object per line:

``{"event": "intent", "target": REL, "path": P, "asset_id": ID, "size": N,
"mtime_ns": T}``
    written (flushed and fsync'd, all of a target's assets at once) before the
    first deletion request of that target; ``mtime_ns`` is the modification time
    of the local file at that path when the run planned (null: none there, or
    its content absent);
``{"event": "deleted", "target": REL, "asset_id": ID}``
    after the server confirmed one (204 or 404);
``{"event": "done", "target": REL}``
    after the target's local directory is gone.

On the next run, the assets of every target that is not ``done`` count as "on the
server" for the un-uploaded-data refusal: their local copies were uploaded, we
deleted them remotely, and the run may now finish the local removal.  Only the
very local files that run saw count so (same size and modification time): a file
written at such a path since is new data.  A journaled target whose directory is
gone locally is finished by the next run of its version (see ``plan.py``).
When a run ends, targets that are ``done`` are dropped; a journal with nothing
left is removed with its directory.  An exclusive lock (``fcntl.flock`` where
available) keeps two runs off the same clone at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import contextlib
import json
import logging
import os
from pathlib import Path
import threading
from typing import Any

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from ..errors import JournalBusyError

lgr = logging.getLogger("dandi.compute")

JOURNAL_DIR = ".dandi-compute"
JOURNAL_NAME = "delete-journal.jsonl"


def journal_path(dandiset_directory: str | Path) -> Path:
    """Return where the journal of a clone lives."""
    return Path(dandiset_directory, JOURNAL_DIR, JOURNAL_NAME)


def _read(path: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:  # a line cut short by a crash
                    continue
                if isinstance(rec, dict) and "target" in rec:
                    records.append(rec)
    except FileNotFoundError:
        pass
    return records


class Journal:
    """The journal of one clone, for one run.

    Parameters
    ----------
    dandiset_directory
        The clone's top directory.
    writable
        False for a dry run: read what is there, write nothing, take no lock.

    Raises
    ------
    JournalBusyError
        When ``writable`` and another run holds the lock.
    """

    def __init__(self, dandiset_directory: str | Path, *, writable: bool) -> None:
        self.path = journal_path(dandiset_directory)
        self.writable = writable
        self._lock = threading.Lock()
        self._file: Any = None
        self._lockfd: int | None = None
        if writable:
            self.path.parent.mkdir(exist_ok=True)
            lock_path = str(self.path) + ".lock"
            self._lockfd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            if fcntl is not None:
                try:
                    fcntl.flock(self._lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(self._lockfd)
                    self._lockfd = None
                    raise JournalBusyError(
                        f"Another delete-version run holds {self.path}"
                    ) from None
        self._records = _read(self.path)
        done = {r["target"] for r in self._records if r.get("event") == "done"}
        #: {asset path: size} of assets deleted (or about to be) by an earlier run
        self.known_deleted: dict[str, int] = {
            r["path"]: int(r["size"])
            for r in self._records
            if r.get("event") == "intent" and r["target"] not in done
        }
        #: {asset path: mtime_ns or None} of the local files the intents saw
        self.known_mtimes: dict[str, int | None] = {
            r["path"]: r["mtime_ns"]
            for r in self._records
            if r.get("event") == "intent"
            and r["target"] not in done
            and "mtime_ns" in r
        }
        #: targets an earlier run started and did not finish
        self.pending_targets: set[str] = {
            r["target"] for r in self._records if r["target"] not in done
        }

    def _write(self, records: Iterable[dict[str, Any]], sync: bool) -> None:
        if not self.writable:
            return
        data = "".join(
            json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n"
            for r in records
        )
        with self._lock:
            if self._file is None:
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            self._file.write(data)
            self._file.flush()
            if sync:
                os.fsync(self._file.fileno())

    def record_intents(
        self,
        target: str,
        assets: Iterable[Any],
        local_mtimes: Mapping[str, int | None] | None = None,
    ) -> None:
        """Record, durably, the assets of ``target`` about to be deleted.

        ``assets`` have ``.path``, ``.asset_id`` and ``.size``;
        ``local_mtimes`` maps the paths of the local files of the plan to their
        ``mtime_ns`` (None when unknown).
        """
        local_mtimes = local_mtimes or {}
        records = [
            {
                "event": "intent",
                "target": target,
                "path": a.path,
                "asset_id": a.asset_id,
                "size": a.size,
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
            if self._file is not None:
                self._file.close()
                self._file = None
            records = _read(self.path)
            done = {r["target"] for r in records if r.get("event") == "done"}
            keep = [r for r in records if r["target"] not in done]
            if not keep:
                self.path.unlink(missing_ok=True)
            elif len(keep) != len(records):
                tmp = self.path.with_suffix(".tmp")
                with open(tmp, "w", encoding="utf-8") as f:
                    for r in keep:
                        f.write(json.dumps(r, separators=(",", ":")) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            if keep:
                lgr.warning(
                    "The journal %s keeps %d unfinished target(s): a re-run "
                    "finishes them",
                    self.path,
                    len({r["target"] for r in keep}),
                )
            if not keep:  # unlinked while still locked: no one else holds it
                Path(str(self.path) + ".lock").unlink(missing_ok=True)
            if self._lockfd is not None:
                os.close(self._lockfd)
                self._lockfd = None
            if not keep:
                with contextlib.suppress(OSError):  # not empty: keep it
                    self.path.parent.rmdir()
