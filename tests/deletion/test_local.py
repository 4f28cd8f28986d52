"""The local side of a deletion on real directory trees: inventory, the un-uploaded
check, the checks before a removal and the removal itself."""

from __future__ import annotations

import os
from pathlib import Path
import stat

import pytest

from dandi_compute_plugin.deletion.local import (
    LocalFile,
    check_removable,
    find_unuploaded,
    inventory,
    remove_version_directory,
)
from dandi_compute_plugin.errors import UnsafePathError

VDIR = "derivatives/dandiset-000001/sub-A/pipeline-p/version-v1"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    top = tmp_path / "clone"
    (top / VDIR / "output").mkdir(parents=True)
    (top / VDIR / "output/a.json").write_bytes(b"12345")
    (top / VDIR / "code.sh").write_bytes(b"echo")
    return top


def test_inventory_lists_files_links_and_zarr_without_following_links(
    clone: Path, tmp_path: Path
) -> None:
    content = tmp_path / "annex-object"
    content.write_bytes(b"annexed!")
    outside = tmp_path / "elsewhere"
    (outside / "big").mkdir(parents=True)
    v = clone / VDIR
    (v / "annexed.nwb").symlink_to(content)
    (v / "missing.nwb").symlink_to(tmp_path / "no-such-object")
    (v / "linked-dir").symlink_to(outside, target_is_directory=True)
    (v / "image.ome.zarr" / "0").mkdir(parents=True)
    (v / "image.ome.zarr" / "0" / "chunk").write_bytes(b"c")
    (v / ".hidden").write_bytes(b"h")

    found = {f.path.removeprefix(VDIR + "/"): f for f in inventory(clone, VDIR)}

    assert sorted(found) == [
        ".hidden",
        "annexed.nwb",
        "code.sh",
        "image.ome.zarr",
        "missing.nwb",
        "output/a.json",
    ]
    assert found["output/a.json"].size == 5
    assert found["annexed.nwb"].size == 8  # the content's size, through the link
    assert found["annexed.nwb"].mtime_ns == content.stat().st_mtime_ns
    assert found["missing.nwb"].size is None  # content absent: path only
    assert found["image.ome.zarr"].size is None  # one asset, path only
    assert [f.path for f in inventory(clone, VDIR)] == sorted(
        f.path for f in found.values()
    )


def test_inventory_fails_on_a_directory_it_cannot_list(clone: Path) -> None:
    # what cannot be listed cannot be vouched for: an error, never an empty list
    (clone / VDIR / "output").rename(clone / VDIR / "gone")
    with pytest.raises(FileNotFoundError):
        inventory(clone, VDIR + "/output")


def test_find_unuploaded_names_what_the_server_lacks() -> None:
    files = [
        LocalFile("v/same.json", 10, 1),
        LocalFile("v/other-size.json", 11, 1),
        LocalFile("v/not-there.json", 3, 1),
        LocalFile("v/annexed-absent.nwb", None),
        LocalFile("v/zarr.zarr", None),
    ]
    remote = {"v/same.json": 10, "v/other-size.json": 12, "v/annexed-absent.nwb": 99}
    missing = {m.path: m.reason for m in find_unuploaded(files, remote)}
    assert missing == {
        "v/other-size.json": "11 bytes here, 12 on the server",
        "v/not-there.json": "not on the server",
        "v/zarr.zarr": "not on the server",
    }


def test_find_unuploaded_trusts_the_journal_only_for_the_files_it_saw() -> None:
    files = [
        LocalFile("v/seen.json", 10, 111),
        LocalFile("v/rewritten.json", 10, 999),
        LocalFile("v/no-time-kept.json", 10, 5),
        LocalFile("v/resized.json", 7, 111),
    ]
    sizes = {p.path: 10 for p in files}
    mtimes = {"v/seen.json": 111, "v/rewritten.json": 111, "v/resized.json": 111}
    missing = {m.path: m.reason for m in find_unuploaded(files, {}, sizes, mtimes)}
    assert missing == {
        "v/rewritten.json": "written after the asset at this path was deleted "
        "from the server",
        "v/resized.json": "7 bytes here, 10 on the server",
    }


def test_check_removable_returns_the_real_directory(clone: Path) -> None:
    assert check_removable(clone, VDIR) == Path(os.path.realpath(clone)) / VDIR


@pytest.mark.parametrize(
    "relpath",
    [
        "derivatives/dandiset-000001",
        "derivatives/other/sub-A/pipeline-p/version-v1",
        "derivatives/dandiset-000001/sub-A/pipeline-p/not-a-version",
        "derivatives/dandiset-000001/sub-A/../sub-A/pipeline-p/version-v1",
        "derivatives/dandiset-000001//sub-A/pipeline-p/version-v1",
        "../derivatives/dandiset-000001/version-v1",
    ],
)
def test_check_removable_refuses_paths_of_the_wrong_shape(
    clone: Path, relpath: str
) -> None:
    with pytest.raises(UnsafePathError, match="Not a version directory path"):
        check_removable(clone, relpath)


def test_check_removable_refuses_links_and_files_on_the_way(
    clone: Path, tmp_path: Path
) -> None:
    sub = clone / "derivatives/dandiset-000001/sub-A"
    sub.rename(tmp_path / "moved")
    sub.symlink_to(tmp_path / "moved", target_is_directory=True)
    with pytest.raises(UnsafePathError, match="is a symbolic link"):
        check_removable(clone, VDIR)
    sub.unlink()
    sub.write_text("a file now")
    with pytest.raises(UnsafePathError, match="is not a directory"):
        check_removable(clone, VDIR)
    sub.unlink()
    with pytest.raises(FileNotFoundError):
        check_removable(clone, VDIR)


def test_removal_takes_links_not_what_they_point_to(
    clone: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data.nwb").write_bytes(b"keep me")
    (clone / VDIR / "to-outside").symlink_to(outside, target_is_directory=True)
    (clone / VDIR / "file-link").symlink_to(outside / "data.nwb")
    # read-only directories (git-annex makes some) are removed too
    (clone / VDIR / "output").chmod(stat.S_IRUSR | stat.S_IXUSR)

    assert remove_version_directory(clone, VDIR) is True

    assert not os.path.lexists(clone / VDIR)
    assert (clone / VDIR).parent.is_dir()
    assert (outside / "data.nwb").read_bytes() == b"keep me"
    assert remove_version_directory(clone, VDIR) is False  # already gone


def test_removal_checks_the_path_first(clone: Path, tmp_path: Path) -> None:
    version = clone / VDIR
    version.rename(tmp_path / "real-version")
    version.symlink_to(tmp_path / "real-version", target_is_directory=True)
    with pytest.raises(UnsafePathError):
        remove_version_directory(clone, VDIR)
    assert (tmp_path / "real-version" / "code.sh").exists()
