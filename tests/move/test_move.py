"""``move_version_directories`` against the fake archive: by blob reference, then
deleted with the deletion's machinery."""

from __future__ import annotations

import os
from pathlib import Path
import signal

import pytest

from dandi_compute_plugin import hookimpl, move_version_directories
from dandi_compute_plugin.move import MoveIncomplete, MoveUsageError, run_move

from ..archive import FakeArchive
from ..records import asset_record
from .world import SOURCE, TARGET, World, capsule, directory_of


@pytest.fixture
def world(keyed: FakeArchive, tmp_path: Path) -> World:
    return World.make(keyed, tmp_path)


def _move(w: World, what, **kw):
    return move_version_directories(
        w.clone, what, TARGET, dandi_instance=w.archive.url, **kw
    )


def test_blob_assets_move_by_reference(world: World) -> None:
    w = world
    before = w.digests(SOURCE)
    moving = w.of_version("v1.1.1")
    dirs = sorted({directory_of(p) for p in moving})
    moved = _move(w, "v1.1.1")
    assert moved == sorted(w.clone / d for d in dirs)
    # not a byte of content: no upload was even started
    assert w.archive.count(pattern=r"/uploads/") == 0
    assert w.archive.count("POST") == len(moving)
    after = w.digests(TARGET)
    for path in moving:
        assert after[path] == before[path]  # same blob, same digests
    assert sorted(after) == sorted(["README.md", *moving])
    assert sorted(w.archive.paths(SOURCE)) == sorted(
        p for p in w.paths if p not in moving
    )
    assert w.archive.paths(SOURCE, "published") == sorted(w.paths)
    assert not any((w.clone / d).exists() for d in dirs)
    assert all((w.clone / p).is_file() for p in w.paths if p not in moving)
    assert not (w.clone / ".dandi-compute" / "delete-journal.jsonl").exists()


def test_keep_local_keeps_the_clones_copy(world: World) -> None:
    w = world
    moving = w.of_version("v1.1.1")
    tree = w.state()[0]
    report = run_move(
        w.clone, "v1.1.1", TARGET, dandi_instance=w.archive.url, keep_local=True
    )
    assert report.ok and {r.status for r in report.results} == {"moved"}
    assert all(not r.result.local_removed for r in report.results)
    assert w.state()[0] == tree
    assert not set(moving) & set(w.archive.paths(SOURCE))
    assert set(moving) <= set(w.archive.paths(TARGET))


def test_one_capsule_moves_alone(world: World) -> None:
    w = world
    first = capsule(1)
    assert _move(w, [first]) == [w.clone / first]
    assert not (w.clone / first).exists()
    assert (w.clone / capsule(2)).is_dir()
    target = w.archive.paths(TARGET)
    assert [p for p in target if p != "README.md"] == sorted(
        p for p in w.paths if p.startswith(first + "/")
    )
    assert any(p.startswith(capsule(2) + "/") for p in w.archive.paths(SOURCE))


def test_other_content_at_a_target_path_refuses_the_directory(
    world: World,
) -> None:
    w = world
    first = capsule(1)
    taken = f"{first}/logs/nextflow.log"
    w.archive.add_assets(TARGET, [asset_record(taken, content=b"someone else's")])
    target_before = w.digests(TARGET)
    with pytest.raises(MoveIncomplete) as err:
        _move(w, "v1.1.1")
    by_path = {r.result.target.relpath: r for r in err.value.report.results}
    assert by_path[first].status == "refused"
    assert "hold other content" in by_path[first].result.reason
    assert (w.clone / first).is_dir()
    # nothing of it deleted, nothing created, nothing overwritten
    assert set(p for p in w.paths if p.startswith(first + "/")) <= set(
        w.archive.paths(SOURCE)
    )
    after = w.digests(TARGET)
    assert after[taken] == target_before[taken]
    assert not [p for p in after if p.startswith(first + "/") and p != taken]
    # the others moved
    assert by_path[capsule(2)].status == "moved"


def test_the_same_content_at_the_target_counts_as_moved(world: World) -> None:
    w = world
    first = capsule(1)
    there = f"{first}/code/submit.sh"
    w.archive.add_assets(TARGET, [asset_record(there, asset_id=None)])
    report = run_move(w.clone, [first], TARGET, dandi_instance=w.archive.url)
    (result,) = report.results
    assert result.status == "moved"
    assert result.copy.already == 1 and result.copy.created == 2
    assert w.archive.count("POST") == 2
    assert not (w.clone / first).exists()


def test_a_dry_run_changes_nothing(world: World) -> None:
    w = world
    before = w.state()
    w.archive.add_assets(
        TARGET, [asset_record(f"{capsule(2)}/code/submit.sh", content=b"other")]
    )
    before = w.state()
    report = run_move(
        w.clone, "v1.1.1", TARGET, dandi_instance=w.archive.url, dry_run=True
    )
    statuses = {r.result.target.relpath: r.status for r in report.results}
    assert statuses[capsule(1)] == "planned"
    assert statuses[capsule(2)] == "refused"
    assert w.state() == before
    assert w.archive.count("POST") == w.archive.count("DELETE") == 0


