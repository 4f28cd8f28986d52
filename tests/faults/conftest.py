"""Fixtures of the fault and bad-input suites, and their count in the summary.

The fake archive's fixtures (an archive per test, no real keyring, no version
check) come from the root conftest's ``pytest_plugins``.  Each fault scenario
takes the ``world`` fixture; it counts as *converged with nothing lost* once
:meth:`World.assert_converged` passed for it.
Each bad-input case takes ``bad_input`` and counts once its hash check passed.  The
terminal summary then reads, for instance::

    19 fault scenarios, 19 converged with nothing lost
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ..archive import FakeArchive
from .common import Snapshot, World

#: node id -> converged with nothing lost
_SCENARIOS: dict[str, bool] = {}
#: node id -> (how the case ended, nothing outside its targets touched)
_BAD_INPUTS: dict[str, list] = {}


@pytest.fixture
def world(
    archive: FakeArchive,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Callable[..., World]:
    """Make the world of one fault scenario (counted in the summary)."""
    node = request.node.nodeid
    _SCENARIOS[node] = False

    def make(n_dirs: int = 3, files: int = 4) -> World:
        w = World.make(archive, tmp_path, n_dirs, files)
        w.on_converged = lambda: _SCENARIOS.__setitem__(node, True)
        return w

    return make


class BadInput:
    """Records how one bad-input case ended and that its hash check passed."""

    def __init__(self, node: str) -> None:
        self.node = node
        _BAD_INPUTS[node] = ["not finished", False]

    def ended(self, how: str) -> None:
        _BAD_INPUTS[self.node][0] = how

    def snapshot(self, server: FakeArchive, *roots: Path) -> Snapshot:
        """Hash ``roots`` and the server; the case counts as untouched once
        :meth:`Snapshot.assert_only_removed` passed."""
        snap = Snapshot.take(server, *roots)
        snap.on_checked = lambda: _BAD_INPUTS[self.node].__setitem__(1, True)
        return snap


@pytest.fixture
def bad_input(request: pytest.FixtureRequest) -> BadInput:
    return BadInput(request.node.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not (_SCENARIOS or _BAD_INPUTS):
        return
    terminalreporter.section("delete-version fault and bad-input suites")
    if _SCENARIOS:
        converged = sum(_SCENARIOS.values())
        terminalreporter.write_line(
            f"{len(_SCENARIOS)} fault scenarios, {converged} converged with "
            "nothing lost"
        )
        for node, ok in _SCENARIOS.items():
            if not ok:
                terminalreporter.write_line(f"  NOT converged: {node}")
    if _BAD_INPUTS:
        clean = sum(1 for _, ok in _BAD_INPUTS.values() if ok)
        terminalreporter.write_line(
            f"{len(_BAD_INPUTS)} bad-input cases, {clean} with nothing outside "
            "the intended version directories touched"
        )
        for node, (how, ok) in _BAD_INPUTS.items():
            mark = "" if ok else "  [NOT verified untouched]"
            terminalreporter.write_line(f"  {node.split('::')[-1]}: {how}{mark}")
