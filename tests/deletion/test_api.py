"""The deletion library through its Python API, against the fake archive.

dandi's client is real and unpatched; the clone is a real directory tree.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
import shutil

from click.testing import CliRunner
from dandi.cli.command import main
import pytest
import ruamel.yaml

from dandi_compute_plugin import delete_dandiset_version, hookimpl
from dandi_compute_plugin.deletion import (
    TargetStatus,
    execute_plan,
    plan_deletion,
    run_deletion,
)
from dandi_compute_plugin.deletion.journal import Journal
from dandi_compute_plugin.errors import (
    ArchiveError,
    DeletionIncomplete,
    JournalBusyError,
)

from ..archive import FakeArchive
from ..archive.clones import (
    DANDISET,
    after_removal,
    many_versions,
    seed,
    tree_state,
    under,
)
from ..archive.fixtures import NULL_KEYRING
from ..records import asset_record, version_files
from ..subprocesses import run_dandi, subprocess_env

VERSION_DIR = "derivatives/dandiset-{ds}/sub-{sub}/pipeline-aind+ephys/version-v1.1.1"


def vdir(ds: str = "000001", sub: str = "A") -> str:
    return VERSION_DIR.format(ds=ds, sub=sub)


def files(ds: str = "000001", sub: str = "A", n: int = 3) -> list[str]:
    names = [f"output/f{i:02d}.json" for i in range(n)]
    return version_files(ds, sub, "v1.1.1", names=names)


def statuses(report) -> dict[str, str]:
    return {r.target.relpath: r.status.value for r in report.results}


def test_the_dandi_compute_code_call_returns_the_sorted_deleted_directories(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    paths = many_versions(4, 3)
    clone = seed(keyed, tmp_path / "clone", paths)
    expected = sorted({clone / p.split("/params-")[0] for p in paths if "v1.1.1/" in p})
    deleted = delete_dandiset_version(clone, "v1.1.1", dandi_instance=keyed.url)
    assert deleted == expected and len(deleted) == 4
    assert not any(p.exists() for p in deleted)
    assert keyed.paths(DANDISET) == sorted(p for p in paths if "v1.1.1/" not in p)


def test_unuploaded_files_refuse_their_target_before_anything_is_touched(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    a, b, c, d, e = (files(sub=s) for s in "ABCDE")
    clone = seed(
        keyed,
        tmp_path / "clone",
        a + b + c + d + e,
        local_only=[f"{vdir(sub='A')}/new-{i:02d}.txt" for i in range(12)],
        local_sizes={b[0]: 5},
    )
    # C: a git-annex link whose content is absent, and not on the server
    (clone / vdir(sub="C") / "absent.nwb").symlink_to("../.git/annex/objects/xx")
    # D: content absent, but on the server: compared by path only, fine
    os.unlink(clone / d[0])
    os.symlink("../../.git/annex/objects/yy", clone / d[0])
    before = tree_state(clone)
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert statuses(report) == {
        vdir(sub="A"): "refused",
        vdir(sub="B"): "refused",
        vdir(sub="C"): "refused",
        vdir(sub="D"): "deleted",
        vdir(sub="E"): "deleted",
    }
    reason = {r.target.relpath: r.reason for r in report.results}
    assert reason[vdir(sub="A")].startswith("12 local file(s) not on the server")
    assert reason[vdir(sub="A")].count("(not on the server)") == 10
    assert "and 2 more" in reason[vdir(sub="A")]
    assert f"{b[0]} (5 bytes here, " in reason[vdir(sub="B")]
    assert "absent.nwb (not on the server)" in reason[vdir(sub="C")]
    assert report.exit_code == 1
    # refused targets: untouched on both sides
    for sub in "ABC":
        assert under(keyed.paths(DANDISET), vdir(sub=sub)) == sorted(files(sub=sub))
    assert tree_state(clone) == after_removal(before, [vdir(sub="D"), vdir(sub="E")])
    ids = {keyed.asset_ids(DANDISET).get(p) for p in a + b + c}
    assert not any(
        r.path.rstrip("/").rsplit("/", 1)[-1] in ids
        for r in keyed.log
        if r.method == "DELETE"
    )

    report = run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, include_unuploaded=True
    )
    assert set(statuses(report).values()) == {"deleted"}
    assert not (
        clone
        / "derivatives"
        / "dandiset-000001"
        / "sub-A"
        / "pipeline-aind+ephys"
        / "version-v1.1.1"
    ).exists()


def test_a_version_with_nothing_on_the_server(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(keyed, tmp_path / "clone", files(sub="A"), local_only=files(sub="B"))
    (clone / vdir(sub="C")).mkdir(parents=True)  # empty, and nothing remote
    with pytest.raises(DeletionIncomplete) as info:
        delete_dandiset_version(clone, "v1.1.1", dandi_instance=keyed.url)
    assert statuses(info.value.report) == {
        vdir(sub="A"): "deleted",
        vdir(sub="B"): "refused",
        vdir(sub="C"): "deleted",
    }
    assert (clone / vdir(sub="B")).is_dir()
    report = run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, include_unuploaded=True
    )
    [result] = report.results
    assert (result.status, result.deleted_assets, result.local_removed) == (
        TargetStatus.DELETED,
        0,
        True,
    )
    assert keyed.count("DELETE") == 3  # only A's


def test_symbolic_links_are_never_followed(keyed: FakeArchive, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "dir" / "precious.dat").write_bytes(b"precious")
    a = files(sub="A")
    clone = seed(keyed, tmp_path / "clone", a + files(sub="B"))
    # a link named like a version directory: not a target
    link_parent = clone / vdir(sub="L")
    link_parent.parent.mkdir(parents=True)
    link_parent.symlink_to(outside / "dir", target_is_directory=True)
    # inside a target: a link to a directory outside, and one to a file outside
    (clone / vdir(sub="A") / "elsewhere").symlink_to(outside / "dir")
    real = clone / a[0]
    (outside / "same.json").write_bytes(real.read_bytes())
    real.unlink()
    real.symlink_to(outside / "same.json")
    outside_before = tree_state(outside)
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert statuses(report) == {vdir(sub="A"): "deleted", vdir(sub="B"): "deleted"}
    assert tree_state(outside) == outside_before
    assert link_parent.is_symlink()


def test_a_directory_swapped_for_a_link_after_the_plan_is_not_removed(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    clone = seed(keyed, tmp_path / "clone", files(sub="A"))
    plan = plan_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    target = clone / vdir(sub="A")
    target.rename(outside / "moved")
    target.symlink_to(outside / "moved", target_is_directory=True)
    before = tree_state(outside)
    report = execute_plan(plan)
    [result] = report.results
    assert result.status is TargetStatus.FAILED
    assert "symbolic link" in result.reason
    assert tree_state(outside) == before and target.is_symlink()


@pytest.mark.parametrize("jobs", [1, 4])
def test_remote_deletions_run_up_to_jobs_at_once(
    keyed: FakeArchive, tmp_path: Path, jobs: int
) -> None:
    clone = seed(keyed, tmp_path / "clone", files(sub="A", n=12) + files(sub="B", n=12))
    # the first `jobs` deletions wait for each other: they must all be in flight
    held = keyed.fail("DELETE", hold=jobs, times=jobs)
    keyed.fail("DELETE", delay=0.01)
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, jobs=jobs)
    assert report.ok and held.hits == jobs
    assert keyed.peak("DELETE") == jobs
    assert keyed.count("DELETE") == 24


def test_retries_dropped_connections_and_assets_already_gone(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    a = files(sub="A", n=4)
    clone = seed(keyed, tmp_path / "clone", a)
    ids = keyed.asset_ids(DANDISET)
    keyed.fail("DELETE", ids[a[0]], status=503, times=1)  # dandi retries
    keyed.fail("DELETE", ids[a[1]], drop=True, times=1)  # and reconnects
    plan = plan_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert keyed.delete_asset(DANDISET, "draft", ids[a[2]]) == 204  # someone else
    report = execute_plan(plan)
    [result] = report.results
    assert result.status is TargetStatus.DELETED and result.deleted_assets == 4
    assert keyed.count("DELETE", ids[a[0]]) == 2
    assert keyed.count("DELETE", ids[a[1]]) == 2
    assert [
        r.status for r in keyed.log if r.method == "DELETE" and ids[a[2]] in r.path
    ] == [404]
    assert keyed.paths(DANDISET) == []


def test_listing_follows_pagination(keyed: FakeArchive, tmp_path: Path) -> None:
    clone = seed(keyed, tmp_path / "clone", files(sub="A", n=250))
    keyed.max_page_size = 100  # the listing asks for 1000 a page: it gets 100
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, jobs=8)
    assert [r.deleted_assets for r in report.results] == [250]
    pages = [
        r.query for r in keyed.log if r.path.endswith("/assets/") and "page=" in r.query
    ]
    assert len(pages) >= 2 and all("page_size=1000" in q for q in pages)
    assert keyed.paths(DANDISET) == []


def test_the_servers_case_insensitive_prefix_does_not_widen_a_target(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    a = files(sub="A")
    other = vdir(sub="A").replace("version-v1.1.1", "VERSION-V1.1.1") + "/x.json"
    clone = seed(keyed, tmp_path / "clone", a, remote_only=[other])
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert report.ok
    assert keyed.paths(DANDISET) == [other]


def test_changes_between_plan_and_removal_stay(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(keyed, tmp_path / "clone", files(sub="A") + files(sub="B"))
    plan = plan_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    before_a = tree_state(clone / vdir(sub="A"))
    late_upload = vdir(sub="A") + "/late.json"
    keyed.add_assets(DANDISET, [asset_record(late_upload)])
    (clone / vdir(sub="B") / "late.log").write_text("written after the plan")
    report = execute_plan(plan)
    result = {r.target.relpath: r for r in report.results}
    assert result[vdir(sub="A")].status is TargetStatus.FAILED
    assert "still below it on the server" in result[vdir(sub="A")].reason
    assert result[vdir(sub="B")].status is TargetStatus.FAILED
    assert "1 local entries the plan did not vet stay" in result[vdir(sub="B")].reason
    assert "late.log (not in the plan)" in result[vdir(sub="B")].reason
    # A: not removed at all; B: only what the plan vetted went
    assert tree_state(clone / vdir(sub="A")) == before_a
    assert tree_state(clone / vdir(sub="B")) == {
        "late.log": tree_state(clone / vdir(sub="B"))["late.log"]
    }
    assert (clone / vdir(sub="B") / "late.log").read_text() == "written after the plan"
    assert keyed.paths(DANDISET) == [late_upload]
    # the journal keeps B: a re-run compares what stays and refuses the new file
    rerun = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert statuses(rerun)[vdir(sub="B")] == "refused"
    assert "late.log (not on the server)" in rerun.results[1].reason


class Policy:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    @hookimpl
    def dandi_compute_veto_deletion(self, target):
        if "sub-V" in target.relpath:
            return "protected by policy"
        if "sub-X" in target.relpath:
            raise RuntimeError("policy store unreachable")
        return None

    @hookimpl
    def dandi_compute_before_target(self, target):
        if "sub-Y" in target.relpath:
            raise RuntimeError("archiving the logs failed")
        self.events.append(("before", target.relpath))

    @hookimpl
    def dandi_compute_after_target(self, target, result):
        self.events.append(("after", result.status.value))
        raise RuntimeError("audit sink down")

    @hookimpl
    def dandi_compute_run_finished(self, report):
        self.events.append(("end", report.summary()))


def test_hooks_veto_and_fail_closed(
    keyed: FakeArchive, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths = files(sub="A") + files(sub="V") + files(sub="X") + files(sub="Y")
    clone = seed(keyed, tmp_path / "clone", paths)
    policy = Policy()
    with caplog.at_level(logging.ERROR, logger="dandi.compute"):
        report = run_deletion(
            clone, "v1.1.1", dandi_instance=keyed.url, plugins=[policy]
        )
    assert statuses(report) == {
        vdir(sub="A"): "deleted",
        vdir(sub="V"): "refused",
        vdir(sub="X"): "refused",
        vdir(sub="Y"): "refused",
    }
    reason = {r.target.relpath: r.reason for r in report.results}
    assert reason[vdir(sub="V")] == "vetoed by plugin 'Policy': protected by policy"
    assert "policy store unreachable" in reason[vdir(sub="X")]
    assert "archiving the logs failed" in reason[vdir(sub="Y")]
    assert keyed.paths(DANDISET) == sorted(
        files(sub="V") + files(sub="X") + files(sub="Y")
    )
    assert policy.events[0] == ("before", vdir(sub="A"))
    assert ("after", "deleted") in policy.events and policy.events[-1][0] == "end"
    assert "audit sink down" in caplog.text


def test_a_second_run_on_the_same_clone_is_refused(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(keyed, tmp_path / "clone", files(sub="A"))
    holder = Journal(clone, api_url=keyed.api_url, dandiset_id=DANDISET, writable=True)
    try:
        with pytest.raises(JournalBusyError):
            run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    finally:
        holder.close()
    assert keyed.count("DELETE") == 0 and (clone / vdir(sub="A")).is_dir()
    assert not (clone / ".dandi-compute" / "delete-journal.jsonl").exists()


def test_a_dandiset_missing_on_the_server_is_an_error(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(keyed, tmp_path / "clone", files(sub="A"))
    (clone / "dandiset.yaml").write_text("identifier: DANDI:000999\n")
    before = tree_state(clone)
    with pytest.raises(ArchiveError, match="000999 does not exist"):
        run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert tree_state(clone) == before and keyed.count("DELETE") == 0


def test_no_version_directory_anywhere_is_one_listing_and_nothing_to_do(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(keyed, tmp_path / "clone", files(sub="A"))
    for dry_run in (True, False):
        before = keyed.count("GET", "/assets/$")
        report = run_deletion(clone, "v9", dandi_instance=keyed.url, dry_run=dry_run)
        assert report.results == [] and report.exit_code == 0
        assert report.summary() == "No directory of version v9: nothing to do"
        assert keyed.count("GET", "/assets/$") == before + 1
    assert keyed.count("DELETE") == 0


def test_a_target_gone_before_its_turn_is_nothing_to_do(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(keyed, tmp_path / "clone", [], local_only=files(sub="A"))
    plan = plan_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, include_unuploaded=True
    )
    shutil.rmtree(clone / vdir(sub="A"))
    report = execute_plan(plan)
    assert [(r.status, r.reason) for r in report.results] == [
        (TargetStatus.NOTHING_TO_DO, "already gone")
    ]
    assert report.exit_code == 0 and report.deleted == []


@pytest.mark.parametrize(
    "fmt", ["auto", "json", "json_pp", "json_lines", "yaml", "pyout"]
)
def test_the_report_in_every_format(
    archive: FakeArchive, tmp_path: Path, fmt: str
) -> None:
    clone = seed(archive, tmp_path / "clone", files(sub="A"), local_only=files(sub="B"))
    args = ["compute", "delete-version", str(clone), "v1.1.1", "-i", archive.url,
            "--dry-run", "-f", fmt]  # fmt: skip
    if fmt == "pyout":  # pyout writes around CliRunner's capture: a real process
        proc = run_dandi(*args, env=subprocess_env(PYTHON_KEYRING_BACKEND=NULL_KEYRING))
        exit_code, out = proc.returncode, proc.stdout
    else:
        result = CliRunner().invoke(main, args)
        exit_code, out = result.exit_code, result.stdout
    assert exit_code == 1, out  # B would be refused
    if fmt in ("json", "json_pp"):
        records = json.loads(out)
    elif fmt == "json_lines":
        records = [json.loads(line) for line in out.splitlines()]
    elif fmt == "yaml":
        records = ruamel.yaml.YAML(typ="safe").load(out)
    else:
        assert vdir(sub="A") in out and vdir(sub="B") in out
        if fmt == "auto":  # not a terminal: one line per directory
            assert out.splitlines()[0] == f"planned {vdir(sub='A')}"
            assert out.splitlines()[1].startswith(f"refused {vdir(sub='B')}: 3 local")
        return
    assert [(r["path"], r["status"]) for r in records] == [
        (vdir(sub="A"), "planned"),
        (vdir(sub="B"), "refused"),
    ]
    assert records[1]["unuploaded_count"] == 3
    assert archive.count("DELETE") == 0


@pytest.mark.parametrize("given", ["keep-file", "a,b"])
def test_a_string_of_plugin_names_is_refused_not_split_into_letters(
    archive: FakeArchive, tmp_path: Path, given: str
) -> None:
    """Both public calls hand ``disable_plugins`` to the options as given: a
    string is a usage error naming the parameter, before anything is asked."""
    from dandi_compute_plugin import move_version_directories

    clone = seed(archive, tmp_path / "clone", files(sub="A"))
    asked = archive.count()
    calls = [
        lambda: delete_dandiset_version(
            clone, "v1.1.1", dandi_instance=archive.url, disable_plugins=given
        ),
        lambda: move_version_directories(
            clone,
            "v1.1.1",
            "000002",
            dandi_instance=archive.url,
            disable_plugins=given,
        ),
    ]
    for call in calls:
        with pytest.raises(TypeError, match="disable_plugins must be a list"):
            call()
    assert archive.count() == asked
    assert (clone / vdir(sub="A")).is_dir()
