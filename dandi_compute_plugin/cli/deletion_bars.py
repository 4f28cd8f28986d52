"""The progress bars of a deletion on a terminal (its own module: loading it
loads the deletion code, which ``dandi compute index`` does not need)."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from ..deletion.model import DeletionProgress
from .progress import bar, natural_size

if TYPE_CHECKING:  # pragma: no cover
    from ..deletion.model import DeletionTarget, PlannedAsset, TargetResult


class DeletionBars(DeletionProgress):
    """The bars of a deletion: directories planned, then assets deleted (with
    bytes, directories done and failures so far)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bar: Any = None
        self._bytes = self._total_bytes = self._done = self._failed = 0
        self._targets = 0

    def planning(self, directories: int) -> None:  # noqa: D102
        self._bar = bar(desc="Planning", total=directories, unit="dir")

    def planned(self, target: DeletionTarget) -> None:  # noqa: D102
        with self._lock:
            if self._bar is not None:
                self._bar.update(1)

    def deleting(self, targets: list[DeletionTarget]) -> None:  # noqa: D102
        self.close()
        self._bytes = self._done = self._failed = 0  # the plan's verdicts aside
        self._targets = len(targets)
        self._total_bytes = sum(t.remote_bytes for t in targets)
        self._bar = bar(
            desc="Deleting", total=sum(len(t.assets) for t in targets), unit="asset"
        )
        self._show()

    def asset_deleted(self, asset: PlannedAsset) -> None:  # noqa: D102
        with self._lock:
            self._bytes += asset.size
            if self._bar is not None:
                self._bar.update(1)
                self._show()

    def target_ended(self, result: TargetResult) -> None:  # noqa: D102
        with self._lock:
            self._done += 1
            self._failed += not result.ok
            self._show()

    def _show(self) -> None:
        if self._bar is not None and self._targets:
            self._bar.set_postfix_str(
                f"{natural_size(self._bytes)} of {natural_size(self._total_bytes)}, "
                f"{self._done} of {self._targets} directories"
                + (f", {self._failed} not ok" if self._failed else "")
            )

    def close(self) -> None:  # noqa: D102
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def write(self, text: str) -> None:
        """Print a line on standard output without breaking the bar."""
        from tqdm import tqdm

        with tqdm.external_write_mode(file=sys.stderr):
            print(text, flush=True)
