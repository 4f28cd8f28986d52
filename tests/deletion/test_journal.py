"""The journal: bound to its archive, dandiset and clone, and checked line by line."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
import shutil
import subprocess

import pytest

from dandi_compute_plugin.deletion import journal as journal_module
from dandi_compute_plugin.deletion import run_deletion
from dandi_compute_plugin.deletion.journal import Journal, journal_path
from dandi_compute_plugin.deletion.journal_format import read_journal
from dandi_compute_plugin.deletion.model import PlannedAsset
from dandi_compute_plugin.errors import (
    JournalBusyError,
    JournalError,
    JournalMismatchError,
)

from ..archive import FakeArchive
from ..archive.clones import DANDISET, seed, tree_state
from ..records import asset_record, version_files

VDIR = "derivatives/dandiset-000001/sub-A/pipeline-aind+ephys/version-v1.1.1"
OTHER = "derivatives/dandiset-000001/sub-B/pipeline-aind+ephys/version-v1.1.1"


def files(sub: str = "A") -> list[str]:
    return version_files("000001", sub, "v1.1.1", names=["out/a.json", "out/b.json"])


def strip_params(path: str) -> str:
    return path.split("/params-")[0]


def intent(path: str, **changes: object) -> dict:
    record = asset_record(path)
    line = {
        "event": "intent",
        "target": strip_params(path),
        "path": path,
        "asset_id": record["identifier"],
        "size": record["contentSize"],
        "digest": record["digest"]["dandi:dandi-etag"],
        "zarr": False,
        "mtime_ns": None,
    }
    line.update(changes)
    return line


def write_journal(clone: Path, api_url: str, lines: list[dict]) -> Path:
    path = journal_path(clone)
    path.parent.mkdir(exist_ok=True)
    binding = {
        "event": "journal",
        "api_url": api_url,
        "dandiset_id": DANDISET,
        "clone": str(clone.resolve()),
    }
    path.write_text("".join(json.dumps(r) + "\n" for r in [binding, *lines]))
    return path


def test_a_journal_of_another_instance_vouches_for_nothing(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    """Killed after deleting extra.nwb on instance A; a run against B (which
    never had it) must not trust A's journal and delete the local copy."""
    paths = files()
    clone = seed(keyed, tmp_path / "clone", paths)
    extra = strip_params(paths[0]) + "/extra.nwb"
    (clone / extra).write_text("only on instance A, deleted there")
    lines = [intent(extra, target=strip_params(paths[0]))]
    path = write_journal(clone, "https://api.other-instance.org/api", lines)
    before = tree_state(clone)

    with pytest.raises(JournalMismatchError) as info:
        run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)

    message = str(info.value)
    assert str(path) in message and "https://api.other-instance.org/api" in message
    # how to go on, from the command line and from Python
    assert "-i https://api.other-instance.org/api (dandi_instance=" in message
    assert keyed.count("DELETE") == 0 and tree_state(clone) == before


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (intent(files("B")[0]) | {"target": VDIR}, "not normalised below"),
        (intent(files()[0]) | {"asset_id": "../../../../001697"}, "'asset_id'"),
        (intent(files()[0]) | {"size": "12"}, "'size'"),
        (intent(files()[0]) | {"path": ["a"]}, "not a string"),
        ({"event": "deleted", "target": VDIR}, "'asset_id'"),
        ({"event": "gone", "target": VDIR}, "unknown event"),
        ({"event": "done", "target": "derivatives/../etc"}, "not a version directory"),
        ({"event": "journal", "api_url": "x"}, "a second binding line"),
        (intent(files()[0], members=[1, 2]), "an invalid 'members'"),
        (intent(files()[0], members={"0/0": [1, 2, 3]}), "an invalid 'members'"),
        (intent(files()[0], members={"../x": [1] * 5}), "an invalid 'members'"),
        (intent(files()[0], members={"0/0": [1, 2, 3, 4, 5.0]}), "'members'"),
    ],
)
def test_a_damaged_line_stops_the_run_naming_file_and_line(
    keyed: FakeArchive, tmp_path: Path, line: dict, problem: str
) -> None:
    clone = seed(keyed, tmp_path / "clone", files() + files("B"))
    path = write_journal(clone, keyed.api_url, [intent(files()[1]), line])
    before = tree_state(clone)

    for dry_run in (True, False):
        with pytest.raises(JournalError, match=problem) as info:
            run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, dry_run=dry_run)
        assert f"The journal {path} is damaged at line 3" in str(info.value)
    assert keyed.count("DELETE") == 0 and tree_state(clone) == before


