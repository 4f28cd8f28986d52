"""Progress bars on a terminal (standard error), with tqdm as dandi draws them.

Nothing is drawn when standard error is not a terminal.  Sizes are written by
humanize, as dandi writes them.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from ..deletion.model import DeletionProgress

if TYPE_CHECKING:  # pragma: no cover
    from ..deletion.model import DeletionTarget, PlannedAsset, TargetResult


def on_terminal() -> bool:
    """Whether standard error is a terminal (bars go there)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty())


def _bar(**kwargs: Any) -> Any:
    from tqdm import tqdm

    try:  # a terminal that reports no size (a bare pseudo-terminal): 80 x 24
        size = os.get_terminal_size(sys.stderr.fileno())
        width, height = size.columns or 80, size.lines or 24
    except (OSError, ValueError):
        width, height = 80, 24
    return tqdm(file=sys.stderr, leave=False, ncols=width, nrows=height, **kwargs)


def natural_size(n: int) -> str:
    """``1.2 MB``: a size as dandi shows it."""
    import humanize

    return str(humanize.naturalsize(n))


class DownloadProgress:
    """``progress(done, total)`` callback drawing a download bar in bytes.

    Parameters
    ----------
    label
        What is downloaded.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar: Any = None

    def __call__(self, done: int, total: int | None) -> None:
        """Move the bar to ``done`` bytes (of ``total``, when known)."""
        if self._bar is None:
            self._bar = _bar(
                desc=self.label,
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1000,
            )
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def terminal_progress(label: str) -> DownloadProgress | None:
    """Return a :class:`DownloadProgress` if standard error is a terminal."""
    return DownloadProgress(label) if on_terminal() else None


class DeletionBars(DeletionProgress):
    """The bars of a deletion: directories planned, then assets deleted (with
    bytes, directories done and failures so far)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bar: Any = None
        self._bytes = self._total_bytes = self._done = self._failed = 0
        self._targets = 0

    def planning(self, directories: int) -> None:  # noqa: D102
        self._bar = _bar(desc="Planning", total=directories, unit="dir")

    def planned(self, target: DeletionTarget) -> None:  # noqa: D102
        with self._lock:
            if self._bar is not None:
                self._bar.update(1)

    def deleting(self, targets: list[DeletionTarget]) -> None:  # noqa: D102
        self.close()
        self._bytes = self._done = self._failed = 0  # the plan's verdicts aside
        self._targets = len(targets)
        self._total_bytes = sum(t.remote_bytes for t in targets)
        self._bar = _bar(
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
