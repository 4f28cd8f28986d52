"""SIGKILL the real ``dandi compute delete-version`` at exact points; a re-run finishes.

Each scenario starts the real command (dandi's own client, a subprocess) against
the fake archive, kills it with SIGKILL at one precise point, checks that nothing
outside the version's directories changed and that no local directory went before
its remote assets, then runs the command again and checks that it converged: every
asset of the version gone from the draft, every version directory gone from the
clone, no journal left, and the rest of the clone and of the server (draft and
published) unchanged, by hash.

How the points are reached, without timing anything and without a hook in the
product:

- *after k remote deletions*: with ``-J 1`` the deletions are sequential; the
  server holds the (k+1)-th DELETE (a fault with ``after=k``) and the test kills
  the command once that request is in the server's hands;
- *after every remote deletion, before the check that precedes the local removal*:
  the server holds the last target's second listing (the first one is the plan's);
- *at the start of, in the middle of, or at the very end of a local removal*: a
  PEP 578 audit hook in the subprocess (``tests/faults/site/sitecustomize.py``, on
  its ``PYTHONPATH``) stops the thread that runs the removal when it opens the
  version directory, or just before a given ``os.remove``/``os.rmdir`` of a given
  removal, and writes where it stopped; the test then kills the process.  The
  interpreter raises these events itself, before each operation, so the point is
  exact.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
import uuid

import pytest

from ..archive.clones import DANDISET
from ..records import asset_record
from .common import World

pytestmark = pytest.mark.timeout(300)

N_DIRS, FILES = 3, 8
TOTAL = N_DIRS * FILES


def assert_no_local_before_remote(w: World) -> None:
    """A target is gone locally only if all of its assets are gone remotely."""
    left = w.remote_left()
    for target in w.targets:
        if not (w.clone / target).exists():
            assert not [p for p in left if p.startswith(target + "/")], target


@pytest.mark.parametrize(
    "k", [0, 1, TOTAL // 2, TOTAL - 1], ids=["k0", "k1", "midway", "all-but-last"]
)
def test_sigkill_after_k_remote_deletions(world, k: int) -> None:
    w = world(N_DIRS, FILES)
    held = w.archive.fail(
        "DELETE", after=k, times=1, hold=99, hold_timeout=120, drop=True
    )
    proc = w.start("-J", "1")
    w.kill_when(proc, lambda: held.hits == 1, f"DELETE #{k + 1}")
    assert w.deletions() == k
    assert len(w.remote_left()) == TOTAL - k
    # sequential: each target whose assets are all gone was removed locally
    for i, target in enumerate(w.targets):
        if k >= FILES * (i + 1):
            assert not (w.clone / target).exists()
        else:
            w.assert_left_intact(target)
    w.assert_nothing_else_changed()
    assert w.journal_exists()  # the intents were written before the first DELETE
    w.rerun_converges(TOTAL - k)


def test_sigkill_with_requests_in_flight_that_the_server_completes(world) -> None:
    """``-J 4``: four DELETEs in flight when the command dies; the server
    carries them out anyway (the client never hears of it)."""
    w = world(N_DIRS, FILES)
    held = w.archive.fail("DELETE", after=5, hold=99, hold_timeout=120)
    proc = w.start("-J", "4")
    w.kill_when(proc, lambda: held.hits == 4, "four DELETEs in flight")
    assert w.deletions() == 5
    w.archive.accounting.release()  # the held ones are now served
    assert w.archive.accounting.wait_for(lambda: w.deletions() == 9)
    assert_no_local_before_remote(w)
    w.assert_nothing_else_changed()
    w.rerun_converges(TOTAL - 9)


def test_sigkill_after_every_remote_deletion_before_the_final_check(world) -> None:
    w = world(N_DIRS, FILES)
    last = w.targets[-1]
    # the last target's own listing: the check before its removal (the plan
    # lists the whole version at once)
    check = w.archive.fail(
        "GET",
        r"/assets/$",
        query=re.escape(f"path={last}/") + "(&|$)",
        after=0,
        times=1,
        hold=99,
        hold_timeout=120,
        drop=True,
    )
    proc = w.start("-J", "1")
    w.kill_when(proc, lambda: check.hits == 1, "the check of the last target")
    assert w.remote_left() == [] and w.deletions() == TOTAL
    assert [t for t in w.targets if (w.clone / t).exists()] == [last]
    w.assert_left_intact(last)
    w.assert_nothing_else_changed()
    w.rerun_converges(0)


# (event, n-th such event of the last removal, what is left of the last target)
LOCAL_POINTS = {
    "before-local-removal": ("removal", 1, FILES),
    "mid-local-removal": ("os.remove", FILES // 2, FILES - FILES // 2 + 1),
    "before-last-rmdir": ("os.rmdir", 3, 0),
}


def kill_in_last_removal(w: World, event: str, nth: int, *args: str) -> str:
    """Run with ``-J 1``; SIGKILL just before the ``nth`` audit event ``event``
    of the last target's local removal.  Returns the last target."""
    last = w.targets[-1]
    blocked = w.home / "blocked"
    proc = w.start(
        "-J",
        "1",
        *args,
        FAULTS_BLOCK=f"{event}:{N_DIRS}:{nth}",
        FAULTS_BLOCKED_FILE=str(blocked),
    )
    w.kill_when(proc, blocked.exists, f"{event} #{nth} of the last removal")
    w.archive.accounting.release()
    tree, stopped_at = blocked.read_text().splitlines()
    assert tree == last.rsplit("/", 1)[-1]  # the N_DIRS-th removal: -J 1 keeps order
    assert stopped_at.startswith(event)
    return last


