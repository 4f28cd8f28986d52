"""The real archive (dandi-archive's Django server) for the tests of this folder.

One server per test session, installed once per source snapshot (see ``install``);
skipped, with the way to run it, where the archive's source is absent.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
from pathlib import Path
import signal
import threading
from typing import Any

import pytest

from .install import HOW_TO_RUN, find_source, install
from .services import RealArchive, running

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Without the archive's source: one skipped test saying how to run them,
    the others deselected (one line, not one per test)."""
    mine = [i for i in items if Path(i.path).parent == HERE]
    if not mine or find_source(REPO) is not None:
        return
    config.hook.pytest_deselected(items=mine[1:])
    mine[0].add_marker(pytest.mark.skip(reason=HOW_TO_RUN))
    items[:] = [i for i in items if i not in mine[1:]]


@pytest.fixture(scope="session")
def real_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealArchive]:
    """The archive running on 127.0.0.1, with an approved user and its key."""
    source = find_source(REPO)
    if source is None:
        pytest.skip(HOW_TO_RUN)
    installation = install(source)
    workdir = tmp_path_factory.mktemp("real-archive")
    with _terminate_as_interrupt(), running(installation, workdir) as archive:
        yield archive


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """A SIGTERM to the test run (a CI time limit, ``kill``) ends it as Ctrl-C
    does, through the fixtures' teardown: Python's default would end the process
    at once and leave the servers running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
