"""A move as a whole: one parse of the target and one session per dandiset for
every version, only the chosen directories planned, and the report of what was
done kept whatever ends the run (a later version that cannot be planned, a
Ctrl-C while planning it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dandi_compute_plugin import hookimpl, move_version_directories
from dandi_compute_plugin.deletion import DeletionProgress
from dandi_compute_plugin.errors import MoveIncomplete
from dandi_compute_plugin.move import MoveProgress, run_move

from ..archive import FakeArchive
from .world import SOURCE, TARGET, World, capsule, directory_of


@pytest.fixture
def world(keyed: FakeArchive, tmp_path: Path) -> World:
    return World.make(keyed, tmp_path)


class BreaksTheSecondVersion:
    """While v1.1.0 is planned (after v1.1.1 moved): a journal that cannot be
    trusted (a link in its place)."""

    @hookimpl
    def dandi_compute_add_targets(self, dandiset_directory, version):
        if version != "v1.1.0":
            return []
        journal = Path(dandiset_directory, ".dandi-compute", "delete-journal.jsonl")
        journal.parent.mkdir(exist_ok=True)
        os.symlink(os.devnull, journal)
        return []


def _moved_v111(w: World, report) -> None:
    first = sorted({directory_of(p) for p in w.of_version("v1.1.1")})
    done = [r for r in report.results if r.target.relpath in first]
    assert [r.target.relpath for r in done] == first
    assert {r.status for r in done} == {"moved"}
    assert not set(w.of_version("v1.1.1")) & set(w.archive.paths(SOURCE))
    assert set(w.of_version("v1.1.0")) <= set(w.archive.paths(SOURCE))


def test_a_later_version_that_cannot_be_planned_keeps_the_report(world: World) -> None:
    w = world
    with pytest.raises(MoveIncomplete) as raised:
        move_version_directories(
            w.clone,
            ["v1.1.1", "v1.1.0"],
            TARGET,
            dandi_instance=w.archive.url,
            plugins=[BreaksTheSecondVersion()],
        )
    report = raised.value.report
    _moved_v111(w, report)
    assert len(report.results) == 3
    (error,) = report.version_errors
    assert error.startswith("v1.1.0: ")
    assert "v1.1.0" in report.summary() and report.exit_code == 1
    assert "not moved: v1.1.0: " in str(raised.value)


class CtrlC(DeletionProgress):
    """Ctrl-C when the planning of the ``n``-th version starts."""

    def __init__(self, n: int) -> None:
        self.n = n

    def planning(self, directories: int) -> None:
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt


def test_a_ctrl_c_while_planning_a_later_version_keeps_the_report(
    world: World,
) -> None:
    w = world
    report = run_move(
        w.clone,
        ["v1.1.1", "v1.1.0"],
        TARGET,
        dandi_instance=w.archive.url,
        progress=CtrlC(2),
    )
    _moved_v111(w, report)
    assert report.interrupted and report.exit_code == 130
    assert "(interrupted)" in report.summary()


def test_a_ctrl_c_before_anything_was_done_is_the_callers(world: World) -> None:
    w = world
    with pytest.raises(KeyboardInterrupt):
        run_move(
            w.clone,
            ["v1.1.1", "v1.1.0"],
            TARGET,
            dandi_instance=w.archive.url,
            progress=CtrlC(1),
        )
    assert w.archive.paths(SOURCE) == sorted(w.paths)


class Planned(DeletionProgress):
    def __init__(self) -> None:
        self.planned_paths: list[str] = []

    def planned(self, target) -> None:
        self.planned_paths.append(target.relpath)


def test_only_the_chosen_capsule_is_planned(world: World) -> None:
    """The other directories of its version are neither planned (their local
    files are not read) nor touched."""
    w = world
    told = Planned()
    report = run_move(
        w.clone, [capsule(2)], TARGET, dandi_instance=w.archive.url, progress=told
    )
    assert told.planned_paths == [capsule(2)]
    assert [(r.target.relpath, r.status) for r in report.results] == [
        (capsule(2), "moved")
    ]
    others = [p for p in w.of_version("v1.1.1") if not p.startswith(capsule(2))]
    assert set(others) <= set(w.archive.paths(SOURCE))
    assert all((w.clone / p).is_file() for p in others)


def test_one_session_per_dandiset_for_every_version(world: World) -> None:
    w = world
    report = run_move(
        w.clone, ["v1.1.1", "v1.1.0"], TARGET, dandi_instance=w.archive.url
    )
    assert report.ok, report.failures_text()
    assert len({r.result.target.relpath for r in report.results}) == 4
    # a session reads its dandiset once: one for the source, one for the target
    for dandiset in (SOURCE, TARGET):
        assert w.archive.count("GET", rf"^/api/dandisets/{dandiset}/$") == 1


def test_a_chosen_capsule_nested_with_another_target_is_still_refused(
    world: World,
) -> None:
    """Planning only the chosen directory keeps the rules of the version as a
    whole: a hook's target nested in it refuses both, chosen or not."""
    w = world
    inner = f"{capsule(1)}/logs/version-v1.1.1+x"
    (w.clone / inner).mkdir()

    class AddsNested:
        @hookimpl
        def dandi_compute_add_targets(self, dandiset_directory, version):
            return [Path(dandiset_directory) / inner]

    report = run_move(
        w.clone,
        [capsule(1)],
        TARGET,
        dandi_instance=w.archive.url,
        plugins=[AddsNested()],
    )
    (result,) = report.results
    assert result.status == "refused" and "nested" in result.reason, result.reason
    assert w.archive.count("POST") == w.archive.count("DELETE") == 0
    assert w.archive.paths(SOURCE) == sorted(w.paths)


class CtrlCAtTheSecondCopy(MoveProgress):
    def __init__(self) -> None:
        self.copies = 0

    def copying(self, directories: int, assets: int) -> None:
        self.copies += 1
        if self.copies == 2:
            raise KeyboardInterrupt


def test_a_ctrl_c_at_a_later_versions_copy_keeps_the_report_and_the_lock(
    world: World,
) -> None:
    w = world
    report = run_move(
        w.clone,
        ["v1.1.1", "v1.1.0"],
        TARGET,
        dandi_instance=w.archive.url,
        progress=CtrlCAtTheSecondCopy(),
    )
    _moved_v111(w, report)
    # the second version's directory is told, with what to do
    (stopped,) = [r for r in report.results if "v1.1.0" in r.target.relpath]
    assert stopped.status == "failed"
    assert "interrupted during the copy" in stopped.reason
    assert report.interrupted and report.exit_code == 130
    # the second version's plan let go of the journal's lock: a new run goes on
    again = run_move(w.clone, ["v1.1.0"], TARGET, dandi_instance=w.archive.url)
    assert {r.status for r in again.results} == {"moved"}, again.failures_text()
    assert not set(w.of_version("v1.1.0")) & set(w.archive.paths(SOURCE))