@pytest.mark.parametrize("point", list(LOCAL_POINTS))
def test_sigkill_during_the_local_removal(world, point: str) -> None:
    w = world(N_DIRS, FILES)
    event, nth, files_left = LOCAL_POINTS[point]
    last = kill_in_last_removal(w, event, nth)
    assert w.remote_left() == [] and w.deletions() == TOTAL
    assert [t for t in w.targets if (w.clone / t).exists()] == [last]
    files = [p for p in (w.clone / last).rglob("*") if p.is_file()]
    assert len(files) == files_left
    if point == "before-last-rmdir":  # stopped before removing the empty directory
        assert [p.name for p in (w.clone / last).iterdir()] == []
    w.assert_nothing_else_changed()
    assert w.journal_exists()
    w.rerun_converges(0)


def test_killed_after_the_local_removal_before_the_journal_is_finished(
    world,
) -> None:
    """The window between the end of the local removal and the journal's
    ``done`` record raises no audit event to stop at: the process is stopped just
    before the last ``rmdir`` and killed, and the test performs that ``rmdir``
    itself -- exactly the state a kill in that window leaves.  The directory is no
    longer found by the scan; the re-run finishes the journaled target (nothing
    left to delete) instead of leaving the journal behind for ever."""
    w = world(N_DIRS, FILES)
    last = kill_in_last_removal(w, "os.rmdir", 3)
    (w.clone / last).rmdir()
    assert w.journal_exists()
    result = w.run()
    assert result.code == 0, result.stderr
    assert [(r["path"], r["status"]) for r in result.records] == [
        (last, "nothing-to-do")
    ]
    w.assert_converged()


def test_new_files_in_a_recreated_directory_are_not_vouched_for_by_the_journal(
    world,
) -> None:
    """After a kill in the middle of a local removal the journal says which
    assets were deleted remotely, so that the local copies left do not count as
    un-uploaded.  It vouches for those very files only: a file rewritten since
    (same path, same size, new content) is un-uploaded data, and the re-run
    refuses the directory until it is uploaded."""
    w = world(N_DIRS, FILES)
    last = kill_in_last_removal(w, "os.remove", 2)
    kept = sorted(p for p in (w.clone / last).rglob("*") if p.is_file())
    assert len(kept) == FILES - 1
    rewritten = kept[-1]
    old = rewritten.read_bytes()
    new = bytes(reversed(old))  # new results, same size
    assert new != old
    rewritten.write_bytes(new)
    st = rewritten.stat()
    os.utime(rewritten, ns=(st.st_atime_ns, st.st_mtime_ns + 10**10))
    rel = rewritten.relative_to(w.clone).as_posix()

    refused = w.run()
    assert refused.code == 1, refused.stderr
    [rec] = refused.records
    assert (rec["path"], rec["status"]) == (last, "refused")
    assert rec["unuploaded"] == [rel] and rec["unuploaded_count"] == 1
    assert rewritten.read_bytes() == new  # kept, with every other file
    assert len([p for p in (w.clone / last).rglob("*") if p.is_file()]) == FILES - 1

    # uploaded (the server has it again): the run finishes
    w.archive.add_assets(DANDISET, [asset_record(rel, content=new)])
    w.rerun_converges(1)