def test_bytes_that_are_not_utf8_name_the_line(keyed: FakeArchive, tmp_path: Path):
    clone = seed(keyed, tmp_path / "clone", files())
    path = write_journal(clone, keyed.api_url, [intent(files()[1])])
    with open(path, "ab") as f:
        f.write(b'{"event": "done", "target": "\xe9"}\n')
    with pytest.raises(JournalError, match="line 3: not UTF-8"):
        run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)


def test_a_last_line_cut_short_by_a_crash_is_dropped(
    keyed: FakeArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone = seed(keyed, tmp_path / "clone", files())
    path = write_journal(clone, keyed.api_url, [])
    with open(path, "a") as f:
        f.write('{"event": "intent", "target": "deriv')  # no newline: a crash
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert report.ok and not path.exists()


@pytest.mark.parametrize("entries", [0, 1, 3])
@pytest.mark.parametrize("cut", ["", '{"event": "deleted", "tar'])
def test_the_reader_returns_the_binding_apart_from_the_entries(
    tmp_path: Path, entries: int, cut: str
) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    path = journal_path(clone)
    assert read_journal(path) == (None, [])  # none there
    lines = [intent(p) for p in files()] + [{"event": "done", "target": VDIR}]
    write_journal(clone, "https://api.example.org/api", lines[:entries])
    with open(path, "a") as f:
        f.write(cut)
    binding, found = read_journal(path)
    assert binding is not None and binding["event"] == "journal"
    assert binding["api_url"] == "https://api.example.org/api"
    assert found == lines[:entries]


def test_a_binding_line_cut_short_is_no_journal_and_is_written_anew(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    """A crash while the first line was written: nothing vouches for anything;
    a run goes on as without a journal, and a journal it leaves starts with a
    whole binding line."""
    clone = seed(keyed, tmp_path / "clone", files() + files("B"))
    path = journal_path(clone)
    path.parent.mkdir()
    path.write_text('{"event": "journal", "api_url": "https://api.exa')
    assert read_journal(path) == (None, [])
    keyed.fail("DELETE", times=1, status=403)  # one target stays unfinished
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert not report.ok
    binding, entries = read_journal(path)
    assert binding is not None and binding["api_url"] == keyed.api_url
    assert {e["event"] for e in entries} >= {"intent"}


def test_the_lock_file_is_removed_when_the_run_ends(
    keyed: FakeArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone = seed(keyed, tmp_path / "clone", files())

    def journal() -> Journal:
        return Journal(
            clone, api_url=keyed.api_url, dandiset_id=DANDISET, writable=True
        )

    first = journal()
    lock = Path(str(first.path) + ".lock")
    assert lock.is_file()
    with pytest.raises(JournalBusyError):
        journal()
    first.record_intents(
        VDIR, [PlannedAsset(files()[0], 3, asset_record(files()[0])["identifier"])]
    )
    first.record_done(VDIR)
    first.close()
    assert not first.path.exists()  # nothing left to finish
    assert not lock.exists()  # and no lock file left behind

    # a run that opened the lock file just before its holder removed it must
    # not lock the removed file while a third run locks the new one
    holder = journal()
    real_flock = journal_module.fcntl.flock
    calls = []

    def flock(fd: int, op: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            holder.close()  # removes the file this run has just opened
            third.append(journal())  # and a third run locks a new one
        real_flock(fd, op)

    third: list[Journal] = []
    monkeypatch.setattr(journal_module.fcntl, "flock", flock)
    with pytest.raises(JournalBusyError):
        journal()  # retried on the new file, which the third run holds
    assert len(calls) >= 3
    monkeypatch.undo()
    third[0].close()
    assert not lock.exists()


def test_the_journal_records_the_digests_it_vouches_with(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(keyed, tmp_path / "clone", files())
    keyed.fail(
        "GET", r"/assets/$", query="metadata=false|^path=[^&]*&order", status=500
    )
    j = Journal(clone, api_url=keyed.api_url, dandiset_id=DANDISET, writable=True)
    record = asset_record(files()[0])
    asset = PlannedAsset(files()[0], 3, record["identifier"], "a" * 32 + "-1")
    j.record_intents(VDIR, [asset], {files()[0]: 123})
    j.close()  # unfinished: kept
    lines = [json.loads(x) for x in j.path.read_text().splitlines()]
    assert lines[0] == {
        "event": "journal",
        "api_url": keyed.api_url,
        "dandiset_id": DANDISET,
        "clone": str(clone.resolve()),
    }
    assert lines[1]["digest"] == "a" * 32 + "-1" and lines[1]["mtime_ns"] == 123
    again = Journal(clone, api_url=keyed.api_url, dandiset_id=DANDISET, writable=False)
    [(path, expected)] = again.expected().items()
    assert path == files()[0] and expected.deleted and expected.digest == asset.digest


@pytest.mark.parametrize("field", ["dandiset_id", "clone"])
def test_a_journal_of_another_dandiset_or_clone_vouches_for_nothing(
    keyed: FakeArchive, tmp_path: Path, field: str
) -> None:
    """Each part of the binding counts on its own: the same instance, but a
    journal copied from another clone, or written for another dandiset."""
    paths = files()
    clone = seed(keyed, tmp_path / "clone", paths)
    extra = strip_params(paths[0]) + "/extra.nwb"
    (clone / extra).write_text("deleted elsewhere, never on this dandiset")
    lines = [intent(extra, target=strip_params(paths[0]))]
    path = write_journal(clone, keyed.api_url, lines)
    lines = path.read_text().splitlines(keepends=True)
    binding = json.loads(lines[0])
    binding[field] = "000002" if field == "dandiset_id" else str(tmp_path / "other")
    path.write_text(json.dumps(binding) + "\n" + "".join(lines[1:]))
    before = tree_state(clone)

    with pytest.raises(JournalMismatchError, match=binding[field]):
        run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)

    assert keyed.count("DELETE") == 0 and tree_state(clone) == before


def _is_journal(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").endswith("delete-journal.jsonl")
    except OSError:
        return False


needs_proc = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd"
)


@needs_proc
def test_every_intent_is_on_disk_before_its_delete_is_sent(
    keyed: FakeArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone = seed(keyed, tmp_path / "clone", files() + files("B"))
    real_fsync = os.fsync
    synced: list[tuple[set[str], set[str]]] = []  # (intents on disk, deleted)

    def fsync(fd: int) -> None:
        if _is_journal(fd):
            deleted = {r.path.rstrip("/").rsplit("/", 1)[-1] for r in keyed.log}
            real_fsync(fd)
            text = journal_path(clone).read_text()
            intents = {
                json.loads(line)["asset_id"]
                for line in text.splitlines()
                if '"intent"' in line
            }
            synced.append((intents, deleted))
            return
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, jobs=4)
    assert report.ok, report.summary()
    ids = {
        r.path.rstrip("/").rsplit("/", 1)[-1] for r in keyed.log if r.method == "DELETE"
    }
    assert len(ids) == 4
    for asset_id in ids:  # some fsync put its intent on disk before its DELETE
        assert any(
            asset_id in on_disk and asset_id not in gone for on_disk, gone in synced
        )


def _nothing_deleted_for_want_of_a_journal(keyed: FakeArchive, report) -> None:
    assert keyed.count("DELETE") == 0
    assert report.exit_code == 1 and len(report.results) == 2
    assert all(r.status.value == "failed" for r in report.results)
    assert all("journal cannot be written" in r.reason for r in report.results)


def test_a_full_disk_at_the_first_intent_means_no_delete_at_all(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    """A real full file system under the journal: a tmpfs of one page, filled
    before the run, so that the very first write of the journal (its binding
    and the first target's intents, in one write) fails with ENOSPC."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8) for a tiny tmpfs")
    clone = seed(keyed, tmp_path / "clone", files() + files("B"))
    before = tree_state(clone)
    journal_dir = journal_path(clone).parent
    journal_dir.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4k,mode=0700", "tmpfs", str(journal_dir)],
        capture_output=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        (journal_dir / "filler").write_bytes(b"x" * os.statvfs(journal_dir).f_bsize)
        assert os.statvfs(journal_dir).f_bavail == 0  # full: no byte more
        report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, jobs=4)
        left = sorted(p.name for p in journal_dir.iterdir())
    finally:
        subprocess.run(["umount", str(journal_dir)], check=True)
    journal_dir.rmdir()

    _nothing_deleted_for_want_of_a_journal(keyed, report)
    assert tree_state(clone) == before
    assert left == ["filler"]  # an empty journal and the lock file removed


@needs_proc
def test_a_failed_fsync_of_the_first_intents_means_no_delete_at_all(
    keyed: FakeArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An fsync that fails (ENOSPC, EIO) cannot be made real on a tmpfs, whose
    fsync never fails: the failure is simulated, for the journal's file only."""
    clone = seed(keyed, tmp_path / "clone", files() + files("B"))
    # the journal may keep what it wrote before the fsync failed: intents only
    before = tree_state(clone, skip=[".dandi-compute/"])
    real = os.fsync

    def full(fd: int) -> None:
        if _is_journal(fd):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", full)
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, jobs=4)
    monkeypatch.setattr(os, "fsync", real)

    _nothing_deleted_for_want_of_a_journal(keyed, report)
    assert tree_state(clone, skip=[".dandi-compute/"]) == before


@needs_proc
def test_sigterm_while_an_intent_is_being_synced_ends_consistently(
    keyed: FakeArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM arrives during the first fsync of the journal: the run stops as
    for Ctrl-C (143), reports every target truly, and a re-run finishes."""
    import signal

    clone = seed(keyed, tmp_path / "clone", files() + files("B"))
    real_fsync = os.fsync
    sent = []

    def fsync(fd: int) -> None:
        if _is_journal(fd) and not sent:
            sent.append(fd)
            os.kill(os.getpid(), signal.SIGTERM)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, jobs=1)

    assert sent and report.terminated and report.exit_code == 143
    left = set(keyed.paths(DANDISET))
    for result in report.results:
        target = result.target.relpath
        if result.status.value == "deleted":
            assert not (clone / target).exists()
            assert not any(p.startswith(target + "/") for p in left)
        else:
            assert result.status.value == "failed" and "terminated" in result.reason
            assert (clone / target).is_dir() and not result.local_removed
    again = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert again.ok, again.summary()
    assert keyed.paths(DANDISET) == []
    assert not journal_path(clone).exists()


def test_an_intent_after_the_journal_closed_is_an_error_not_a_silent_skip(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    """A lane left running by a second Ctrl-C must not send DELETEs whose
    intents were never written."""
    clone = seed(keyed, tmp_path / "clone", files())
    journal = Journal(clone, api_url=keyed.api_url, dandiset_id=DANDISET, writable=True)
    journal.close()
    asset = PlannedAsset(files()[0], 3, asset_record(files()[0])["identifier"])
    with pytest.raises(OSError, match="closed"):
        journal.record_intents(VDIR, [asset])
    journal.record_deleted(VDIR, asset.asset_id)  # a late answer: ignored
    assert not journal.path.exists()
