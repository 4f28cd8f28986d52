"""What a move reports: per directory, how its copy and its deletion ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._text import escape_control
from ..deletion.model import (
    MAX_LISTED,
    DeletionProgress,
    DeletionTarget,
    RunOutcome,
    TargetResult,
    TargetStatus,
)
from .copy import CopyOutcome

#: the status of a directory whose every asset is in the target and gone from
#: the source (the deletion's ``deleted``)
MOVED = "moved"


@dataclass(frozen=True)
class MoveResult:
    """The outcome of one directory of a move.

    Attributes
    ----------
    result
        How the source side ended (the deletion's result: refused, failed,
        deleted...).
    copy
        How the copy into the target ended; None when it was not tried (the
        directory was refused or failed before).
    """

    result: TargetResult
    copy: CopyOutcome | None = None

    @property
    def status(self) -> str:
        """``moved`` when the deletion ended ``deleted`` after a copy, else the
        deletion's status (``nothing-to-do``, ``refused``, ``planned``...)."""
        if self.result.status is TargetStatus.DELETED and self.copy is not None:
            return MOVED
        return self.result.status.value

    @property
    def ok(self) -> bool:
        """As the deletion's ``ok``."""
        return self.result.ok

    @property
    def target(self) -> DeletionTarget:
        """The directory (the deletion's target)."""
        return self.result.target

    @property
    def reason(self) -> str | None:
        """Why it was not moved (the deletion's or the copy's reason)."""
        return self.result.reason

    def as_record(self, to: str) -> dict[str, Any]:
        """The output record: the deletion's, its status, ``to`` and the copy's
        counts (``created_assets``, ``uploaded_zarrs``, ``already_in_target``)."""
        record = self.result.as_record()
        copy = self.copy or CopyOutcome(False)
        record.update(
            status=self.status,
            to=to,
            created_assets=copy.created,
            uploaded_zarrs=copy.uploaded,
            already_in_target=copy.already,
        )
        return record


@dataclass
class MoveReport(RunOutcome):
    """The outcome of a move: one :class:`MoveResult` per directory, in order.

    Attributes
    ----------
    dandiset_directory
        The clone.
    to
        The target dandiset's id.
    api_url
        The API of the instance (None when none was contacted).
    dry_run, interrupted, terminated, abandoned, scan_errors
        As the deletion's report (over every version of the move).
    results
        Per directory.
    version_errors
        The versions whose move could not go on after an earlier version's
        had started (``"VERSION: reason"``); their directories are not in
        ``results``, and the run is not ok.
    """

    dandiset_directory: Path
    to: str
    api_url: str | None = None
    dry_run: bool = False
    results: list[MoveResult] = field(default_factory=list)
    interrupted: bool = False
    terminated: bool = False
    abandoned: bool = False
    scan_errors: list[str] = field(default_factory=list)
    version_errors: list[str] = field(default_factory=list)

    def _run_errors(self) -> list[str]:
        return self.scan_errors + self.version_errors

    @property
    def moved(self) -> list[Path]:
        """The sorted local directories of the directories moved."""
        return sorted(r.result.target.path for r in self.results if r.status == MOVED)

    def as_records(self) -> list[dict[str, Any]]:
        """One output record per directory."""
        return [r.as_record(self.to) for r in self.results]

    def summary(self) -> str:
        """One line: how many directories ended how."""
        counts = self._status_counts()
        if not counts:
            text = "No directory to move: nothing to do"
        else:
            parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            text = (
                f"{len(self.results)} directories to {self.to}: {parts}"
                + self._ending()
            )
        if self.version_errors:
            shown = "; ".join(self.version_errors[:MAX_LISTED])
            text += f"; {len(self.version_errors)} versions not moved: {shown}"
        return text + self._scan_errors_text()

    def failures_text(self) -> str:
        """Each directory not moved, with its status and reason, each version
        whose move could not go on and each directory the scan could not read,
        under a count; the text of
        :class:`~dandi_compute_plugin.errors.MoveIncomplete`, one line each
        (control characters escaped)."""
        bad = [r for r in self.results if not r.ok]
        lines = self._failure_lines()
        lines += [escape_control(f"not moved: {e}") for e in self.version_errors]
        head = f"{len(bad)} of {len(self.results)} directories not moved:"
        return "\n".join([head, *lines])


class MoveProgress(DeletionProgress):
    """What a move tells as it goes: the deletion's events, and the copy's
    (a base that ignores them all; override)."""

    def copying(self, directories: int, assets: int) -> None:
        """The copy starts on ``directories`` holding ``assets`` assets."""

    def directory_copied(self, relpath: str, outcome: CopyOutcome) -> None:
        """One directory's copy ended (confirmed in the target or not)."""