@pytest.mark.parametrize(
    "to, why",
    [
        (SOURCE, "own dandiset"),
        ("DANDI-SANDBOX:001873", "instance"),
        ("not a dandiset", "names no dandiset"),
        ("DANDI:001873/0.260501.1200", "assets go to the draft"),
    ],
)
def test_targets_that_cannot_be_meant(world: World, to: str, why: str) -> None:
    w = world
    before = w.state()
    with pytest.raises(MoveUsageError, match=why) as info:
        move_version_directories(w.clone, "v1.1.1", to, dandi_instance=w.archive.url)
    assert "--to" in str(info.value) and "(to= in Python)" in str(info.value)
    assert w.state() == before
    assert w.archive.count("POST") == w.archive.count("DELETE") == 0


@pytest.mark.parametrize(
    "what", ["derivatives/dandiset-000233/sub-CGM3", "../elsewhere/version-v1", ".."]
)
def test_selections_that_are_no_version_directory(world: World, what: str) -> None:
    with pytest.raises(MoveUsageError):
        _move(world, [what])


def test_the_copy_is_told_to_the_progress(
    world: World, capsys: pytest.CaptureFixture
) -> None:
    from dandi_compute_plugin.cli.move_bars import MoveBars
    from dandi_compute_plugin.move import MoveProgress

    class Heard(MoveBars):
        def __init__(self) -> None:
            super().__init__()
            self.heard: list = []

        def copying(self, directories: int, assets: int) -> None:
            self.heard.append(("copying", directories, assets))
            super().copying(directories, assets)

        def directory_copied(self, relpath, outcome) -> None:
            self.heard.append((relpath, outcome.created))
            super().directory_copied(relpath, outcome)

    heard = Heard()
    assert isinstance(heard, MoveProgress)
    report = run_move(
        world.clone,
        [capsule(1)],
        TARGET,
        dandi_instance=world.archive.url,
        progress=heard,
    )
    assert report.ok
    assert heard.heard == [("copying", 1, 3), (capsule(1), 3)]
    assert "Copying" in capsys.readouterr().err


def test_a_plan_made_by_size_still_moves_by_digest(world: World) -> None:
    """``verify="size"`` lists no digests in the plan: the move's own listing
    brings them, and the check compares them."""
    w = world
    before = w.digests(SOURCE)
    report = run_move(
        w.clone, [capsule(1)], TARGET, dandi_instance=w.archive.url, verify="size"
    )
    assert [r.status for r in report.results] == ["moved"], report.results
    after = w.digests(TARGET)
    assert all(after[p] == before[p] for p in before if p.startswith(capsule(1)))


def test_the_copy_carries_the_metadata_but_what_the_archive_computes(
    world: World,
) -> None:
    w = world
    first = capsule(1)
    source = w.archive.assets(SOURCE)
    run_move(w.clone, [first], TARGET, dandi_instance=w.archive.url)
    posted = [r for r in w.archive.log if r.method == "POST"]
    assert len(posted) == 3
    target = w.archive.assets(TARGET)
    for path in (p for p in source if p.startswith(first + "/")):
        before, after = source[path]["metadata"], target[path]["metadata"]
        assert after["identifier"] == target[path]["asset_id"] != before["identifier"]
        kept = {"wasGeneratedBy", "dateModified", "blobDateModified", "encodingFormat"}
        assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
        assert after["digest"] == before["digest"]
        assert after["contentSize"] == before["contentSize"]


def test_what_the_archive_computes_is_never_sent() -> None:
    from dandi_compute_plugin.move.session import metadata_for_copy

    record = {"metadata": asset_record("a/b.json") | {"publishedBy": "x"}}
    sent = metadata_for_copy(record, "a/b.json")
    computed = {"@context", "id", "identifier", "access", "contentUrl"}
    computed |= {"contentSize", "digest", "publishedBy"}
    assert not computed & set(sent)
    assert sent["path"] == "a/b.json" and sent["schemaKey"] == "Asset"


class _TermOnce:
    """A hook that sends this process SIGTERM before the first directory."""

    def __init__(self) -> None:
        self.sent = False

    @hookimpl
    def dandi_compute_before_target(self, target: object) -> None:
        if not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_sigterm_during_a_move_ends_it_as_terminated(world: World) -> None:
    w = world
    hook = _TermOnce()
    report = run_move(
        w.clone, "v1.1.1", TARGET, dandi_instance=w.archive.url, plugins=[hook]
    )
    assert hook.sent
    # as a deletion stopped by SIGTERM: not ok, 143, said in the summary
    assert report.terminated and not report.ok
    assert report.exit_code == 143
    assert "(terminated)" in report.summary()
