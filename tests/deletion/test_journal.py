"""The journal: bound to its archive, dandiset and clone, and checked line by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dandi_compute_plugin.deletion import run_deletion
from dandi_compute_plugin.deletion.journal import Journal, journal_path
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
    assert "-i https://api.other-instance.org/api" in message  # how to go on
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


def test_the_lock_file_is_never_removed(keyed: FakeArchive, tmp_path: Path) -> None:
    clone = seed(keyed, tmp_path / "clone", files())

    def journal() -> Journal:
        return Journal(
            clone, api_url=keyed.api_url, dandiset_id=DANDISET, writable=True
        )

    first = journal()
    lock = Path(str(first.path) + ".lock")
    inode = lock.stat().st_ino
    with pytest.raises(JournalBusyError):
        journal()
    first.record_intents(
        VDIR, [PlannedAsset(files()[0], 3, asset_record(files()[0])["identifier"])]
    )
    first.record_done(VDIR)
    first.close()
    assert not first.path.exists()  # nothing left to finish
    assert lock.stat().st_ino == inode  # the same lock file, for the next run
    second = journal()
    second.close()


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
