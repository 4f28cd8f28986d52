"""The journal's files are opened without trusting what is at their names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dandi_compute_plugin.deletion import run_deletion
from dandi_compute_plugin.deletion.journal import journal_path
from dandi_compute_plugin.errors import JournalError

from ..archive import FakeArchive
from ..archive.clones import DANDISET, seed, tree_state
from .test_journal import files, intent, write_journal

needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root"
)


def plant(clone: Path, name: str, how: str, elsewhere: Path) -> Path:
    """Put something that is not a file of the user's at ``name``."""
    folder = clone / ".dandi-compute"
    folder.mkdir(exist_ok=True)
    path = folder / name
    if how == "dangling link":
        path.symlink_to(elsewhere)
    elif how == "link to a file":
        elsewhere.write_text("")
        path.symlink_to(elsewhere)
    elif how == "hard link":
        elsewhere.write_text("")
        os.link(elsewhere, path)
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "directory":
        path.mkdir()
    elif how == "another user's":
        path.write_text("")
        os.chown(path, 12345, 12345)
    return path


def identity(path: Path) -> tuple[int, ...]:
    """What ``path`` is, without its access time (reading a link may touch it)."""
    st = os.lstat(path)
    return (
        st.st_mode,
        st.st_ino,
        st.st_dev,
        st.st_nlink,
        st.st_uid,
        st.st_gid,
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
    )


HOW = [
    "dangling link",
    "link to a file",
    "hard link",
    "fifo",
    "directory",
    pytest.param("another user's", marks=needs_root),
]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("name", ["delete-journal.jsonl", "delete-journal.jsonl.lock"])
def test_a_journal_or_lock_that_is_not_the_users_file_stops_the_run(
    keyed: FakeArchive, tmp_path: Path, name: str, how: str
) -> None:
    clone = seed(keyed, tmp_path / "clone", files())
    elsewhere = tmp_path / "elsewhere"
    path = plant(clone, name, how, elsewhere)
    before = tree_state(clone, skip=[".dandi-compute/"]), identity(path)

    with pytest.raises(JournalError) as info:
        run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)

    assert str(path) in str(info.value)  # named
    after = tree_state(clone, skip=[".dandi-compute/"]), identity(path)
    assert keyed.count("DELETE") == 0 and after == before
    if how != "dangling link" and elsewhere.exists():
        assert elsewhere.read_text() == ""  # nothing written through it
    else:
        assert not elsewhere.exists()  # nothing created through it


@pytest.mark.parametrize("how", ["dangling link", "link to a directory", "file"])
def test_the_journal_directory_must_be_a_real_directory(
    keyed: FakeArchive, tmp_path: Path, how: str
) -> None:
    clone = seed(keyed, tmp_path / "clone", files())
    folder = clone / ".dandi-compute"
    elsewhere = tmp_path / "elsewhere"
    if how == "file":
        folder.write_text("")
    else:
        if how == "link to a directory":
            elsewhere.mkdir()
        folder.symlink_to(elsewhere)
    before = tree_state(clone)

    for dry_run in (True, False):
        with pytest.raises(JournalError, match=str(folder)):
            run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, dry_run=dry_run)
    assert keyed.count("DELETE") == 0 and tree_state(clone) == before
    assert not elsewhere.exists() or not any(elsewhere.iterdir())


def test_a_journal_read_by_a_dry_run_through_a_link_is_refused(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    """A link to a valid journal elsewhere: its intents would count as uploads."""
    clone = seed(keyed, tmp_path / "clone", files())
    real = write_journal(clone, keyed.api_url, [intent(files()[0])])
    moved = tmp_path / "journal-elsewhere.jsonl"
    real.rename(moved)
    journal_path(clone).symlink_to(moved)
    with pytest.raises(JournalError, match="not openable safely"):
        run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, dry_run=True)


def test_a_run_leaves_no_lock_file(keyed: FakeArchive, tmp_path: Path) -> None:
    clone = seed(keyed, tmp_path / "clone", files())
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert report.ok
    assert list((clone / ".dandi-compute").iterdir()) == []


@pytest.mark.parametrize("how", ["dangling link", "link to a file", "fifo"])
def test_a_link_planted_at_the_compaction_file_is_not_written_through(
    keyed: FakeArchive, tmp_path: Path, how: str
) -> None:
    """A run that keeps one unfinished target rewrites the journal through a
    temporary file next to it: something planted there is replaced, not used."""
    paths = files() + files("B")
    clone = seed(keyed, tmp_path / "clone", paths)
    keyed.fail("DELETE", keyed.asset_ids(DANDISET)[files("B")[0]], status=403)
    elsewhere = tmp_path / "elsewhere"
    plant(clone, "delete-journal.jsonl.tmp", how, elsewhere)

    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)

    assert sorted(r.status.value for r in report.results) == ["deleted", "failed"]
    assert not elsewhere.exists() or elsewhere.read_text() == ""
    journal = journal_path(clone)
    assert journal.is_file() and not journal.is_symlink()
    assert '"done"' not in journal.read_text()  # compacted: the failed one only
