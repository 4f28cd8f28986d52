"""What every command says about options a user gets wrong, through the real
``dandi`` executable: unknown plugins and instances, ``version-`` in VERSION,
no match, ``--force``, remote-only directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..archive import FakeArchive
from ..archive.clones import DANDISET, seed
from ..archive.fixtures import cli_env
from ..records import example_paths, version_files
from ..subprocesses import run_dandi


@pytest.fixture
def clone(archive: FakeArchive, tmp_path: Path) -> Path:
    return seed(archive, tmp_path / "clone", example_paths())


def delete(archive: FakeArchive, clone: Path, *args: str, env: dict):
    return run_dandi(
        "compute", "delete-version", str(clone), *args, "-i", archive.url, env=env
    )


def test_an_unknown_plugin_to_disable_is_a_usage_error(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    env = cli_env(archive, tmp_path)
    proc = delete(
        archive, clone, "v1.1.1", "--yes", "--disable-plugin", "nosuch", env=env
    )
    assert proc.returncode == 2, proc.stderr
    assert "No hook plugin named 'nosuch' is installed" in proc.stderr
    assert "the installed ones:" in proc.stderr
    typo = dict(env, DANDI_COMPUTE_DISABLE_PLUGINS="typo")
    for args in (("delete-version", str(clone), "v1.1.1", "--dry-run"), ("plugins",)):
        proc = run_dandi("compute", *args, env=typo)
        assert proc.returncode == 2, proc.stderr
        assert "DANDI_COMPUTE_DISABLE_PLUGINS=typo" in proc.stderr
    assert archive.log == []


@pytest.mark.parametrize(
    "args",
    [
        ("index", "001697", "-i", "nosuch"),
        ("scan-versions", "001697", "v1.1.1", "--remote", "-i", "nosuch"),
        ("delete-version", ".", "v1.1.1", "--dry-run", "-i", "nosuch"),
    ],
)
def test_an_unknown_instance_lists_the_known_ones(args: tuple, tmp_path: Path) -> None:
    proc = run_dandi("compute", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "unknown DANDI instance 'nosuch'" in proc.stderr
    assert "dandi-sandbox" in proc.stderr and "instance URL" in proc.stderr


def test_a_version_given_with_its_prefix_gets_a_hint(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    env = cli_env(archive, tmp_path)
    hint = "VERSION is given without 'version-': did you mean 'v1.1.1'?"
    scan = run_dandi("compute", "scan-versions", str(clone), "version-v1.1.1", env=env)
    assert scan.returncode == 0 and scan.stdout == ""
    assert "No directory of version version-v1.1.1" in scan.stderr
    assert hint in scan.stderr
    proc = delete(archive, clone, "version-v1.1.1", "--dry-run", env=env)
    assert proc.returncode == 0 and hint in proc.stderr
    plain = run_dandi("compute", "scan-versions", str(clone), "v9", env=env)
    assert plain.stdout == "" and "No directory of version v9" in plain.stderr
    assert "did you mean" not in plain.stderr


def test_force_confirms_like_yes(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    env = cli_env(archive, tmp_path)
    proc = delete(archive, clone, "v1.1.1", "--force", "-f", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert {r["status"] for r in json.loads(proc.stdout)} == {"deleted"}


def test_remote_only_directories_in_the_report_and_with_include_remote(
    archive: FakeArchive, tmp_path: Path
) -> None:
    remote = version_files("000009", "Z", "v1.1.1", names=["output/a.json"])
    clone = seed(archive, tmp_path / "clone", example_paths(), remote_only=remote)
    env = cli_env(archive, tmp_path)
    proc = delete(archive, clone, "v1.1.1", "--yes", "-f", "json_lines", env=env)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    [kept] = [r for r in records if r["status"] == "remote-only"]
    assert kept["path"] == remote[0].split("/params-")[0]
    assert kept["remote_assets"] == 1 and kept["dandiset"] == "000009"
    assert "were kept" in proc.stderr and "--include-remote" in proc.stderr
    assert remote[0] in archive.paths(DANDISET)  # kept
    proc = delete(archive, clone, "v1.1.1", "--yes", "--include-remote", env=env)
    assert proc.returncode == 0, proc.stderr
    assert [p for p in archive.paths(DANDISET) if "v1.1.1/" in p] == []


@pytest.mark.parametrize(
    "command",
    [
        ("scan-versions",),
        ("delete-version",),
        ("index",),
        ("plugins",),
        ("cache",),
        ("cache", "info"),
        ("cache", "clear"),
    ],
)
def test_every_help_ends_with_examples_of_the_command(command: tuple) -> None:
    proc = run_dandi("compute", *command, "--help")
    assert proc.returncode == 0, proc.stderr
    tail = proc.stdout.rstrip().split("\n\n")[-1].splitlines()
    assert tail[0].strip() == "Examples:" and len(tail) >= 3
    assert all(f"dandi compute {command[0]}" in line for line in tail[1:])
