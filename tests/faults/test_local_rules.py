"""The local side's rules, each as a case that once lost data or acted wrongly.

- files of a Zarr that dandi's Zarr checksum skips (``.git``, ``.datalad``, ...)
  are local-only data: the directory is refused;
- a file rewritten with bytes of the same size and its modification time put
  back stays (the removal's stamp holds the change time);
- a dangling link on the way to a directory of the archive leaves its local state
  unknown: refused, never taken as remote-only;
- a target that is itself a mount point is refused by the plan, before any DELETE;
- a target nested in another (added by a hook): both refused;
- a Zarr's files and bytes are counted;
- a FIFO, a socket, a device is never opened: its directory is refused, promptly.

Each case ends with the clone and the fake archive hashed (``bad_input``) where
the case leaves anything to check.
"""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import socket
import stat
import threading

import pytest

from dandi_compute_plugin import hookimpl
from dandi_compute_plugin.deletion import execute_plan, plan_deletion, run_deletion

from ..archive import FakeArchive
from ..archive.clones import DANDISET, seed
from ..records import asset_record
from .trees import NAMES, bind_mount, files, records, statuses, unmount, vdir

#: a Zarr kept as a git/DataLad dataset: what dandi's Zarr checksum skips
EXCLUDED = (
    ".git/HEAD",
    ".git/objects/ab/cdef01",
    ".datalad/config",
    ".dandi/cache",
    ".gitattributes",
    "0/.gitmodules",
)


def add_zarr(
    archive: FakeArchive, clone: Path, zarr: str, chunks: dict[str, bytes]
) -> str:
    """Write a Zarr into the clone and put it on the archive as it is now."""
    from dandi.support.digests import get_zarr_checksum

    for name, data in chunks.items():
        (clone / zarr / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / zarr / name).write_bytes(data)
    checksum = get_zarr_checksum(clone / zarr)
    size = sum(len(d) for d in chunks.values())
    archive.add_assets(
        DANDISET, [asset_record(zarr, size, zarr=True, zarr_checksum=checksum)]
    )
    return checksum


def local_size(clone: Path, paths: list[str]) -> int:
    return sum((clone / p).stat().st_size for p in paths)


def test_zarr_files_the_checksum_skips_are_local_only(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    from dandi.support.digests import get_zarr_checksum

    clone = seed(keyed, tmp_path / "clone", files("A") + files("B"))
    zarr = vdir("A") + "/output/image.ome.zarr"
    uploaded = add_zarr(keyed, clone, zarr, {"0/0": b"chunk", ".zattrs": b"{}"})
    for name in EXCLUDED:
        (clone / zarr / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / zarr / name).write_bytes(b"only in the clone: " + name.encode())
    # dandi's checksum does not see them: it still equals the archive's
    assert get_zarr_checksum(clone / zarr) == uploaded
    snap = bad_input.snapshot(keyed, clone)

    dry = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, dry_run=True)
    rec = records(dry)[vdir("A")]
    assert rec["status"] == "refused"
    assert sorted(rec["unuploaded"]) == sorted(
        f"{zarr}/{name}" for name in (".dandi/", ".datalad/", ".git/", ".gitattributes")
    ) + [f"{zarr}/0/.gitmodules"]
    assert rec["unuploaded_count"] == 5
    assert "skipped by dandi's Zarr checksum" in rec["reason"]
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert statuses(report) == {vdir("A"): "refused", vdir("B"): "deleted"}
    assert report.exit_code == 1
    snap.assert_only_removed([vdir("B")])
    # --include-unuploaded deletes them as any other un-uploaded file
    again = run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, include_unuploaded=True
    )
    assert statuses(again) == {vdir("A"): "deleted"}
    assert not os.path.lexists(clone / vdir("A"))
    bad_input.ended("refused: a Zarr's .git/.datalad files are local only, exit 1")


