"""Promises of the local side that a planted bug once left unnoticed.

- a bind mount made between the plan and the removal is never entered, inside a
  version directory or above one (root only);
- ``local_bytes`` counts the local sizes, not the archive's;
- ``unuploaded`` names 10 files and ``unuploaded_count`` says how many there are;
- a directory the scan cannot read makes the run fail even when it hides nothing
  the archive knows of;
- hard links: unlinking one name of a file changes its change time, which does
  not make its other names look rewritten.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import stat
import subprocess

import pytest

from dandi_compute_plugin import hookimpl
from dandi_compute_plugin.deletion import execute_plan, plan_deletion, run_deletion

from ..archive import FakeArchive
from ..archive.clones import DANDISET, seed, tree_state
from ..archive.fixtures import cli_env
from ..records import asset_record
from ..subprocesses import dandi_executable
from ..unprivileged import can_be_locked_out, unprivileged
from .trees import bind_mount, files, records, statuses, unmount, vdir


@pytest.mark.parametrize("where", ["inside", "above"])
def test_a_bind_mount_made_after_the_plan_is_never_entered(
    keyed: FakeArchive, tmp_path: Path, where: str
) -> None:
    clone = seed(keyed, tmp_path / "clone", files("A") + files("B"))
    plan = plan_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    storage = tmp_path / "storage"
    if where == "inside":  # over a directory the plan vetted
        point = (clone / files("A")[1]).parent
        (storage / "read-only").mkdir(parents=True)
    else:  # over the subject directory holding the version directory
        point = clone / "derivatives/dandiset-000001/sub-A"
        shutil.copytree(point, storage)
        (storage / "read-only").mkdir()
        # what a removal that entered the mount would take: an empty directory
        (storage / "pipeline-aind+ephys/version-v1.1.1/empty").mkdir()
    (storage / "precious.nwb").write_bytes(b"only on this disk")
    (storage / "empty").mkdir()
    (storage / "read-only").chmod(stat.S_IRUSR | stat.S_IXUSR)
    before = tree_state(storage)
    hidden = tree_state(point)  # what the mount hides
    bind_mount(storage, point)
    try:
        report = execute_plan(plan)
        after = tree_state(storage)
        mode = stat.S_IMODE((storage / "read-only").stat().st_mode)
    finally:
        unmount(point)
    assert statuses(report) == {vdir("A"): "failed", vdir("B"): "deleted"}
    assert "mount" in report.results[0].reason
    # not entered: nothing of it removed, no permission changed
    assert after == before and mode == stat.S_IRUSR | stat.S_IXUSR
    assert tree_state(point) == hidden  # what the mount hid, untouched too
    assert keyed.paths(DANDISET) == []  # the remote side went, as planned


def test_local_bytes_are_the_local_sizes(keyed: FakeArchive, tmp_path: Path) -> None:
    grown = files("A")[1]
    clone = seed(keyed, tmp_path / "clone", files("A"), local_sizes={grown: 7777})
    rec = records(run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, dry_run=True))
    local = sum((clone / p).stat().st_size for p in files("A"))
    remote = sum(asset_record(p)["contentSize"] for p in files("A"))
    assert local != remote
    assert rec[vdir("A")]["local_bytes"] == local
    assert rec[vdir("A")]["remote_bytes"] == remote
    assert rec[vdir("A")]["unuploaded"] == [grown]


def test_unuploaded_names_ten_and_counts_them_all(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    notes = [f"{vdir('A')}/notes/n{i:02d}.txt" for i in range(13)]
    clone = seed(keyed, tmp_path / "clone", files("A"), local_only=notes)
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, dry_run=True)
    rec = records(report)[vdir("A")]
    assert rec["status"] == "refused"
    assert rec["unuploaded"] == notes[:10] and rec["unuploaded_count"] == 13
    assert "13 local file(s) not on the server" in rec["reason"]
    assert "and 3 more" in rec["reason"] and notes[10] not in rec["reason"]


def test_an_unreadable_directory_hiding_nothing_known_still_fails(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(keyed, tmp_path / "clone", files("A"))
    locked = clone / "derivatives/dandiset-000009"
    (locked / "sub-Z").mkdir(parents=True)  # the archive has nothing below it
    locked.chmod(0)
    try:
        if not can_be_locked_out(locked):
            pytest.skip("cannot make a directory unreadable here (root keeps reading)")
        proc = subprocess.run(
            unprivileged(
                [dandi_executable(), "compute", "delete-version", str(clone), "v1.1.1",
                 "-i", keyed.url, "--yes", "-f", "json"]
            ),
            capture_output=True,
            text=True,
            env=cli_env(keyed, tmp_path),
            stdin=subprocess.DEVNULL,
            timeout=300,
        )  # fmt: skip
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    assert {r["path"]: r["status"] for r in json.loads(proc.stdout)} == {
        vdir("A"): "deleted"
    }
    assert "derivatives/dandiset-000009: Permission denied" in proc.stderr


@pytest.mark.parametrize("other_name", ["in-the-target", "outside-the-target"])
def test_hard_links_are_removed_by_every_vetted_name(
    keyed: FakeArchive, tmp_path: Path, other_name: str
) -> None:
    clone = seed(keyed, tmp_path / "clone", files("A"))
    original = clone / files("A")[1]
    if other_name == "in-the-target":
        copy = files("A")[1].replace("a.json", "copy.json")
        data = original.read_bytes()
        keyed.add_assets(DANDISET, [asset_record(copy, content=data)])
        other = clone / copy
    else:
        other = clone / "kept-copy.json"
    os.link(original, other)

    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)

    assert statuses(report) == {vdir("A"): "deleted"}, report.results[0].reason
    assert not os.path.lexists(clone / vdir("A"))
    assert other.exists() == (other_name == "outside-the-target")


class _KeepB:
    @hookimpl
    def dandi_compute_veto_deletion(self, target):
        return "kept" if "/sub-B/" in target.relpath + "/" else None


@pytest.mark.parametrize("why_kept", ["vetoed", "unuploaded"])
def test_a_hard_link_into_a_kept_target_keeps_its_data(
    keyed: FakeArchive, tmp_path: Path, why_kept: str
) -> None:
    """One name in a deleted target, the other in a target that stays (vetoed,
    or holding that name as data the archive lacks): only the vetted name goes,
    the bytes stay under the other, and ``local_bytes`` counts the name."""
    clone = seed(keyed, tmp_path / "clone", files("A") + files("B"))
    original = clone / files("A")[1]
    data = original.read_bytes()
    kept_name = files("B")[1].replace("a.json", "shared.json")
    os.link(original, clone / kept_name)
    plugins: list[object] = []
    if why_kept == "vetoed":  # the archive holds the other name too
        keyed.add_assets(DANDISET, [asset_record(kept_name, content=data)])
        plugins.append(_KeepB())
    b_before = tree_state(clone / vdir("B"))
    b_assets = [p for p in keyed.paths(DANDISET) if p.startswith(vdir("B") + "/")]
    a_bytes = sum((clone / p).stat().st_size for p in files("A"))

    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, plugins=plugins)

    assert statuses(report) == {vdir("A"): "deleted", vdir("B"): "refused"}
    assert records(report)[vdir("A")]["local_bytes"] == a_bytes
    assert not os.path.lexists(clone / vdir("A"))
    assert (clone / kept_name).read_bytes() == data
    assert os.stat(clone / kept_name).st_nlink == 1  # the only name left
    assert tree_state(clone / vdir("B")) == b_before
    assert [
        p for p in keyed.paths(DANDISET) if p.startswith(vdir("B") + "/")
    ] == b_assets


def test_a_hard_link_outside_keeps_the_data_of_a_removed_name(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(keyed, tmp_path / "clone", files("A"))
    original = clone / files("A")[1]
    data = original.read_bytes()
    outside = clone / "derivatives/kept.json"
    os.link(original, outside)
    a_bytes = sum((clone / p).stat().st_size for p in files("A"))

    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)

    assert statuses(report) == {vdir("A"): "deleted"}
    assert records(report)[vdir("A")]["local_bytes"] == a_bytes
    assert outside.read_bytes() == data and os.stat(outside).st_nlink == 1
