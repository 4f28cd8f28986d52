"""The local side of a deletion on real directory trees: inventory, the un-uploaded
check, the checks before a removal and the removal of vetted objects only."""

from __future__ import annotations

from dataclasses import replace
import os
from pathlib import Path
import stat
import subprocess
import sys

from dandischema.digests.dandietag import DandiETag
from hypothesis import given
from hypothesis import strategies as st
import pytest

from dandi_compute_plugin.deletion.local import (
    ABSENT,
    CONTENT_DIFFERS,
    PRESENT,
    Expected,
    LocalFile,
    find_unuploaded,
    inventory,
    local_digest,
    locate,
    mount_points,
    needs_digest,
    overlapping,
    remove_vetted,
)
from dandi_compute_plugin.deletion.local import verify as verify_module
from dandi_compute_plugin.deletion.local.verify import journal_vouches
from dandi_compute_plugin.errors import UnsafePathError

from ..unprivileged import can_be_locked_out, unprivileged

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

    seen = inventory(clone, VDIR)
    found = {f.path.removeprefix(VDIR + "/"): f for f in seen.files}

    assert list(found) == [
        ".hidden",
        "annexed.nwb",
        "code.sh",
        "image.ome.zarr",
        "missing.nwb",
        "output/a.json",
    ]
    assert found["output/a.json"].size == 5 and found["output/a.json"].kind == "file"
    assert found["annexed.nwb"].size == 8  # the content's size, through the link
    assert found["annexed.nwb"].mtime_ns == content.stat().st_mtime_ns
    assert (
        found["missing.nwb"].kind == "absent" and not found["missing.nwb"].has_content
    )
    assert found["image.ome.zarr"].kind == "zarr"
    # every object the removal may unlink is stamped, the link to a directory too
    assert sorted(p.removeprefix(VDIR + "/") for p in seen.stamps) == [
        ".hidden",
        "annexed.nwb",
        "code.sh",
        "image.ome.zarr/0/chunk",
        "linked-dir",
        "missing.nwb",
        "output/a.json",
    ]
    link = seen.stamps[f"{VDIR}/annexed.nwb"]
    assert link.ino == os.lstat(v / "annexed.nwb").st_ino  # the link, not its content
    assert seen.mounts == []