def test_a_rewrite_keeping_size_and_mtime_stays(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    clone = seed(keyed, tmp_path / "clone", files("A"))
    plan = plan_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    rewritten = clone / files("A")[1]
    before, data = rewritten.stat(), rewritten.read_bytes()
    # `cp -p` / `touch -r`: other bytes, the same size, the mtime put back (the
    # kernel's clock may tick coarsely: write until the change time moves)
    for attempt in range(1000):
        rewritten.write_bytes(data.upper() if attempt % 2 == 0 else data.lower())
        os.utime(rewritten, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = rewritten.stat()
        if after.st_ctime_ns != before.st_ctime_ns and attempt % 2 == 0:
            break
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    snap = bad_input.snapshot(keyed, clone)

    [result] = execute_plan(plan).results

    assert result.status.value == "failed"
    assert f"{files('A')[1]} (changed since the plan)" in result.reason
    assert rewritten.read_bytes() == data.upper()
    run_sh, _, b_json = files("A")
    snap.assert_only_removed(
        [run_sh.rsplit("/", 1)[0], b_json], remote_removed=[vdir("A")]
    )
    bad_input.ended("target failed: the same-size rewrite with its mtime back stays")


@pytest.mark.parametrize("link", ["dangling", "to-a-copy", "a-file-instead"])
def test_a_link_on_the_way_is_never_remote_only(
    keyed: FakeArchive, tmp_path: Path, bad_input, link: str
) -> None:
    clone = seed(keyed, tmp_path / "clone", files("A"), remote_only=files("X"))
    sub = clone / "derivatives/dandiset-000001/sub-X"
    disk = tmp_path / "external-disk" / "sub-X"
    if link == "to-a-copy":
        (disk / "pipeline-aind+ephys/version-v1.1.1").mkdir(parents=True)
    if link == "a-file-instead":
        sub.write_text("not a directory")
    else:  # an external disk, unmounted: the link dangles
        sub.symlink_to(disk, target_is_directory=True)
    snap = bad_input.snapshot(keyed, clone, tmp_path / "external-disk")

    report = run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, include_remote=True
    )

    assert statuses(report) == {vdir("A"): "deleted", vdir("X"): "refused"}
    why = "is not a directory" if link == "a-file-instead" else "is a symbolic link"
    assert f"sub-X {why}" in report.results[1].reason
    assert report.results[1].deleted_assets == 0
    snap.assert_only_removed([vdir("A")])
    bad_input.ended(f"refused: {link} on the way, never remote-only, exit 1")


def test_a_target_that_is_a_mount_point_is_refused_before_any_delete(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    clone = seed(keyed, tmp_path / "clone", files("A") + files("B"))
    storage = tmp_path / "storage"
    shutil.copytree(clone / vdir("A"), storage)  # what the mount shows
    bind_mount(storage, clone / vdir("A"))
    try:
        snap = bad_input.snapshot(keyed, clone, storage)
        dry = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, dry_run=True)
        assert statuses(dry) == {vdir("A"): "refused", vdir("B"): "planned"}
        assert "is a mount point" in dry.results[0].reason
        report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
        assert statuses(report) == {vdir("A"): "refused", vdir("B"): "deleted"}
        assert keyed.count("DELETE") == len(files("B"))
        snap.assert_only_removed([vdir("B")])
    finally:
        unmount(clone / vdir("A"))
    bad_input.ended("refused in the plan: the target is a mount point, exit 1")


INNER = vdir("A") + "/reruns/version-v1.1.1+rerun"


class AddInner:
    @hookimpl
    def dandi_compute_add_targets(self, dandiset_directory, version):
        return [INNER]


class ProtectInner:
    @hookimpl
    def dandi_compute_veto_deletion(self, target):
        return "protected by policy" if target.relpath == INNER else None


def test_nested_targets_are_both_refused(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    protected = INNER + "/output/protected.json"
    clone = seed(keyed, tmp_path / "clone", files("A") + [protected] + files("B"))
    snap = bad_input.snapshot(keyed, clone)

    report = run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, plugins=[AddInner(), ProtectInner()]
    )

    assert statuses(report) == {
        vdir("A"): "refused",
        INNER: "refused",
        vdir("B"): "deleted",
    }
    by_path = {r.target.relpath: r.reason for r in report.results}
    assert f"holds the target {INNER}" in by_path[vdir("A")]
    assert f"inside the target {vdir('A')}" in by_path[INNER]
    assert "nested targets are both refused" in by_path[INNER]
    assert keyed.count("DELETE") == len(files("B"))
    snap.assert_only_removed([vdir("B")])
    bad_input.ended("refused: nested targets (one added by a hook), both, exit 1")


def test_a_zarrs_files_and_bytes_are_counted(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(keyed, tmp_path / "clone", files("A"))
    zarr = vdir("A") + "/output/image.ome.zarr"
    chunks = {"0/0": b"a" * 1000, "0/1": b"b" * 2000, "1/0": b"c" * 3000}
    add_zarr(keyed, clone, zarr, {**chunks, ".zattrs": b"{}"})
    n_files, n_bytes = len(NAMES) + 4, local_size(clone, files("A")) + 6002

    dry = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, dry_run=True)
    rec = records(dry)[vdir("A")]
    assert (rec["local_files"], rec["local_bytes"]) == (n_files, n_bytes)
    plan = plan_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    try:
        assert f"then {n_files} local files (" in plan.summary()
        assert f"{n_bytes} bytes)" in plan.summary()
    finally:
        plan.close()
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert records(report)[vdir("A")]["local_bytes"] == n_bytes
    assert statuses(report) == {vdir("A"): "deleted"}


def _make_special(path: Path, kind: str, tmp_path: Path) -> socket.socket | None:
    """Put a FIFO, a socket, a device or a link to a FIFO at ``path``."""
    if path.exists():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "link-to-dev-zero":  # endless: reading it never ends
        path.symlink_to("/dev/zero")
    elif kind == "link-to-fifo":
        os.mkfifo(tmp_path / "a-fifo")
        path.symlink_to(tmp_path / "a-fifo")
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        try:  # a socket's path is short (108 bytes): bound nearby, then moved
            sock.bind(str(tmp_path / "s"))
        except OSError as exc:
            sock.close()
            pytest.skip(f"cannot bind a socket here: {exc}")
        os.rename(tmp_path / "s", path)
        return sock
    else:
        if os.geteuid() != 0:
            pytest.skip("needs root to make a device node")
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null's
    return None


def _dry_run_in_a_thread(clone: Path, keyed: FakeArchive, fifo: Path):
    """The dry run, with the FIFO opened by a writer if it ever waits on it."""
    out: list = []
    thread = threading.Thread(
        target=lambda: out.append(
            run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, dry_run=True)
        ),
        daemon=True,
    )
    thread.start()
    thread.join(60)  # a bound for a hang, not a measure of speed
    waited = thread.is_alive()
    if waited:  # release the reader, so that the test run goes on
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        thread.join(60)
    assert not waited, "the dry run waited on the FIFO"
    return out[0]


