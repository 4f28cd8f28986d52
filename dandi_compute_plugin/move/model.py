"""What a move reports: per directory, how its copy and its deletion ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._text import escape_control
from ..deletion.model import MAX_LISTED, DeletionProgress, TargetResult, TargetStatus
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
class MoveReport:
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

    @property
    def ok(self) -> bool:
        """Every directory moved, had nothing to move or was planned; every
        directory of the clone was read; no Ctrl-C or SIGTERM."""
        return (
            not self.interrupted
            and not self.terminated
            and not self.scan_errors
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

    @property
    def moved(self) -> list[Path]:
        """The sorted local directories of the directories moved."""
        return sorted(r.result.target.path for r in self.results if r.status == MOVED)

    def as_records(self) -> list[dict[str, Any]]:
        """One output record per directory."""
        return [r.as_record(self.to) for r in self.results]

    def summary(self) -> str:
        """One line: how many directories ended how."""
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        if not counts:
            text = "No directory to move: nothing to do"
        else:
            parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            extra = (
                " (terminated)"
                if self.terminated
                else " (interrupted)"
                if self.interrupted
                else ""
            )
            text = f"{len(self.results)} directories to {self.to}: {parts}{extra}"
        if self.scan_errors:
            shown = "; ".join(self.scan_errors[:MAX_LISTED])
            text += f"; {len(self.scan_errors)} directories could not be read: {shown}"
        return text

    def failures_text(self) -> str:
        """Each directory not moved, with its status and reason, and each
        directory the scan could not read, under a count; the text of
        :class:`~dandi_compute_plugin.errors.MoveIncomplete`, one line each
        (control characters escaped)."""
        bad = [r for r in self.results if not r.ok]
        lines = [
            f"{r.result.target.relpath}: {r.status}: {r.result.reason}" for r in bad
        ]
        lines += [f"cannot be read: {e}" for e in self.scan_errors]
        lines = [escape_control(line) for line in lines]
        head = f"{len(bad)} of {len(self.results)} directories not moved:"
        return "\n".join([head, *lines])


class MoveProgress(DeletionProgress):
    """What a move tells as it goes: the deletion's events, and the copy's
    (a base that ignores them all; override)."""

    def copying(self, directories: int, assets: int) -> None:
        """The copy starts on ``directories`` holding ``assets`` assets."""

    def directory_copied(self, relpath: str, outcome: CopyOutcome) -> None:
        """One directory's copy ended (confirmed in the target or not)."""