def test_inventory_fails_on_a_directory_it_cannot_list(clone: Path) -> None:
    # what cannot be listed cannot be vouched for: an error, never an empty list
    locked = clone / VDIR / "output"
    locked.chmod(0)
    try:
        if not can_be_locked_out(locked):
            pytest.skip("cannot make a directory unreadable here (root keeps reading)")
        probe = subprocess.run(
            unprivileged(
                [
                    sys.executable,
                    "-c",
                    "import sys\n"
                    "from dandi_compute_plugin.deletion.local import inventory\n"
                    "try:\n"
                    "    found = inventory(sys.argv[1], sys.argv[2])\n"
                    "except PermissionError as exc:\n"
                    "    print('refused:', exc.filename)\n"
                    "else:\n"
                    "    print('listed:', [f.path for f in found.files])\n",
                    str(clone),
                    VDIR,
                ]
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        locked.chmod(0o755)
    assert probe.stdout.strip() == f"refused: {locked}", probe.stderr


def test_digests_are_dandis(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(clone / VDIR / "output/a.json")
    expected = DandiETag.from_file(path).as_str()
    assert local_digest(path, "file", 5) == expected
    # above the threshold, dandi's cached get_digest gives the same answer
    monkeypatch.setattr(verify_module, "DIRECT_DIGEST_BELOW", 0)
    assert local_digest(path, "file", 5) == expected


def test_find_unuploaded_compares_content_by_digest() -> None:
    files = [
        LocalFile("v/same.json", 10, 1),
        LocalFile("v/rewritten.json", 10, 1),
        LocalFile("v/other-size.json", 11, 1),
        LocalFile("v/not-there.json", 3, 1),
        LocalFile("v/annexed-absent.nwb", None, kind="absent"),
        LocalFile("v/image.zarr", None, kind="zarr"),
        LocalFile("v/no-digest.json", 4, 1),
    ]
    expected = {
        "v/same.json": Expected(10, "a" * 32 + "-1"),
        "v/rewritten.json": Expected(10, "b" * 32 + "-1"),
        "v/other-size.json": Expected(12, "c" * 32 + "-1"),
        "v/annexed-absent.nwb": Expected(99, "d" * 32 + "-1"),
        "v/image.zarr": Expected(0, "e" * 32 + "-2--7"),
        "v/no-digest.json": Expected(4, None),
    }
    needed = [f.path for f in files if needs_digest(f, expected.get(f.path), "digest")]
    assert needed == ["v/same.json", "v/rewritten.json", "v/image.zarr"]
    digests = {
        "v/same.json": "a" * 32 + "-1",
        "v/rewritten.json": "f" * 32 + "-1",  # same size, other bytes
        "v/image.zarr": "0" * 32 + "-3--8",  # a chunk that was never uploaded
    }
    missing = {
        m.path: m.reason for m in find_unuploaded(files, expected, "digest", digests)
    }
    assert missing == {
        "v/rewritten.json": CONTENT_DIFFERS,
        "v/other-size.json": "11 bytes here, 12 on the server",
        "v/not-there.json": "not on the server",
        "v/image.zarr": CONTENT_DIFFERS,
        "v/no-digest.json": "the archive gives no digest to compare its content with",
    }
    # the weaker check: sizes only, Zarr by path
    by_size = {m.path for m in find_unuploaded(files, expected, "size")}
    assert by_size == {"v/other-size.json", "v/not-there.json"}


def test_the_journal_vouches_only_for_the_content_it_saw() -> None:
    files = [
        LocalFile("v/seen.json", 10, 111),
        LocalFile("v/rewritten.json", 10, 999),
        LocalFile("v/resized.json", 7, 111),
    ]
    expected = {f.path: Expected(10, "a" * 32 + "-1", 111, deleted=True) for f in files}
    digests = {"v/seen.json": "a" * 32 + "-1", "v/rewritten.json": "b" * 32 + "-1"}
    by_digest = {
        m.path: m.reason for m in find_unuploaded(files, expected, "digest", digests)
    }
    assert by_digest == {
        "v/rewritten.json": "content differs from the asset deleted from the archive",
        "v/resized.json": "7 bytes here, 10 on the server",
    }
    by_size = {m.path: m.reason for m in find_unuploaded(files, expected, "size")}
    assert by_size == {
        "v/rewritten.json": "written after the asset at this path was deleted from "
        "the server",
        "v/resized.json": "7 bytes here, 10 on the server",
    }


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
def test_locate_refuses_paths_of_the_wrong_shape(clone: Path, relpath: str) -> None:
    with pytest.raises(UnsafePathError, match="Not a version directory path"):
        locate(clone, relpath)


def test_locate_refuses_links_and_files_on_the_way(clone: Path, tmp_path: Path) -> None:
    sub = clone / "derivatives/dandiset-000001/sub-A"
    sub.rename(tmp_path / "moved")
    sub.symlink_to(tmp_path / "moved", target_is_directory=True)
    with pytest.raises(UnsafePathError, match="is a symbolic link"):
        locate(clone, VDIR)
    sub.unlink()
    sub.write_text("a file now")
    with pytest.raises(UnsafePathError, match="is not a directory"):
        locate(clone, VDIR)
    sub.unlink()
    assert locate(clone, VDIR) == ABSENT


def test_the_removal_takes_links_not_what_they_point_to(
    clone: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data.nwb").write_bytes(b"keep me")
    (clone / VDIR / "to-outside").symlink_to(outside, target_is_directory=True)
    (clone / VDIR / "file-link").symlink_to(outside / "data.nwb")
    # read-only directories (git-annex makes some) are removed too
    (clone / VDIR / "output").chmod(stat.S_IRUSR | stat.S_IXUSR)
    stamps = inventory(clone, VDIR).stamps

    assert remove_vetted(clone, VDIR, stamps) == (True, [])

    assert not os.path.lexists(clone / VDIR)
    assert (clone / VDIR).parent.is_dir()
    assert (outside / "data.nwb").read_bytes() == b"keep me"
    assert remove_vetted(clone, VDIR, stamps) == (False, [])  # already gone


def test_the_removal_leaves_what_the_plan_did_not_vet(clone: Path) -> None:
    stamps = inventory(clone, VDIR).stamps
    v = clone / VDIR
    (v / "output/new.json").write_bytes(b"written after the plan")
    (v / "later" / "deeper").mkdir(parents=True)
    (v / "later" / "deeper" / "x").write_bytes(b"x")
    (v / "code.sh").unlink()
    (v / "code.sh").write_bytes(b"echo")  # the same bytes, another file
    (v / "empty-new-dir").mkdir()

    removed, left = remove_vetted(clone, VDIR, stamps)

    assert removed and sorted(left) == [
        f"{VDIR}/code.sh (changed since the plan)",
        f"{VDIR}/later/deeper/x (not in the plan)",
        f"{VDIR}/output/new.json (not in the plan)",
    ]
    assert not (v / "output/a.json").exists()  # vetted: gone
    assert (v / "output/new.json").read_bytes() == b"written after the plan"
    assert (v / "code.sh").exists() and (v / "later/deeper/x").exists()
    assert not (v / "empty-new-dir").exists()  # empty directories go


def test_the_removal_never_follows_a_directory_swapped_for_a_link(
    clone: Path, tmp_path: Path
) -> None:
    stamps = inventory(clone, VDIR).stamps
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "output").mkdir(parents=True)
    (elsewhere / "output" / "a.json").write_bytes(b"12345")
    (clone / VDIR / "output" / "a.json").unlink()
    (clone / VDIR / "output").rmdir()
    (clone / VDIR / "output").symlink_to(elsewhere / "output", target_is_directory=True)

    removed, left = remove_vetted(clone, VDIR, stamps)

    assert (elsewhere / "output" / "a.json").read_bytes() == b"12345"
    assert left == [f"{VDIR}/output (not in the plan)"]


def test_the_removal_checks_the_path_first(clone: Path, tmp_path: Path) -> None:
    version = clone / VDIR
    stamps = inventory(clone, VDIR).stamps
    version.rename(tmp_path / "real-version")
    version.symlink_to(tmp_path / "real-version", target_is_directory=True)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        remove_vetted(clone, VDIR, stamps)
    assert (tmp_path / "real-version" / "code.sh").exists()


def test_the_mount_table_is_read(tmp_path: Path) -> None:
    points = mount_points()
    if not os.path.exists("/proc/self/mountinfo"):
        assert points == frozenset()
    else:
        assert "/" in points


def test_locate_finds_absent_only_below_real_directories(
    clone: Path, tmp_path: Path
) -> None:
    assert locate(clone, VDIR) == PRESENT
    other = "derivatives/dandiset-000001/sub-B/pipeline-p/version-v1"
    assert locate(clone, other) == ABSENT  # sub-B does not exist: absent
    sub_b = clone / "derivatives/dandiset-000001/sub-B"
    sub_b.symlink_to(tmp_path / "unmounted", target_is_directory=True)
    with pytest.raises(UnsafePathError, match="sub-B is a symbolic link"):
        locate(clone, other)  # a dangling link: unknown, not absent
    sub_b.unlink()
    sub_b.write_text("a file")
    with pytest.raises(UnsafePathError, match="sub-B is not a directory"):
        locate(clone, other)
    # the clone itself may be reached through a link
    (tmp_path / "link-to-clone").symlink_to(clone, target_is_directory=True)
    assert locate(tmp_path / "link-to-clone", VDIR) == PRESENT


def test_locate_refuses_a_mount_point_from_the_mount_table(clone: Path) -> None:
    real = os.path.realpath(clone)
    table = frozenset({f"{real}/derivatives/dandiset-000001/sub-A"})
    with pytest.raises(UnsafePathError, match="sub-A is a mount point"):
        locate(clone, VDIR, table)
    with pytest.raises(UnsafePathError, match="version-v1 is a mount point"):
        locate(clone, VDIR, frozenset({f"{real}/{VDIR}"}))


_part = st.sampled_from(["a", "b", "version-v1", "version-v1+x"])


@given(st.sets(st.lists(_part, min_size=1, max_size=4).map("/".join), max_size=8))
def test_overlapping_names_every_nested_pair_and_nothing_else(
    paths: set[str],
) -> None:
    found = overlapping(paths)
    for path in paths:
        nested = any(
            other != path
            and (other.startswith(path + "/") or path.startswith(other + "/"))
            for other in paths
        )
        assert (path in found) == nested, (path, found)
    for reason in found.values():
        assert "nested targets are both refused" in reason


def test_inventory_lists_what_the_archive_cannot_hold(clone: Path) -> None:
    v = clone / VDIR
    os.mkfifo(v / "pipe")
    zarr = v / "image.zarr"
    for name, data in [
        ("0/0", b"12345"),
        (".zattrs", b"{}"),
        (".git/HEAD", b"ref"),
        ("0/.gitmodules", b"x"),
        (".git/objects/x", b"y"),
    ]:
        (zarr / name).parent.mkdir(parents=True, exist_ok=True)
        (zarr / name).write_bytes(data)
    (zarr / "1").symlink_to(v / "output", target_is_directory=True)

    seen = inventory(clone, VDIR)

    assert [(p.removeprefix(VDIR + "/"), why[:22]) for p, why in seen.local_only] == [
        ("image.zarr/.git/", "skipped by dandi's Zar"),
        ("image.zarr/0/.gitmodules", "skipped by dandi's Zar"),
        ("image.zarr/1", "a link to a directory "),
        ("pipe", "a FIFO: the archive ca"),
    ]
    [z] = [f for f in seen.files if f.kind == "zarr"]
    # what dandi's checksum covers: 0/0 and .zattrs; the link makes it unread
    assert (z.files, z.bytes, z.readable) == (2, 7, False)
    assert not needs_digest(z, Expected(7, "e" * 32 + "-2--7"), "digest")
    # everything is stamped: --include-unuploaded removes it all
    assert {f"{VDIR}/pipe", f"{VDIR}/image.zarr/.git/objects/x"} <= set(seen.stamps)
    assert f"{VDIR}/pipe" not in {f.path for f in seen.files}  # never read


def test_the_journal_vouches_for_a_zarrs_files_only_as_they_were(
    clone: Path, tmp_path: Path
) -> None:
    zarr = clone / VDIR / "output/image.zarr"
    (zarr / "0").mkdir(parents=True)
    for name in ("0/0", "0/1", ".zattrs"):
        (zarr / name).write_bytes(name.encode())
    [seen] = [f for f in inventory(clone, VDIR).files if f.kind == "zarr"]
    assert [name for name, _ in seen.members] == [".zattrs", "0/0", "0/1"]
    deleted = Expected(0, "x-1--1", deleted=True, members=dict(seen.members))

    (zarr / "0/0").unlink()  # half removed: what is left is as it was
    [left] = [f for f in inventory(clone, VDIR).files if f.kind == "zarr"]
    assert journal_vouches(left, deleted)
    assert find_unuploaded([left], {left.path: deleted}) == []
    # not when on the server (not deleted), nor unknown to the journal
    assert not journal_vouches(left, replace(deleted, deleted=False))
    assert not journal_vouches(left, replace(deleted, members=None))
    # a file touched since (its change time moves), or a link among them
    before, mode = os.stat(zarr / "0/1").st_ctime_ns, 0o600
    while os.stat(zarr / "0/1").st_ctime_ns == before:  # a coarse clock: again
        os.chmod(zarr / "0/1", mode)
        mode ^= 0o040
    [touched] = [f for f in inventory(clone, VDIR).files if f.kind == "zarr"]
    assert not journal_vouches(touched, deleted)
    (tmp_path / "elsewhere").write_bytes(b"0/1")
    (zarr / "0/1").unlink()
    (zarr / "0/1").symlink_to(tmp_path / "elsewhere")
    [linked] = [f for f in inventory(clone, VDIR).files if f.kind == "zarr"]
    assert linked.members is None and not journal_vouches(linked, deleted)