@pytest.mark.parametrize(
    "kind", ["fifo", "link-to-fifo", "socket", "device", "link-to-dev-zero"]
)
@pytest.mark.parametrize("where", ["version-directory", "zarr"])
def test_what_is_not_a_file_is_never_opened(
    keyed: FakeArchive, tmp_path: Path, bad_input, kind: str, where: str
) -> None:
    clone = seed(keyed, tmp_path / "clone", files("A") + files("B"))
    if where == "zarr":
        zarr = vdir("A") + "/output/image.ome.zarr"
        add_zarr(keyed, clone, zarr, {"0/0": b"chunk", "0/1": b"chunk"})
        special = f"{zarr}/0/1"  # where the archive's Zarr has a chunk
    else:
        special = files("A")[1]  # where the archive has a file
    held = _make_special(clone / special, kind, tmp_path)
    try:
        snap = bad_input.snapshot(keyed, clone)
        dry = _dry_run_in_a_thread(clone, keyed, clone / special)
        assert statuses(dry) == {vdir("A"): "refused", vdir("B"): "planned"}
        rec = records(dry)[vdir("A")]
        assert rec["unuploaded"] == [special]
        shown = {
            "fifo": "a FIFO",
            "link-to-fifo": "a link to a FIFO",
            "socket": "a socket",
            "device": "a character device",
            "link-to-dev-zero": "a link to a character device",
        }[kind]
        assert f"{special} ({shown}: the archive cannot hold it" in rec["reason"]
        report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
        assert statuses(report) == {vdir("A"): "refused", vdir("B"): "deleted"}
        snap.assert_only_removed([vdir("B")])
        # said explicitly: it goes as any un-uploaded file, unlinked unopened
        again = run_deletion(
            clone, "v1.1.1", dandi_instance=keyed.url, include_unuploaded=True
        )
        assert statuses(again) == {vdir("A"): "deleted"}
        assert not os.path.lexists(clone / vdir("A"))
    finally:
        if held is not None:
            held.close()
    bad_input.ended(f"refused: {kind} in the {where}, never opened, exit 1")


