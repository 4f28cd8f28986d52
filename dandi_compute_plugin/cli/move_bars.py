"""The progress bars of a move: the deletion's, with the copy's in between."""

from __future__ import annotations

from typing import Any

from ..move import CopyOutcome, MoveProgress
from .deletion_bars import DeletionBars
from .progress import bar


class MoveBars(MoveProgress, DeletionBars):
    """Planning, then the assets put in the target, then the deletion."""

    def __init__(self) -> None:
        DeletionBars.__init__(self)
        self._copy_bar: Any = None

    def copying(self, directories: int, assets: int) -> None:  # noqa: D102
        self.close()
        self._copy_bar = bar(desc="Copying", total=assets, unit="asset")
        self._copy_bar.set_postfix_str(f"0 of {directories} directories")
        self._copied = 0
        self._directories = directories

    def directory_copied(self, relpath: str, outcome: CopyOutcome) -> None:  # noqa: D102
        if self._copy_bar is not None:
            self._copied += 1
            self._copy_bar.update(outcome.created + outcome.uploaded + outcome.already)
            self._copy_bar.set_postfix_str(
                f"{self._copied} of {self._directories} directories"
            )

    def close(self) -> None:  # noqa: D102
        if self._copy_bar is not None:
            self._copy_bar.close()
            self._copy_bar = None
        DeletionBars.close(self)
