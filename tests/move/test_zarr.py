"""A Zarr belongs to one dandiset: it moves only by an upload from the clone, and
only when the clone holds it with the archive's checksum."""

from __future__ import annotations

from pathlib import Path

from dandi.support.digests import get_zarr_checksum
import pytest

from dandi_compute_plugin.move import run_move

from ..archive import FakeArchive
from ..records import asset_record
from .world import SOURCE, TARGET, World, capsule, world_paths

ZARR = f"{capsule(1)}/output/image.ome.zarr"


@pytest.fixture
def world(keyed: FakeArchive, tmp_path: Path) -> World:
    w = World.make(keyed, tmp_path)
    (w.clone / ZARR / "0").mkdir(parents=True)
    (w.clone / ZARR / "0" / "0").write_bytes(b"chunk uploaded")
    (w.clone / ZARR / ".zattrs").write_bytes(b"{}")
    checksum = get_zarr_checksum(w.clone / ZARR)
    w.archive.add_assets(
        SOURCE, [asset_record(ZARR, 16, zarr=True, zarr_checksum=checksum)]
    )
    return w


def _refused(w: World, report, why: str) -> None:
    (result,) = [r for r in report.results if r.result.target.relpath == capsule(1)]
    assert result.status == "refused", result.result.reason
    assert why in result.result.reason
    assert ZARR in w.archive.paths(SOURCE)
    assert not [p for p in w.archive.paths(TARGET) if p.startswith(capsule(1))]
    assert (w.clone / capsule(1)).is_dir()


def test_a_zarr_the_clone_holds_otherwise_refuses_its_directory(world: World) -> None:
    w = world
    (w.clone / ZARR / "0" / "1").write_bytes(b"chunk written after the upload")
    # the deletion's own rule refuses it first ...
    report = run_move(w.clone, [capsule(1)], TARGET, dandi_instance=w.archive.url)
    _refused(w, report, "content differs from the archive's")
    # ... and the move's when that rule is waived: the clone's copy is not the
    # archive's, so there is nothing to upload
    report = run_move(
        w.clone,
        [capsule(1)],
        TARGET,
        dandi_instance=w.archive.url,
        include_unuploaded=True,
        keep_local=True,
    )
    _refused(w, report, "does not hold it with the archive's checksum")
    assert w.archive.count("POST") == w.archive.count("DELETE") == 0


def test_a_zarr_not_in_the_clone_refuses_its_directory(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    paths = world_paths()
    w = World.make(keyed, tmp_path, paths)
    w.archive.add_assets(SOURCE, [asset_record(ZARR, 16, zarr=True)])
    # the capsule is on the archive only: nothing local to upload from
    import shutil

    shutil.rmtree(w.clone / capsule(1))
    report = run_move(
        w.clone,
        [capsule(1)],
        TARGET,
        dandi_instance=w.archive.url,
        include_remote=True,
    )
    (result,) = report.results
    assert result.status == "refused"
    assert "does not hold it with the archive's checksum" in result.result.reason
    assert w.archive.count("POST") == w.archive.count("DELETE") == 0
    assert ZARR in w.archive.paths(SOURCE)


def test_a_zarr_the_clone_holds_moves_by_upload(world: World) -> None:
    w = world
    source = w.archive.assets(SOURCE)[ZARR]
    report = run_move(w.clone, [capsule(1)], TARGET, dandi_instance=w.archive.url)
    (result,) = report.results
    assert result.status == "moved", result.result.reason
    assert result.copy.uploaded == 1 and result.copy.created == 3
    moved = w.archive.assets(TARGET)[ZARR]
    assert moved["zarr"] != source["zarr"]  # a Zarr of the target's own
    assert moved["metadata"]["digest"] == source["metadata"]["digest"]
    assert moved["size"] == 16
    assert w.archive.count("PUT", r"^/s3/zarr/") == 2  # the Zarr's two files
    assert w.archive.count(pattern="/uploads/") == 0  # no blob uploaded
    assert ZARR not in w.archive.paths(SOURCE)
    assert not (w.clone / capsule(1)).exists()


def test_a_zarr_left_unfinished_in_the_target_is_named(world: World) -> None:
    """A killed upload leaves a Zarr asset at the target path with another
    checksum: never overwritten, and the reason says what it likely is."""
    w = world
    w.archive.add_assets(
        TARGET, [asset_record(ZARR, 3, zarr=True, zarr_checksum="1" * 32 + "-1--3")]
    )
    report = run_move(w.clone, [capsule(1)], TARGET, dandi_instance=w.archive.url)
    (result,) = report.results
    assert result.status == "refused"
    assert "an upload an interrupted move left unfinished" in result.result.reason
    assert w.archive.paths(TARGET) == ["README.md", ZARR]
    assert w.archive.count("POST") == w.archive.count("DELETE") == 0
    assert (w.clone / capsule(1)).is_dir()