@pytest.mark.parametrize("fetched", ["none", "some"])
def test_a_zarr_of_git_annex_links(
    keyed: FakeArchive, tmp_path: Path, bad_input, fetched: str
) -> None:
    """A DataLad clone's Zarr: its chunks are links into the annex.  None
    fetched: nothing here to lose (compared by path, as a broken link is).  Some
    fetched: the checksum cannot be compared, so the broken ones are named."""
    clone = seed(keyed, tmp_path / "clone", files("A"))
    zarr = vdir("A") + "/output/image.ome.zarr"
    add_zarr(keyed, clone, zarr, {"0/0": b"chunk", "0/1": b"chunk"})
    annex = tmp_path / "annex"
    annex.mkdir()
    for name in ("0/0", "0/1"):
        (clone / zarr / name).unlink()
        if fetched == "some" and name == "0/0":
            (annex / "present").write_bytes(b"chunk")
            (clone / zarr / name).symlink_to(annex / "present")
        else:
            (clone / zarr / name).symlink_to(annex / f"absent-{name[-1]}")
    snap = bad_input.snapshot(keyed, clone, annex)

    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)

    if fetched == "none":
        assert statuses(report) == {vdir("A"): "deleted"}
        snap.assert_only_removed([vdir("A")])
    else:
        assert statuses(report) == {vdir("A"): "refused"}
        assert records(report)[vdir("A")]["unuploaded"] == [f"{zarr}/0/1"]
        assert "a broken link inside a Zarr" in report.results[0].reason
        snap.assert_only_removed([])
    bad_input.ended(f"a Zarr of annex links, {fetched} fetched: {statuses(report)}")


def test_a_file_hard_linked_into_two_targets(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    """Unlinking one name changes the file's change time, also for its name in
    the other target, processed apart: that one may be reported changed (the
    safe side) and a re-run finishes it; nothing is lost either way."""
    clone = seed(keyed, tmp_path / "clone", files("A") + files("B"))
    shared = files("B")[1].replace("a.json", "shared.json")
    data = (clone / files("A")[1]).read_bytes()
    keyed.add_assets(DANDISET, [asset_record(shared, content=data)])
    os.link(clone / files("A")[1], clone / shared)
    snap = bad_input.snapshot(keyed, clone)

    first = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, jobs=1)
    second = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)

    # one target after the other (-J 1): A's removal changed the shared file
    assert statuses(first) == {vdir("A"): "deleted", vdir("B"): "failed"}
    assert f"{shared} (changed since the plan)" in first.results[1].reason
    assert statuses(second) == {vdir("B"): "deleted"}
    snap.assert_only_removed([vdir("A"), vdir("B")])
    bad_input.ended(
        "hard link across targets: the second failed (safe side), a re-run did it"
    )


