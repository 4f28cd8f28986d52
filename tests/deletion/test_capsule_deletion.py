"""delete-version over flat job capsules and nested version directories alike."""

from __future__ import annotations

from pathlib import Path

from dandi_compute_plugin import hookimpl
from dandi_compute_plugin.deletion import run_deletion

from ..archive import FakeArchive
from ..archive.clones import DANDISET, seed
from ..records import asset_record, build_clone

PIPE = "derivatives/dandiset-000001/sub-A/ses-1/pipeline-p"
CAPSULE = (
    f"{PIPE}/version-v1.1.1_codebase-v0.3.0_params-98fd947_config-6568dda_attempt-"
)
NESTED = f"{PIPE}/version-v1.1.1+b268fd2"
LOOKALIKE = (
    f"{PIPE}/version-v1.1.10_codebase-v0.3.0_params-98fd947_config-6568dda_attempt-1"
)
MISFIT = f"{PIPE}/version-v1.1.1_codebase-v0.3.0_attempt-1"


def test_delete_version_retracts_both_forms_and_nothing_else(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    dirs = [CAPSULE + "1", CAPSULE + "2", NESTED, LOOKALIKE, MISFIT]
    paths = [f"{d}/logs/run.log" for d in dirs] + [f"{NESTED}/params-x/out.json"]
    remote_only = [f"{CAPSULE}3/logs/run.log"]
    clone = seed(keyed, tmp_path / "clone", paths, remote_only=remote_only)

    dry = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, dry_run=True)
    planned = {r.target.relpath: r.status.value for r in dry.results}
    assert planned == {
        CAPSULE + "1": "planned",
        CAPSULE + "2": "planned",
        NESTED: "planned",
        CAPSULE + "3": "remote-only",
    }
    report = run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, include_remote=True
    )
    assert {r.status.value for r in report.results} == {"deleted"}
    assert keyed.paths(DANDISET) == sorted(f"{d}/logs/run.log" for d in dirs[3:])
    assert sorted(p.name for p in (clone / PIPE).iterdir()) == sorted(
        Path(d).name for d in dirs[3:]
    )


def test_an_unuploaded_file_in_a_capsule_refuses_it(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    paths = [f"{CAPSULE}1/logs/run.log", f"{CAPSULE}2/logs/run.log"]
    clone = seed(
        keyed, tmp_path / "clone", paths, local_only=[f"{CAPSULE}1/logs/new.log"]
    )
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    statuses = {r.target.relpath: r.status.value for r in report.results}
    assert statuses == {CAPSULE + "1": "refused", CAPSULE + "2": "deleted"}
    assert (clone / f"{CAPSULE}1/logs/new.log").is_file()
    assert keyed.paths(DANDISET) == [f"{CAPSULE}1/logs/run.log"]


def test_a_hook_may_add_a_capsule(keyed: FakeArchive, tmp_path: Path) -> None:
    build_clone(tmp_path / "clone", [f"{CAPSULE}1/a.txt"], DANDISET)
    keyed.add_dandiset(DANDISET, [asset_record(f"{CAPSULE}1/a.txt")])

    class Adds:
        @hookimpl
        def dandi_compute_add_targets(self, dandiset_directory, version):
            return [
                Path(dandiset_directory) / MISFIT,
                Path(dandiset_directory) / NESTED,
            ]

    (tmp_path / "clone" / MISFIT).mkdir(parents=True)
    (tmp_path / "clone" / NESTED).mkdir(parents=True)
    report = run_deletion(
        tmp_path / "clone",
        "v1.1.1",
        dandi_instance=keyed.url,
        dry_run=True,
        plugins=(Adds(),),
    )
    # the misfit is never a target, whoever names it
    assert sorted(r.target.relpath for r in report.results) == sorted(
        [CAPSULE + "1", NESTED]
    )