ZARR_CHUNKS = {f"0/{i}": bytes([65 + i]) * (100 + i) for i in range(6)}
ZARR_CHUNKS[".zattrs"] = b"{}"
UPLOADED: dict[str, dict] = {}


def zarr_in_last_target(w: World) -> str:
    """Put a Zarr (on the archive with the clone's checksum) into the last
    target, and take the world's snapshot again; the Zarr's record is kept in
    ``UPLOADED``."""
    from ..archive.clones import tree_state
    from .test_local_rules import add_zarr

    zarr = w.targets[-1] + "/output/image.ome.zarr"
    add_zarr(w.archive, w.clone, zarr, ZARR_CHUNKS)
    UPLOADED[zarr] = w.archive.assets(DANDISET)[zarr]["metadata"]
    w.tree, w.draft = tree_state(w.clone), w.archive.paths(DANDISET)
    return zarr


def zarr_files_left(w: World, zarr: str) -> list[Path]:
    return sorted(p for p in (w.clone / zarr).rglob("*") if p.is_file())


@pytest.mark.parametrize("nth", [FILES + 2, FILES + 6])
def test_sigkill_in_the_middle_of_a_zarrs_removal(world, nth: int) -> None:
    """The kill leaves a Zarr half removed, its asset deleted: the journal
    vouches for the files it saw covered by the matching checksum, so the
    re-run finishes it without --include-unuploaded."""
    w = world(N_DIRS, FILES)
    zarr = zarr_in_last_target(w)
    kill_in_last_removal(w, "os.remove", nth)
    left = zarr_files_left(w, zarr)
    assert 0 < len(left) < len(ZARR_CHUNKS), left  # really half removed
    assert w.remote_left() == []
    w.rerun_converges(0)


@pytest.mark.parametrize("change", ["rewritten", "added", "uploaded-again"])
def test_a_zarr_file_changed_after_the_kill_is_not_vouched_for(
    world, change: str
) -> None:
    w = world(N_DIRS, FILES)
    zarr = zarr_in_last_target(w)
    kill_in_last_removal(w, "os.remove", FILES + 3)
    left = zarr_files_left(w, zarr)
    assert 0 < len(left) < len(ZARR_CHUNKS), left
    if change == "rewritten":  # other bytes, mtime put back
        rewritten = left[-1]
        st = rewritten.stat()
        rewritten.write_bytes(bytes(reversed(rewritten.read_bytes())) + b"!")
        os.utime(rewritten, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif change == "added":  # a new chunk, written since
        (w.clone / zarr / "0" / "9").write_bytes(b"new results")
        left = zarr_files_left(w, zarr)
    else:  # a colleague's whole copy on the archive again: not what is here
        again = {**UPLOADED[zarr], "identifier": str(uuid.uuid4())}
        w.archive.add_assets(DANDISET, [again])

    refused = w.run()

    assert refused.code == 1, refused.stderr
    [rec] = refused.records
    assert (rec["path"], rec["status"]) == (w.targets[-1], "refused")
    assert rec["unuploaded"] == [zarr]
    assert zarr_files_left(w, zarr) == left  # nothing of it touched
    assert (zarr in w.archive.paths(DANDISET)) == (change == "uploaded-again")


@pytest.mark.parametrize("how", ["--include-unuploaded", "--verify=size"])
def test_a_zarr_never_matched_is_not_vouched_for_after_the_kill(
    world, how: str
) -> None:
    """The killed run deleted a Zarr whose checksum was not compared with the
    archive's (``--verify size``) or differed (``--include-unuploaded``): the
    journal records none of its files, so a re-run without those options
    refuses what is left of it."""
    w = world(N_DIRS, FILES)
    zarr = zarr_in_last_target(w)
    if how == "--include-unuploaded":  # a chunk written after the upload
        (w.clone / zarr / "0" / "0").write_bytes(b"written after the upload")
        from ..archive.clones import tree_state

        w.tree = tree_state(w.clone)
    kill_in_last_removal(w, "os.remove", FILES + 3, how)
    left = zarr_files_left(w, zarr)
    assert 0 < len(left) < len(ZARR_CHUNKS), left

    refused = w.run()

    assert refused.code == 1, refused.stderr
    [rec] = refused.records
    assert (rec["path"], rec["status"]) == (w.targets[-1], "refused")
    assert rec["unuploaded"] == [zarr]
    assert zarr_files_left(w, zarr) == left
