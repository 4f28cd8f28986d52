"""What a deletion is about and how it ended.

Its targets, their remote assets, their results, the report and the progress: the
objects that policy hooks (:mod:`..hookspecs`) and callers of the Python API see.
They are plain data: no client, no open file.  What a run is asked to do is
:mod:`.options`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import enum
from pathlib import Path
from typing import Any

from .._text import escape_control
from ..versions import VersionDirectory, prefix_hint

#: how many un-uploaded files a refusal names
MAX_LISTED = 10


@dataclass(frozen=True)
class PlannedAsset:
    """A remote asset planned for deletion.

    Attributes
    ----------
    path
        The asset path in the dandiset (POSIX).
    size
        Its size in bytes, as the server reports it.
    asset_id
        The asset's identifier on the server (a UUID).
    digest
        What its content is compared with: the ``dandi:dandi-etag`` of a
        file, the ``dandi:dandi-zarr-checksum`` of a Zarr; None when the
        server gave none.
    zarr
        Whether it is a Zarr.
    """

    path: str
    size: int
    asset_id: str
    digest: str | None = None
    zarr: bool = False


def _directory_field(name: str) -> property:
    return property(
        lambda self: getattr(self.directory, name),
        doc=f"The ``{name}`` of :attr:`directory`.",
    )


@dataclass(frozen=True)
class DeletionTarget:
    """One pipeline version directory to delete, remotely and locally.

    Attributes
    ----------
    directory
        The version directory; its fields are also the target's own:
        ``path`` (the local directory), ``relpath`` (its POSIX path relative
        to the dandiset's top directory, which is its asset-path prefix on the
        server), ``version`` (the full version of the directory name,
        ``v1.1.1+b268fd2``), ``dandiset`` (the source dandiset id),
        ``subject``, ``session`` and ``pipeline`` (None when absent).
    assets
        The remote assets below it on the draft, sorted by path.
    local_files
        How many files it holds locally (a git-annex link counts as one, a
        Zarr directory as the files its checksum covers).
    local_bytes
        Their size (content that is absent counts 0; a hard-linked file counts
        once per name, though its data stays while a name outside remains).
    unuploaded
        Local files the server does not hold as they are here, as
        ``(path, reason)`` pairs.
    """

    directory: VersionDirectory
    assets: tuple[PlannedAsset, ...] = ()
    local_files: int = 0
    local_bytes: int = 0
    unuploaded: tuple[tuple[str, str], ...] = ()

    path = _directory_field("path")
    relpath = _directory_field("relpath")
    version = _directory_field("version")
    dandiset = _directory_field("dandiset")
    subject = _directory_field("subject")
    session = _directory_field("session")
    pipeline = _directory_field("pipeline")

    @property
    def remote_bytes(self) -> int:
        """The total size of :attr:`assets`."""
        return sum(a.size for a in self.assets)


class TargetStatus(enum.StrEnum):
    """How a target ended."""

    #: remote assets gone and the local directory removed
    DELETED = "deleted"
    #: not touched (un-uploaded files, a veto, no confirmation)
    REFUSED = "refused"
    #: touched but not finished, or not even planned (see the reason)
    FAILED = "failed"
    #: nothing was left to delete
    NOTHING_TO_DO = "nothing-to-do"
    #: would be deleted (dry run only)
    PLANNED = "planned"
    #: on the archive only, not in the clone: kept (``include_remote`` deletes it)
    REMOTE_ONLY = "remote-only"


@dataclass(frozen=True)
class AssetFailure:
    """A remote asset whose deletion failed."""

    path: str
    asset_id: str
    error: str


@dataclass(frozen=True)
class TargetResult:
    """The outcome of one target.

    Attributes
    ----------
    target
        The target.
    status
        See :class:`TargetStatus`.
    reason
        Why it was refused or failed (None when deleted).
    deleted_assets
        Remote assets confirmed gone by this run (204 or 404).
    failed_assets
        Remote assets whose deletion failed.
    local_removed
        Whether this run removed the local directory.
    """

    target: DeletionTarget
    status: TargetStatus
    reason: str | None = None
    deleted_assets: int = 0
    failed_assets: tuple[AssetFailure, ...] = ()
    local_removed: bool = False

    @property
    def ok(self) -> bool:
        """True when deleted, nothing to do, (dry run) planned, or kept because
        it is on the archive only and remote-only directories were not asked for."""
        return self.status in (
            TargetStatus.DELETED,
            TargetStatus.NOTHING_TO_DO,
            TargetStatus.PLANNED,
            TargetStatus.REMOTE_ONLY,
        )

    def as_record(self) -> dict[str, Any]:
        """The output record of this target (JSON-serialisable)."""
        t = self.target
        return {
            "path": t.relpath,
            "dandiset": t.dandiset,
            "version": t.version,
            "status": self.status.value,
            "reason": self.reason,
            "remote_assets": len(t.assets),
            "remote_bytes": t.remote_bytes,
            "deleted_assets": self.deleted_assets,
            "local_files": t.local_files,
            "local_bytes": t.local_bytes,
            "local_removed": self.local_removed,
            "failed_assets": [
                {"path": f.path, "asset_id": f.asset_id, "error": f.error}
                for f in self.failed_assets
            ],
            "unuploaded": [p for p, _ in t.unuploaded[:MAX_LISTED]],
            "unuploaded_count": len(t.unuploaded),
        }


class RunOutcome:
    """What the reports of a deletion and of a move share: how a run of
    directories ended as a whole.  A base of their dataclasses, holding no
    field: each report has ``results`` (with ``ok``, ``status``, ``target``
    and ``reason``), ``interrupted``, ``terminated`` and ``scan_errors``."""

    results: list[Any]
    interrupted: bool
    terminated: bool
    scan_errors: list[str]

    def _run_errors(self) -> list[str]:
        """What failed the run beside its directories (the scan's errors)."""
        return self.scan_errors

    @property
    def ok(self) -> bool:
        """Every directory ended well (done, nothing to do, or planned), the
        scan read every directory, and no Ctrl-C or SIGTERM stopped the run."""
        return (
            not self.interrupted
            and not self.terminated
            and not self._run_errors()
            and all(r.ok for r in self.results)
        )

    @property
    def exit_code(self) -> int:
        """0 when :attr:`ok`, 130 after Ctrl-C, 143 after SIGTERM, 1 otherwise."""
        if self.terminated:
            return 143
        if self.interrupted:
            return 130
        return 0 if self.ok else 1

    def _status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[str(r.status)] = counts.get(str(r.status), 0) + 1
        return counts

    def _ending(self) -> str:
        """What stopped the run, for its summary: `` (terminated)``..."""
        if self.terminated:
            return " (terminated)"
        return " (interrupted)" if self.interrupted else ""

    def _failure_lines(self) -> list[str]:
        """One line per directory not done and per directory not read, control
        characters escaped (a newline in a directory name or a hook's reason
        could pass for another line)."""
        lines = [
            f"{r.target.relpath}: {r.status}: {r.reason}"
            for r in self.results
            if not r.ok
        ]
        lines += [f"cannot be read: {e}" for e in self.scan_errors]
        return [escape_control(line) for line in lines]

    def _scan_errors_text(self) -> str:
        if not self.scan_errors:
            return ""
        shown = "; ".join(self.scan_errors[:MAX_LISTED])
        more = len(self.scan_errors) - MAX_LISTED
        return (
            f"; {len(self.scan_errors)} directories could not be read, version "
            f"directories below them were not looked at: {shown}"
            + (f" and {more} more" if more > 0 else "")
        )


@dataclass
class DeletionReport(RunOutcome):
    """The outcome of a run: one :class:`TargetResult` per target, sorted.

    Attributes
    ----------
    dandiset_directory
        The clone.
    version
        The VERSION asked for.
    dandiset_id
        The dandiset of the clone (None when there was nothing to look up).
    api_url
        The API of the instance used (None when none was contacted).
    dry_run
        Whether this was a dry run.
    results
        Per target.
    interrupted
        Whether the run was stopped by Ctrl-C.
    terminated
        Whether the run was stopped by SIGTERM (as by Ctrl-C otherwise).
    abandoned
        Whether a second Ctrl-C left requests in flight unanswered (their
        threads may still run: a command line exits at once).
    scan_errors
        Directories the scan could not read (``"relpath: reason"``): version
        directories below them were not looked at, so the run is not ok.
    """

    dandiset_directory: Path
    version: str
    dandiset_id: str | None = None
    api_url: str | None = None
    dry_run: bool = False
    results: list[TargetResult] = field(default_factory=list)
    interrupted: bool = False
    abandoned: bool = False
    terminated: bool = False
    scan_errors: list[str] = field(default_factory=list)

    @property
    def deleted(self) -> list[Path]:
        """The sorted local directories this run removed."""
        return sorted(r.target.path for r in self.results if r.local_removed)

    def as_records(self) -> list[dict[str, Any]]:
        """One output record per target."""
        return [r.as_record() for r in self.results]

    def summary(self) -> str:
        """One line: how many targets ended how."""
        counts = self._status_counts()
        if not counts:
            text = f"No directory of version {self.version}: nothing to do"
            text += prefix_hint(self.version)
        else:
            parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            extra = self._ending()
            text = f"{len(self.results)} version directories: {parts}{extra}"
        kept = counts.get(TargetStatus.REMOTE_ONLY.value, 0)
        if kept and self.dry_run:
            text += (
                f"; {kept} of them are on the archive only and would be kept: the "
                "version would not be retracted there; --include-remote "
                "(include_remote=True in Python) deletes them"
            )
        elif kept:
            text += (
                f"; {kept} of them are on the archive only and were kept: the "
                "version is not retracted there; --include-remote "
                "(include_remote=True in Python) deletes them"
            )
        return text + self._scan_errors_text()

    def failures_text(self) -> str:
        """Each target not deleted, with its status and reason, and each
        directory the scan could not read, under a count; the text of
        :class:`~dandi_compute_plugin.errors.DeletionIncomplete`.

        One line each: control characters (a newline in a directory name or a
        hook's reason) are escaped, so no line can pass for another's."""
        bad = [r for r in self.results if not r.ok]
        lines = self._failure_lines()
        not_read = (
            f", {len(self.scan_errors)} directories not read"
            if self.scan_errors
            else ""
        )
        head = f"{len(bad)} of {len(self.results)} version directories not deleted"
        return "\n".join([f"{head}{not_read}:", *lines])


class DeletionProgress:
    """What a run tells as it goes; a base that ignores it all (override).

    The methods may be called from worker threads, concurrently.
    """

    def planning(self, directories: int) -> None:
        """The plan starts looking at ``directories`` directories."""

    def planned(self, target: DeletionTarget) -> None:
        """One directory is planned (listed, its local files verified)."""

    def deleting(self, targets: list[DeletionTarget]) -> None:
        """The execution starts on ``targets``."""

    def asset_deleted(self, asset: PlannedAsset) -> None:
        """One remote asset is confirmed gone."""

    def target_ended(self, result: TargetResult) -> None:
        """One target ended (deleted, failed, ...)."""

    def close(self) -> None:
        """The run is over."""
