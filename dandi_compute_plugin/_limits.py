"""Calls that may not take longer than a time limit."""

from __future__ import annotations

from collections.abc import Callable
import threading
from typing import Any


class TimeLimitExceeded(TimeoutError):
    """A call did not return within its time limit (it goes on, unwaited for)."""


def call_within(limit: float, func: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Call ``func(**kwargs)`` in a thread of its own; wait at most ``limit`` s.

    Whatever it raises -- ``SystemExit`` and ``KeyboardInterrupt`` included -- is
    raised here; a call still running after ``limit`` is left behind (a daemon
    thread) and :class:`TimeLimitExceeded` is raised.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = func(**kwargs)
        except BaseException as exc:  # handed to the caller, never lost
            box["error"] = exc

    thread = threading.Thread(target=run, name="dandi-compute-bounded", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        raise TimeLimitExceeded(f"did not return within {limit:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")
