"""What the archive does not hold is never lost: content checks and vetted removal.

Each case ends with the data that only the clone holds still in the clone, checked
by hashing the clone and the fake archive (``bad_input``): a file rewritten with
other bytes of the same size, a Zarr with a chunk never uploaded, files written
while the removal runs, a file system mounted inside a version directory, a copy
of ``dandiset.yaml`` deeper in the tree, a listing with a forged asset id, and a
plugin veto with ``--include-unuploaded``.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import shutil
import threading

import pytest

from dandi_compute_plugin import hookimpl
from dandi_compute_plugin.deletion import execute_plan, plan_deletion, run_deletion

from ..archive import FakeArchive
from ..archive.clones import DANDISET, seed, tree_state
from ..archive.fixtures import cli_env
from ..records import asset_record, content_of
from ..subprocesses import run_dandi
from .trees import bind_mount, files, mount, statuses, unmount, vdir

ASSET_URL = r"/api/dandisets/001697/versions/draft/assets/[0-9a-f-]{36}/"


def test_same_size_other_bytes_is_content_the_archive_lacks(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    clone = seed(keyed, tmp_path / "clone", files("A") + files("B"))
    changed = clone / files("A")[1]
    changed.write_bytes(changed.read_bytes().upper())  # same size
    snap = bad_input.snapshot(keyed, clone)

    dry = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, dry_run=True)
    assert f"{files('A')[1]} (content differs from the archive's)" in (
        dry.results[0].reason
    )
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert statuses(report) == {vdir("A"): "refused", vdir("B"): "deleted"}
    assert report.results[0].as_record()["unuploaded"] == [files("A")[1]]
    snap.assert_only_removed([vdir("B")])
    # the weaker check, chosen explicitly, goes by sizes: documented as weaker
    by_size = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, verify="size")
    assert statuses(by_size) == {vdir("A"): "deleted"}
    bad_input.ended("refused: content differs from the archive's, exit 1")


def test_a_zarr_with_a_chunk_never_uploaded(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    zarr = vdir("A") + "/output/image.ome.zarr"
    clone = seed(keyed, tmp_path / "clone", files("A"))
    (clone / zarr / "0").mkdir(parents=True)
    (clone / zarr / "0" / "0").write_bytes(b"chunk uploaded")
    (clone / zarr / ".zattrs").write_bytes(b"{}")
    from dandi.support.digests import get_zarr_checksum

    uploaded = get_zarr_checksum(clone / zarr)
    keyed.add_assets(
        DANDISET, [asset_record(zarr, 16, zarr=True, zarr_checksum=uploaded)]
    )
    (clone / zarr / "0" / "1").write_bytes(b"chunk written after the upload")
    snap = bad_input.snapshot(keyed, clone)

    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)

    assert statuses(report) == {vdir("A"): "refused"}
    assert f"{zarr} (content differs from the archive's)" in report.results[0].reason
    snap.assert_only_removed([])
    # once the chunk is gone again, the Zarr is what the archive holds
    (clone / zarr / "0" / "1").unlink()
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert statuses(report) == {vdir("A"): "deleted"}
    assert not (clone / vdir("A")).exists()
    bad_input.ended("refused: the Zarr's checksum differs, exit 1")


@pytest.mark.parametrize("include_unuploaded", [False, True])
def test_files_written_during_the_removal_stay(
    keyed: FakeArchive, tmp_path: Path, bad_input, include_unuploaded: bool
) -> None:
    clone = seed(keyed, tmp_path / "clone", files("A") + files("B"))
    plan = plan_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, include_unuploaded=include_unuploaded
    )
    snap = bad_input.snapshot(keyed, clone)
    written: list[Path] = []
    stop = threading.Event()

    def writer() -> None:  # keeps writing new files into both targets
        n = 0
        while not stop.is_set() and n < 2000:
            for sub in "AB":
                directory = clone / vdir(sub) / "output"
                try:
                    directory.mkdir(parents=True, exist_ok=True)
                    path = directory / f"new-{n:04d}.log"
                    path.write_text("only here")
                except OSError:  # the directory went between the two calls
                    continue
                written.append(path)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        report = execute_plan(plan)
    finally:
        stop.set()
        thread.join()

    assert written, "the writer wrote nothing"
    lost = [p for p in written if not p.exists()]
    assert lost == []
    for result in report.results:  # deleted only where nothing new came in time
        survivors = [
            p for p in written if str(p).startswith(str(clone / result.target.relpath))
        ]
        assert (result.status.value == "deleted") == (not survivors), result.reason
    # nothing but the writer's files is new, nothing outside the targets changed
    before, after = snap.trees[0], tree_state(clone, skip=[".dandi-compute"])
    new = {p.relative_to(clone).as_posix() for p in written}
    for path, state in after.items():
        assert path in new or before.get(path) == state or state == "dir", path
    for path, state in before.items():
        if not any(path.startswith(vdir(s)) for s in "AB"):
            assert after.get(path) == state, path
    snap.on_checked()
    bad_input.ended(f"{len(written)} files written during the run, none lost")


def test_a_file_system_mounted_inside_a_version_directory(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    clone = seed(keyed, tmp_path / "clone", files("A") + files("B"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.nwb").write_bytes(b"not in the archive")
    mount_point = clone / vdir("A") / "mnt"
    mount_point.mkdir()
    bind_mount(outside, mount_point)
    try:
        snap = bad_input.snapshot(keyed, clone, outside)
        report = run_deletion(
            clone, "v1.1.1", dandi_instance=keyed.url, include_unuploaded=True
        )
        assert statuses(report) == {vdir("A"): "refused", vdir("B"): "deleted"}
        assert "another file system is mounted inside it" in report.results[0].reason
        snap.assert_only_removed([vdir("B")])
    finally:
        unmount(mount_point)
    assert (outside / "precious.nwb").read_bytes() == b"not in the archive"
    bad_input.ended("refused: a bind mount inside, not crossed, exit 1")


def test_a_copy_of_dandiset_yaml_deeper_in_the_tree(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    clone = seed(
        keyed, tmp_path / "clone", files("A", ds="000233") + files("B", ds="000233")
    )
    shutil.copy(clone / "dandiset.yaml", clone / "derivatives/dandiset-000233")
    snap = bad_input.snapshot(keyed, clone)

    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)

    assert statuses(report) == {
        vdir("A", ds="000233"): "deleted",
        vdir("B", ds="000233"): "deleted",
    }
    snap.assert_only_removed([vdir("A", ds="000233"), vdir("B", ds="000233")])
    bad_input.ended("deleted: paths taken from DANDISET_DIR, exit 0")


def test_a_forged_asset_id_is_never_sent(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    clone = seed(keyed, tmp_path / "clone", files("A") + files("B"))
    with keyed._lock:
        draft = keyed._dandisets[DANDISET]["draft"]
        asset = next(a for a in draft.values() if a["path"] == files("A")[0])
        asset["asset_id"] = "../../../../001697"
    snap = bad_input.snapshot(keyed, clone)

    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)

    assert statuses(report) == {vdir("A"): "failed", vdir("B"): "deleted"}
    assert "not a UUID" in report.results[0].reason
    deletions = [r.path for r in keyed.log if r.method == "DELETE"]
    assert all(re.fullmatch(ASSET_URL, p) for p in deletions), deletions
    assert keyed.count("DELETE") == len(files("B"))
    snap.assert_only_removed([vdir("B")])
    bad_input.ended("target failed: an asset id that is not a UUID, exit 1")


class KeepA:
    @hookimpl
    def dandi_compute_veto_deletion(self, target):
        return "A is kept" if "sub-A" in target.relpath else None


def test_a_veto_holds_with_include_unuploaded(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    clone = seed(
        keyed,
        tmp_path / "clone",
        files("A") + files("B"),
        local_only=[vdir("A") + "/not-uploaded.txt"],
    )
    (clone / vdir("A") / "not-uploaded.txt").write_bytes(content_of("x"))
    snap = bad_input.snapshot(keyed, clone)

    report = run_deletion(
        clone,
        "v1.1.1",
        dandi_instance=keyed.url,
        include_unuploaded=True,
        plugins=[KeepA()],
    )

    assert statuses(report) == {vdir("A"): "refused", vdir("B"): "deleted"}
    assert "A is kept" in report.results[0].reason
    snap.assert_only_removed([vdir("B")])
    bad_input.ended("refused by the veto despite --include-unuploaded, exit 1")


def test_a_full_disk_under_the_journal_stops_new_deletions(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    paths = [p for s in "ABCDEF" for p in files(s)]
    clone = seed(keyed, tmp_path / "clone", paths)
    journal_dir = clone / ".dandi-compute"
    journal_dir.mkdir()
    mount(
        "-t", "tmpfs", "-o", "size=8k", "tmpfs", target=journal_dir, what="a tiny tmpfs"
    )
    env = cli_env(keyed, tmp_path)
    try:
        snap = bad_input.snapshot(keyed, clone)
        proc = run_dandi(
            "compute", "delete-version", str(clone), "v1.1.1", "-i", keyed.url,
            "--yes", "-J", "1", "-f", "json", env=env,
        )  # fmt: skip
    finally:
        # space is freed: the journal as the full disk left it, on the real one
        journal = (journal_dir / "delete-journal.jsonl").read_bytes()
        unmount(journal_dir)
        (journal_dir / "delete-journal.jsonl").write_bytes(journal)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    records = {r["path"]: r for r in json.loads(proc.stdout)}  # the whole report
    deleted = [p for p, r in records.items() if r["status"] == "deleted"]
    halted = [
        p
        for p, r in records.items()
        if "journal cannot be written" in (r["reason"] or "")
    ]
    assert deleted and halted and len(deleted) + len(halted) == 6
    # a target whose intents were written may have lost its remote assets (the
    # journal vouches for them); its local directory stays, as every halted one
    gone_remotely = [p for p in halted if records[p]["deleted_assets"]]
    assert all(
        records[p]["deleted_assets"] in (0, records[p]["remote_assets"]) for p in halted
    )
    snap.assert_only_removed(deleted, remote_removed=deleted + gone_remotely)
    again = run_dandi(
        "compute", "delete-version", str(clone), "v1.1.1", "-i", keyed.url,
        "--yes", "-f", "json", env=env,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert not any((clone / vdir(s)).exists() for s in "ABCDEF")
    bad_input.ended(f"{len(deleted)} deleted, then stopped: journal full, exit 1")


def test_a_vetoed_directory_is_not_offered_the_way_past_its_unuploaded_files(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(
        keyed,
        tmp_path / "clone",
        files("A") + files("B"),
        local_only=[vdir("A") + "/not-uploaded.txt", vdir("B") + "/new.txt"],
    )
    report = run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, plugins=[KeepA()], dry_run=True
    )
    reasons = {r.target.relpath: r.reason for r in report.results}
    assert (
        "not on the server" in reasons[vdir("A")] and "A is kept" in reasons[vdir("A")]
    )
    assert "--include-unuploaded" not in reasons[vdir("A")]
    assert (
        "--include-unuploaded (include_unuploaded=True in Python)" in reasons[vdir("B")]
    )
