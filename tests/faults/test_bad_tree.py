"""Bad trees under delete-version: links, swaps during a run, unreadable directories.

As in ``test_bad_input.py``, every case ends with a clear error or a skip that says
why, and nothing but the intended version directories (and their assets) changes,
checked by hashing the clone, the directories links point to, and the server.
Covered elsewhere and not repeated: a link named like a version directory that
points out of the tree and links inside a target
(``tests/deletion/test_api.py::test_symbolic_links_are_never_followed``), and a
directory swapped for a link before the run starts
(``test_a_directory_swapped_for_a_link_after_the_plan_is_not_removed``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import subprocess
import threading

import pytest

from dandi_compute_plugin.deletion import execute_plan, plan_deletion, run_deletion

from ..archive import FakeArchive
from ..archive.clones import seed, tree_state
from ..archive.fixtures import cli_env
from ..subprocesses import dandi_executable
from ..unprivileged import can_be_locked_out, unprivileged
from .trees import files, vdir


def test_version_directories_that_are_links_into_and_out_of_the_tree(
    keyed: FakeArchive, tmp_path: Path, bad_input, caplog: pytest.LogCaptureFixture
) -> None:
    outside = tmp_path / "outside"
    (outside / "data").mkdir(parents=True)
    (outside / "data" / "precious.nwb").write_bytes(b"not in the clone")
    links = {  # named like directories of v1.1.1, pointing ...
        vdir("Lout"): outside / "data",  # ... out of the tree
        vdir("Lin"): None,  # ... to a directory of another version
        vdir("Ltarget"): None,  # ... to a real directory of the version itself
    }
    # the server has assets below the links' paths too: refused, never deleted
    below_links = [f"{link}/output/a.json" for link in links]
    paths = files("A") + files("B") + files("K", "v1.1.10")
    clone = seed(keyed, tmp_path / "clone", paths, remote_only=below_links)
    links[vdir("Lin")] = clone / vdir("K", "v1.1.10")
    links[vdir("Ltarget")] = clone / vdir("A")
    for link, to in links.items():
        (clone / link).parent.mkdir(parents=True)
        (clone / link).symlink_to(to, target_is_directory=True)
    snap = bad_input.snapshot(keyed, clone, outside)
    with caplog.at_level("WARNING", logger="dandi.compute"):
        report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert sorted((r.target.relpath, r.status.value) for r in report.results) == sorted(
        [(vdir("A"), "deleted"), (vdir("B"), "deleted")]
        + [(link, "refused") for link in links]
    )
    for result in report.results:
        if result.status.value == "refused":
            assert "symbolic link" in (result.reason or "")
            assert result.deleted_assets == 0 and len(result.target.assets) == 1
    assert report.exit_code == 1
    for link in links:
        assert f"Not following the symbolic link {clone / link}" in caplog.text
    snap.assert_only_removed([vdir("A"), vdir("B")])  # the links stay, dangling or not
    assert all((clone / link).is_symlink() for link in links)
    bad_input.ended("links skipped with a warning and refused; real dirs deleted")


SWAPS = ["link-out-of-the-tree", "link-into-the-tree", "parent-link"]


@pytest.mark.parametrize("swap", SWAPS)
def test_a_directory_swapped_for_a_link_during_the_run(
    keyed: FakeArchive, tmp_path: Path, bad_input, swap: str
) -> None:
    """The swap happens after the remote deletions, while the server holds the
    final check that precedes the local removal: the removal must notice it."""
    clone = seed(keyed, tmp_path / "clone", files("A") + files("K", "v1.1.10"))
    outside = tmp_path / "outside"
    outside.mkdir()
    target = clone / vdir("A")
    content = tree_state(target)
    check = keyed.fail(
        "GET",
        r"/assets/$",
        query=re.escape(f"path={vdir('A')}/"),
        after=0,  # the plan lists the whole version at once: this is the check
        times=1,
        hold=99,
        hold_timeout=60,
    )
    plan = plan_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    reports = []
    runner = threading.Thread(target=lambda: reports.append(execute_plan(plan)))
    runner.start()
    try:
        assert keyed.accounting.wait_for(lambda: check.hits == 1, 60)
        if swap == "parent-link":
            moved, link = outside / "sub-A", clone / vdir("A").split("/pipeline-")[0]
        elif swap == "link-into-the-tree":
            moved, link = clone / vdir("K", "v1.1.10") / "moved-here", target
        else:
            moved, link = outside / "moved", target
        link.rename(moved)
        link.symlink_to(moved, target_is_directory=True)
        snap = bad_input.snapshot(keyed, clone, outside)  # after the test's swap
    finally:
        keyed.accounting.release()
        runner.join(60)
    [result] = reports[0].results
    assert result.status.value == "failed"
    assert "symbolic link" in result.reason and "local removal failed" in result.reason
    assert tree_state(clone / vdir("A")) == content  # through the link: all there
    snap.assert_only_removed()
    # a re-run does not follow the link either; the journal keeps the target
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert report.results == [] and report.ok
    snap.assert_only_removed()
    assert (clone / ".dandi-compute" / "delete-journal.jsonl").exists()
    bad_input.ended("target failed: 'symbolic link: not removed', exit 1")


def test_a_file_rewritten_during_the_run_stays(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    """Same path, same size, new content, after the plan: the remote copy is
    being deleted, so the local file is the only one left -- it stays, and so
    does its directory; what the plan vetted goes."""
    clone = seed(keyed, tmp_path / "clone", files("A") + files("K", "v1.1.10"))
    plan = plan_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    rewritten = clone / files("A")[1]
    data = rewritten.read_bytes()
    rewritten.write_bytes(data.upper())
    st = rewritten.stat()
    os.utime(rewritten, ns=(st.st_atime_ns, st.st_mtime_ns + 10**10))
    snap = bad_input.snapshot(keyed, clone)
    [result] = execute_plan(plan).results
    assert result.status.value == "failed" and result.deleted_assets == 3
    assert f"{files('A')[1]} (changed since the plan)" in result.reason
    # gone remotely, as asked; locally only the vetted files went
    run_sh, _, b_json = files("A")  # code/ held only code/run.sh: it went too
    snap.assert_only_removed(
        [run_sh.rsplit("/", 1)[0], b_json], remote_removed=[vdir("A")]
    )
    assert rewritten.read_bytes() == data.upper()
    bad_input.ended("target failed: the rewritten file stays, exit 1")


@pytest.mark.parametrize("where", ["inside-a-version-directory", "above-one"])
def test_an_unreadable_directory(
    keyed: FakeArchive, tmp_path: Path, bad_input, where: str
) -> None:
    paths = files("A") + files("B") + files("C", ds="000002")
    clone = seed(keyed, tmp_path / "clone", paths)
    if where == "above-one":
        locked, expected = clone / "derivatives/dandiset-000002", [vdir("A"), vdir("B")]
    else:
        locked, expected = (
            (clone / files("B")[1]).parent,
            [vdir("A"), vdir("C", ds="000002")],
        )
    snap = bad_input.snapshot(keyed, clone)
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
    records = {r["path"]: r for r in json.loads(proc.stdout)}
    assert sorted(p for p, r in records.items() if r["status"] == "deleted") == expected
    rel = locked.relative_to(clone).as_posix()
    if where == "above-one":  # the summary says why the run failed
        assert len(records) == 3
        # the archive has the directory below: refused, its content unknown
        hidden = records[vdir("C", ds="000002")]
        assert hidden["status"] == "refused" and hidden["deleted_assets"] == 0
        assert "below a directory it cannot read" in hidden["reason"]
        assert "1 directories could not be read" in proc.stderr
        assert f"{rel}: Permission denied" in proc.stderr
    else:
        failed = records[vdir("B")]
        assert failed["status"] == "failed" and failed["deleted_assets"] == 0
        assert "cannot read the local directory: Permission denied" in failed["reason"]
    snap.assert_only_removed(expected)
    bad_input.ended(
        f"exit 1: {'scan error named' if where == 'above-one' else 'target failed'}"
    )
