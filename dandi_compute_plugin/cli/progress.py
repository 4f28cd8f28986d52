"""Progress bars on a terminal (standard error), with tqdm as dandi draws them.

Nothing is drawn when standard error is not a terminal.  Sizes are written by
humanize, as dandi writes them.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def on_terminal() -> bool:
    """Whether standard error is a terminal (bars go there)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty())


def bar(**kwargs: Any) -> Any:
    """A tqdm bar on standard error, removed when closed."""
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
            self._bar = bar(
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
