"""Installed hook packages, through the real ``dandi compute`` in a real environment.

A throw-away environment gets this project's wheel, the test hook package
``tests/plugins/audit-hook`` (vetoes chosen versions, writes an audit line after
each target) and the example ``examples/keep-file-hook``, all installed by pip;
``dandi compute delete-version`` then runs against the fake archive on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..archive import FakeArchive
from ..archive.clones import DANDISET, seed, tree_state, under
from ..archive.fixtures import cli_env
from ..records import example_paths
from ..subprocesses import REPO
from ..venvs import Venv

pytestmark = pytest.mark.installed

DOUBLE = (
    "derivatives/dandiset-001470/sub-M489/ses-2024-08-05/pipeline-aind+ephys/"
    "version-v1.1.1+b268fd2+b268fd2"
)
CGM3 = (
    "derivatives/dandiset-000233/sub-CGM3/ses-CGM3/pipeline-aind+ephys/"
    "version-v1.1.1+b268fd2"
)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Venv:
    env = Venv(tmp_path_factory.mktemp("hooks") / "venv")
    env.install(str(wheel))
    env.install(str(REPO / "tests" / "plugins" / "audit-hook"))
    env.install(str(REPO / "examples" / "keep-file-hook"))
    return env


@pytest.fixture
def clone(archive: FakeArchive, tmp_path: Path) -> Path:
    return seed(archive, tmp_path / "clone", example_paths())


def delete(venv: Venv, archive: FakeArchive, clone: Path, env: dict, *args: str):
    proc = venv.dandi(
        "compute",
        "delete-version",
        str(clone),
        "v1.1.1",
        "-i",
        archive.url,
        "-f",
        "json",
        *args,
        env=env,
    )
    records = json.loads(proc.stdout) if proc.stdout.strip() else []
    return proc, {r["path"]: r for r in records}


def test_plugins_lists_distribution_version_and_hooks(
    venv: Venv, tmp_path: Path
) -> None:
    proc = venv.dandi("compute", "plugins", "-f", "json", HOME=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    by_name = {r["name"]: r for r in json.loads(proc.stdout)}
    assert by_name["audit"] == {
        "name": "audit",
        "distribution": "dandi-compute-test-audit",
        "version": "0.3.0",
        "status": "loaded",
        "hooks": [
            "dandi_compute_after_target",
            "dandi_compute_before_target",
            "dandi_compute_run_finished",
            "dandi_compute_veto_deletion",
        ],
        "error": None,
    }
    assert by_name["keep-file"]["distribution"] == "dandi-compute-keep-file"
    assert by_name["keep-file"]["hooks"] == ["dandi_compute_veto_deletion"]
    lines = venv.dandi("compute", "plugins", "--disable-plugin", "audit").stdout
    assert "audit disabled" in lines.splitlines()
    broken = venv.dandi(
        "compute", "plugins", "-f", "json_lines", TEST_AUDIT_BREAK_IMPORT="1"
    )
    rec = {r["name"]: r for r in map(json.loads, broken.stdout.splitlines())}
    assert rec["broken-on-demand"]["status"] == "failed"
    assert "cannot be imported (on purpose)" in rec["broken-on-demand"]["error"]


def test_veto_and_audit_trail_through_the_real_command(
    venv: Venv, archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    env = cli_env(
        archive,
        tmp_path,
        TEST_AUDIT_VETO="v1.1.1+b268fd2+b268fd2",
        TEST_AUDIT_LOG=str(audit),
    )
    proc, records = delete(venv, archive, clone, env, "--yes")
    assert proc.returncode == 1, proc.stderr
    assert records[DOUBLE]["status"] == "refused"
    assert "frozen by the audit policy" in records[DOUBLE]["reason"]
    assert "'audit'" in records[DOUBLE]["reason"]
    assert (clone / DOUBLE).is_dir() and under(archive.paths(DANDISET), DOUBLE)
    deleted = [p for p, r in records.items() if r["status"] == "deleted"]
    assert len(deleted) == 4 and not any((clone / p).exists() for p in deleted)
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert sorted(x["path"] for x in lines if x["event"] == "target") == sorted(deleted)
    assert all(
        x["status"] == "deleted" and x["deleted_assets"] == x["planned_assets"] > 0
        for x in lines
        if x["event"] == "target"
    )
    assert lines[-1] == {"event": "finished", "exit_code": 1}


def test_keep_file_example_protects_in_dry_run_and_for_real(
    venv: Venv, archive: FakeArchive, tmp_path: Path
) -> None:
    # the KEEP file is uploaded too (else the un-uploaded check refuses already)
    keep = f"{CGM3}/params-98fd947_config-6568dda_attempt-1/KEEP"
    clone = seed(archive, tmp_path / "clone", [*example_paths(), keep])
    env = cli_env(archive, tmp_path, key=None)
    before = tree_state(clone)
    proc, records = delete(venv, archive, clone, env, "--dry-run")
    assert proc.returncode == 1, proc.stderr
    assert records[CGM3]["status"] == "refused"
    assert (
        "protected by params-98fd947_config-6568dda_attempt-1/KEEP"
        in (records[CGM3]["reason"])
    )
    assert sum(r["status"] == "planned" for r in records.values()) == 4
    assert tree_state(clone) == before and archive.count("DELETE") == 0
    # disabled by option or by environment: the KEEP file no longer vetoes
    for extra_env, args in (
        ({}, ("--disable-plugin", "keep-file")),
        ({"DANDI_COMPUTE_DISABLE_PLUGINS": "keep-file"}, ()),
    ):
        proc, records = delete(
            venv, archive, clone, dict(env, **extra_env), "--dry-run", *args
        )
        assert proc.returncode == 0, proc.stderr
        assert records[CGM3]["status"] == "planned"
    # for real: everything but the protected directory goes
    proc, records = delete(venv, archive, clone, cli_env(archive, tmp_path), "--yes")
    assert proc.returncode == 1
    assert records[CGM3]["status"] == "refused"
    assert (clone / CGM3).is_dir() and under(archive.paths(DANDISET), CGM3)
    assert sum(r["status"] == "deleted" for r in records.values()) == 4


@pytest.mark.parametrize("hook", ["veto", "before"])
def test_a_failing_decision_hook_blocks_and_names_the_plugin(
    venv: Venv, archive: FakeArchive, clone: Path, tmp_path: Path, hook: str
) -> None:
    before = tree_state(clone)
    env = cli_env(archive, tmp_path, TEST_AUDIT_FAIL=hook)
    proc, records = delete(venv, archive, clone, env, "--yes")
    assert proc.returncode == 1, proc.stderr
    assert len(records) == 5
    for rec in records.values():
        assert rec["status"] == "refused"
        assert "'audit'" in rec["reason"] and "broken on purpose" in rec["reason"]
    assert tree_state(clone) == before
    assert archive.paths(DANDISET) == sorted(example_paths())
    assert archive.count("DELETE") == 0


@pytest.mark.parametrize(
    ("hook", "raised"),
    [("veto:exit", "SystemExit"), ("before:interrupt", "KeyboardInterrupt")],
)
def test_a_hook_cannot_end_the_run(
    venv: Venv, archive: FakeArchive, clone: Path, tmp_path: Path, hook: str, raised
) -> None:
    before = tree_state(clone)
    env = cli_env(archive, tmp_path, TEST_AUDIT_FAIL=hook)
    proc, records = delete(venv, archive, clone, env, "--yes")
    assert proc.returncode == 1, proc.stderr  # not 0, not "Aborted!"
    assert len(records) == 5  # the whole report
    assert all(
        r["status"] == "refused" and raised in r["reason"] for r in records.values()
    )
    assert tree_state(clone) == before and archive.count("DELETE") == 0
    proc, records = delete(venv, archive, clone, cli_env(archive, tmp_path), "--yes")
    assert proc.returncode == 0 and len(records) == 5, proc.stderr


def test_a_failing_after_hook_is_logged_and_results_stand(
    venv: Venv, archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    env = cli_env(archive, tmp_path, TEST_AUDIT_FAIL="after")
    proc, records = delete(venv, archive, clone, env, "--yes")
    assert proc.returncode == 0, proc.stderr
    assert all(r["status"] == "deleted" for r in records.values())
    assert "broken on purpose" in proc.stderr and "'audit'" in proc.stderr


def test_a_plugin_that_cannot_load_blocks_every_target_until_disabled(
    venv: Venv, archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    before = tree_state(clone)
    env = cli_env(archive, tmp_path, TEST_AUDIT_BREAK_IMPORT="1")
    proc, records = delete(venv, archive, clone, env, "--yes")
    assert proc.returncode == 1
    assert len(records) == 5
    assert all("'broken-on-demand'" in r["reason"] for r in records.values())
    assert all(r["status"] == "refused" for r in records.values())
    assert tree_state(clone) == before and archive.count("DELETE") == 0
    proc, records = delete(
        venv, archive, clone, env, "--yes", "--disable-plugin", "broken-on-demand"
    )
    assert proc.returncode == 0, proc.stderr
    assert all(r["status"] == "deleted" for r in records.values())
