"""What a deletion is about and how it ended: targets, results, the report.

These are the objects that policy hooks (``hookspecs.py``) and callers of the
Python API see.  They are plain, frozen data: no client, no open file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
import enum
from pathlib import Path
from typing import Any

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
        The asset's identifier on the server.
    """

    path: str
    size: int
    asset_id: str


@dataclass(frozen=True)
class DeletionTarget:
    """One pipeline version directory to delete, remotely and locally.

    Attributes
    ----------
    path
        The local version directory.
    relpath
        Its POSIX path relative to the dandiset's top directory (its asset-path
        prefix on the server, without the trailing ``/``).
    version
        The full version string of the directory name (``v1.1.1+b268fd2``).
    dandiset
        The source dandiset id of ``derivatives/dandiset-{id}``.
    subject, session, pipeline
        The labels of the levels above it (None when absent).
    assets
        The remote assets below it on the draft, sorted by path.
    local_files
        How many files (git-annex links and Zarr directories count as one) it
        holds locally.
    local_bytes
        Their size (content that is absent counts 0).
    unuploaded
        Local files the server does not hold as they are here, as
        ``(path, reason)`` pairs.
    """

    path: Path
    relpath: str
    version: str
    dandiset: str
    subject: str | None = None
    session: str | None = None
    pipeline: str | None = None
    assets: tuple[PlannedAsset, ...] = ()
    local_files: int = 0
    local_bytes: int = 0
    unuploaded: tuple[tuple[str, str], ...] = ()

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
        """True when deleted, nothing to do, or (dry run) planned."""
        return self.status in (
            TargetStatus.DELETED,
            TargetStatus.NOTHING_TO_DO,
            TargetStatus.PLANNED,
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


@dataclass
class DeletionReport:
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
    scan_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every target ended deleted or nothing-to-do (or planned),
        and the scan read every directory."""
        return (
            not self.interrupted
            and not self.scan_errors
            and all(r.ok for r in self.results)
        )

    @property
    def exit_code(self) -> int:
        """0 when :attr:`ok`, 130 after Ctrl-C, 1 otherwise."""
        if self.interrupted:
            return 130
        return 0 if self.ok else 1

    @property
    def deleted(self) -> list[Path]:
        """The sorted local directories this run removed."""
        return sorted(r.target.path for r in self.results if r.local_removed)

    def as_records(self) -> list[dict[str, Any]]:
        """One output record per target."""
        return [r.as_record() for r in self.results]

    def summary(self) -> str:
        """One line: how many targets ended how."""
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status.value] = counts.get(r.status.value, 0) + 1
        if not counts:
            text = f"No directory of version {self.version}: nothing to do"
        else:
            parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            extra = " (interrupted)" if self.interrupted else ""
            text = f"{len(self.results)} version directories: {parts}{extra}"
        return text + self._scan_errors_text()

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


class DeletionHooks:
    """The points where deletion policy is consulted; these defaults do nothing.

    The pluggy adapter of ``plugins.py`` overrides them.  :meth:`veto` and
    :meth:`before_target` fail closed (an exception blocks the target);
    :meth:`after_target` and :meth:`run_finished` are only logged when they raise.
    """

    def extra_targets(self, dandiset_directory: Path, version: str) -> Iterable[Any]:
        """Return more version directories (paths) to delete in this run."""
        return ()

    def veto(self, target: DeletionTarget) -> list[str]:
        """Return the reasons (possibly none) not to delete ``target``."""
        return []

    def before_target(self, target: DeletionTarget) -> None:
        """Called before anything of ``target`` is touched; raise to abort it."""

    def after_target(self, target: DeletionTarget, result: TargetResult) -> None:
        """Called when ``target`` has ended, whatever its result."""

    def run_finished(self, report: DeletionReport) -> None:
        """Called once at the end of a run (not for a dry run)."""


class DeletionIncomplete(RuntimeError):
    """Raised by :func:`~dandi_compute_plugin.delete_dandiset_version` when some
    target was refused or failed; every other target was still processed.

    Attributes
    ----------
    report
        The full :class:`DeletionReport`.
    """

    def __init__(self, report: DeletionReport) -> None:
        self.report = report
        bad = [r for r in report.results if not r.ok]
        lines = [f"{r.target.relpath}: {r.status.value}: {r.reason}" for r in bad]
        lines += [f"cannot be read: {e}" for e in report.scan_errors]
        super().__init__(
            f"{len(bad)} of {len(report.results)} version directories not deleted"
            + (
                f", {len(report.scan_errors)} directories not read"
                if report.scan_errors
                else ""
            )
            + ":\n"
            + "\n".join(lines)
        )
