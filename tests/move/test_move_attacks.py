"""Attacks on the move: a source that changes under it, a target that does not
keep what it was given, lost answers, vetoes, the clone's own dandiset by URL.
Whatever happens, no source asset goes unless the target lists it with its
digest, and nothing in the target is overwritten."""

from __future__ import annotations

from pathlib import Path
import threading

import pytest

from dandi_compute_plugin import hookimpl
from dandi_compute_plugin.move import MoveUsageError, run_move

from ..archive import FakeArchive
from ..records import asset_record
from .world import SOURCE, TARGET, World, capsule

FIRST = capsule(1)


@pytest.fixture
def world(keyed: FakeArchive, tmp_path: Path) -> World:
    return World.make(keyed, tmp_path)


def _files(w: World, d: str) -> list[str]:
    return [p for p in w.paths if p.startswith(d + "/")]


def _untouched(w: World, d: str) -> None:
    assert set(_files(w, d)) <= set(w.archive.paths(SOURCE))
    assert (w.clone / d).is_dir()


class _Meddler:
    """A veto hook that changes the source archive while the plan is made
    (after its listing): the move's own listing must notice."""

    def __init__(self, change) -> None:
        self.change = change

    @hookimpl
    def dandi_compute_veto_deletion(self, target):
        if target.relpath == FIRST:
            self.change()
        return None


def test_an_asset_replaced_on_the_source_after_the_plan(world: World) -> None:
    w = world
    path = _files(w, FIRST)[0]

    def replace() -> None:
        assert (
            w.archive.delete_asset(SOURCE, "draft", w.archive.asset_ids(SOURCE)[path])
            == 204
        )
        w.archive.add_assets(
            SOURCE,
            [
                asset_record(
                    path,
                    content=b"new",
                    asset_id="0" * 8 + "-0000-4000-8000-" + "0" * 12,
                )
            ],
        )

    report = run_move(
        w.clone,
        [FIRST],
        TARGET,
        dandi_instance=w.archive.url,
        plugins=[_Meddler(replace)],
    )
    (result,) = report.results
    assert result.status == "refused"
    assert "changed on the source since the plan" in result.result.reason
    assert w.archive.paths(TARGET) == ["README.md"]
    _untouched(w, FIRST)


def test_an_asset_added_on_the_source_after_the_plan(world: World) -> None:
    w = world
    extra = f"{FIRST}/output/late.json"
    add = lambda: w.archive.add_assets(SOURCE, [asset_record(extra)])  # noqa: E731
    report = run_move(
        w.clone, [FIRST], TARGET, dandi_instance=w.archive.url, plugins=[_Meddler(add)]
    )
    (result,) = report.results
    # the planned ones moved and went; the late one stays, and so does the clone
    assert result.status == "failed", result.result.reason
    assert extra in w.archive.paths(SOURCE)
    assert (w.clone / FIRST).is_dir()
    assert set(_files(w, FIRST)) <= set(w.archive.paths(TARGET))


def test_a_target_that_refuses_every_creation(world: World) -> None:
    """As for a key that does not own the target (403 to every creation)."""
    w = world
    w.archive.fail("POST", r"/assets/$", status=403)
    report = run_move(w.clone, "v1.1.1", TARGET, dandi_instance=w.archive.url)
    assert {r.status for r in report.results} == {"failed"}
    assert w.archive.count("DELETE") == 0
    for d in (FIRST, capsule(2)):
        _untouched(w, d)


def test_a_lost_answer_to_a_creation(world: World) -> None:
    """The server creates the asset, the answer never arrives: the check by
    listing finds it, so the directory still moves."""
    w = world
    w.archive.fail("POST", r"/assets/$", times=1, drop_after_serving=True)
    report = run_move(w.clone, [FIRST], TARGET, dandi_instance=w.archive.url)
    (result,) = report.results
    assert result.status == "moved", result.result.reason
    assert not set(_files(w, FIRST)) & set(w.archive.paths(SOURCE))


def test_a_created_asset_that_vanishes_before_the_check(world: World) -> None:
    """Someone deletes a fresh copy from the target before the check: the
    source keeps everything of that directory."""
    w = world
    check = w.archive.fail(
        "GET",
        rf"/dandisets/{TARGET}/versions/draft/assets/$",
        after=1,
        times=1,
        hold=99,
        hold_timeout=60,
    )
    done = []
    mover = threading.Thread(
        target=lambda: done.append(
            run_move(w.clone, [FIRST], TARGET, dandi_instance=w.archive.url)
        )
    )
    mover.start()
    assert w.archive.accounting.wait_for(lambda: check.hits == 1)
    victim = _files(w, FIRST)[1]
    assert (
        w.archive.delete_asset(TARGET, "draft", w.archive.asset_ids(TARGET)[victim])
        == 204
    )
    w.archive.accounting.release()
    mover.join(120)
    (result,) = done[0].results
    assert result.status == "failed"
    assert "not in the target with their digest" in result.result.reason
    assert victim in result.result.reason
    assert w.archive.count("DELETE") == 0
    _untouched(w, FIRST)


def test_a_veto_keeps_the_directory_out_of_the_move(world: World) -> None:
    class Veto:
        @hookimpl
        def dandi_compute_veto_deletion(self, target):
            return "kept for the audit" if target.relpath == FIRST else None

    w = world
    report = run_move(
        w.clone, "v1.1.1", TARGET, dandi_instance=w.archive.url, plugins=[Veto()]
    )
    by_path = {r.result.target.relpath: r.status for r in report.results}
    assert by_path[FIRST] == "refused" and by_path[capsule(2)] == "moved"
    assert not [p for p in w.archive.paths(TARGET) if p.startswith(FIRST)]
    _untouched(w, FIRST)


@pytest.mark.parametrize("to", ["DANDI:001697", "dandi://DANDI/001697@draft"])
def test_the_clones_own_dandiset_by_another_name(world: World, to: str) -> None:
    w = world
    with pytest.raises(MoveUsageError):
        run_move(w.clone, "v1.1.1", to, dandi_instance=w.archive.url)
    assert w.archive.count("POST") == w.archive.count("DELETE") == 0


def test_an_embargoed_source_never_goes_to_an_open_target(world: World) -> None:
    """An open dandiset's asset made from an embargoed blob would unembargo it."""
    w = world
    w.archive.embargoed.add(SOURCE)
    with pytest.raises(MoveUsageError, match="embargoed"):
        run_move(w.clone, "v1.1.1", TARGET, dandi_instance=w.archive.url)
    assert w.archive.count("POST") == w.archive.count("DELETE") == 0
    # embargoed to embargoed is fine
    w.archive.embargoed.add(TARGET)
    report = run_move(w.clone, [FIRST], TARGET, dandi_instance=w.archive.url)
    assert [r.status for r in report.results] == ["moved"]