def test_a_resumed_target_behind_a_dangling_link_is_not_gone(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    """A run deletes some of a directory's assets and fails on the others; then
    the disk holding its subject directory goes away (a dangling link stays).
    The journal's unfinished target is not "gone": its local state is unknown,
    so the re-run deletes nothing of it."""
    clone = seed(keyed, tmp_path / "clone", files("A"))
    keyed.fail("DELETE", after=1, status=403)
    first = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, jobs=1)
    assert statuses(first) == {vdir("A"): "failed"}
    assert first.results[0].deleted_assets == 1
    keyed.clear_faults()
    sub = clone / "derivatives/dandiset-000001/sub-A"
    shutil.move(sub, tmp_path / "disk")
    sub.symlink_to(tmp_path / "unmounted" / "sub-A", target_is_directory=True)
    snap = bad_input.snapshot(keyed, clone, tmp_path / "disk")
    deletes = keyed.count("DELETE")

    again = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)

    assert statuses(again) == {vdir("A"): "refused"}
    assert "sub-A is a symbolic link" in again.results[0].reason
    assert keyed.count("DELETE") == deletes
    snap.assert_only_removed([])
    bad_input.ended("refused: a journaled target behind a dangling link, exit 1")


def test_a_hook_added_target_passes_the_same_place_check(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    """A hook adds a hidden directory that is a mount point, and one that is a
    file: both are reported refused by the rule of every target's place."""
    hidden = "derivatives/dandiset-000001/.staging/pipeline-p/version-v1.1.1"
    a_file = "derivatives/dandiset-000001/.staging/pipeline-q/version-v1.1.1"
    clone = seed(keyed, tmp_path / "clone", files("A") + [f"{hidden}/out.json"])
    (clone / a_file).parent.mkdir(parents=True)
    (clone / a_file).write_text("not a directory")
    storage = tmp_path / "storage"
    shutil.copytree(clone / hidden, storage)

    class AddBoth:
        @hookimpl
        def dandi_compute_add_targets(self, dandiset_directory, version):
            return [hidden, a_file]

    bind_mount(storage, clone / hidden)
    try:
        snap = bad_input.snapshot(keyed, clone, storage)
        report = run_deletion(
            clone, "v1.1.1", dandi_instance=keyed.url, plugins=[AddBoth()]
        )
        snap.assert_only_removed([vdir("A")])
    finally:
        unmount(clone / hidden)
    assert statuses(report) == {
        a_file: "refused",
        hidden: "refused",
        vdir("A"): "deleted",
    }
    reasons = {r.target.relpath: r.reason for r in report.results}
    assert "version-v1.1.1 is a mount point" in reasons[hidden]
    assert "version-v1.1.1 is not a directory" in reasons[a_file]
    bad_input.ended("refused: hook-added mount point and file, exit 1")


def test_case_variants_are_other_directories(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    """The archive's listing filter ignores case; the clone's file system here
    does not: ``sub-a`` on the archive is not the clone's ``sub-A``."""
    lower = [p.replace("sub-A", "sub-a") for p in files("A")]
    clone = seed(keyed, tmp_path / "clone", files("A"), remote_only=lower)
    if (clone / vdir("A").replace("sub-A", "sub-a")).exists():
        pytest.skip("this file system ignores case")
    snap = bad_input.snapshot(keyed, clone)

    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)

    assert statuses(report) == {
        vdir("A"): "deleted",
        vdir("a"): "remote-only",
    }
    assert records(report)[vdir("A")]["deleted_assets"] == len(files("A"))
    snap.assert_only_removed([vdir("A")])
    bad_input.ended("deleted sub-A only; sub-a of the archive kept (remote-only)")
