"""Standard output for the report alone, whatever the hooks print.

A hook plugin may ``print()``, log to standard output, start a thread that does,
or run a program that inherits it: none of that may land in the middle of a
``-f json`` report.  While a command runs under :func:`report_only_stdout`,

- file descriptor 1 points at standard error, so that writes to it by anything
  (a C library, a child process) reach the terminal or the log, not the report;
- ``sys.stdout`` hands writes from the main thread -- where the report is
  written -- to the real standard output, and writes from any other thread (the
  hooks run in threads of their own, and so do the threads they start) to
  standard error.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
import sys
import threading
from typing import Any, TextIO


class _MainThreadStdout:
    """``sys.stdout`` for the main thread; standard error for the others."""

    def __init__(self, report: TextIO, other: TextIO) -> None:
        self._report, self._other = report, other

    def _stream(self) -> TextIO:
        if threading.current_thread() is threading.main_thread():
            return self._report
        return self._other

    def write(self, text: str) -> int:
        return self._stream().write(text)

    def flush(self) -> None:
        self._stream().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream(), name)


def _fileno(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


@contextlib.contextmanager
def report_only_stdout() -> Iterator[None]:
    """Keep standard output for what the main thread writes (the report)."""
    out, err = sys.stdout, sys.stderr
    report: TextIO = out
    saved: int | None = None
    if _fileno(out) == 1 and _fileno(err) == 2:
        out.flush()
        saved = os.dup(1)
        report = open(  # noqa: SIM115 - closed below
            saved,
            "w",
            encoding=out.encoding,
            errors=out.errors,
            closefd=False,
            buffering=1 if out.line_buffering else -1,
        )
        os.dup2(2, 1)
    sys.stdout = _MainThreadStdout(report, err)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout = out
        if saved is not None:
            with contextlib.suppress(OSError, ValueError):
                report.flush()
            # whatever the report's descriptor now is (/dev/null after a closed
            # pipe), fd 1 becomes it again
            os.dup2(report.fileno(), 1)
            with contextlib.suppress(OSError, ValueError):
                report.close()
            os.close(saved)
