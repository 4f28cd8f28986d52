"""A download progress line for terminals (bytes, rate); nothing when not a TTY."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


class DownloadProgress:
    """``progress(done, total)`` callback drawing one self-overwriting line.

    Parameters
    ----------
    stream
        A terminal (standard error).
    label
        What is downloaded.
    interval
        Seconds between redraws.
    """

    def __init__(self, stream: TextIO, label: str, interval: float = 0.2) -> None:
        self.stream, self.label, self.interval = stream, label, interval
        self.started = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        """Redraw the line if ``interval`` has passed, or at the end."""
        now = time.monotonic()
        if now - self._last < self.interval and done != total:
            return
        self._last = now
        rate = done / max(now - self.started, 1e-6)
        of = f" of {_size(total)}" if total else ""
        self.stream.write(f"\r{self.label}: {_size(done)}{of}, {_size(rate)}/s\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the line, if one was drawn."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def terminal_progress(label: str) -> DownloadProgress | None:
    """Return a :class:`DownloadProgress` on standard error if it is a terminal."""
    stream = sys.stderr
    if getattr(stream, "isatty", None) is not None and stream.isatty():
        return DownloadProgress(stream, label)
    return None
