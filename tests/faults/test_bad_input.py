"""Bad VERSION and DANDISET_DIR arguments of delete-version: an error or a skip.

Every case ends with a clear error or a skip that says why, and is checked by
hashing: the clone (and any other directory involved) and the server's draft and
published assets are the same afterwards, but for the version directories a valid
run was meant to delete.  Cases already covered elsewhere and not repeated here:
the validation rule itself (``tests/test_versions.py``), scan-versions' handling of
the same arguments (``tests/test_scan_cli.py``).  The tree cases (links, swaps,
unreadable directories) are in ``test_bad_tree.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
import re

from click.testing import CliRunner
from dandi.cli.command import main
import pytest

from dandi_compute_plugin import delete_dandiset_version
from dandi_compute_plugin.errors import InvalidVersionError, NotADandisetError

from ..archive import FakeArchive
from ..archive.clones import seed
from ..archive.fixtures import cli_env
from ..records import build_clone, version_files
from ..subprocesses import run_dandi
from .trees import vdir

LONG = "v" * 10_000
INVALID = {
    "empty": ("", "must not be empty"),
    "slash": ("/", "must not contain '/'"),
    "dotdot": ("..", "must not be '..'"),
    "a-slash-b": ("a/b", "must not contain '/'"),
    "nul": ("v1\x00", "must not contain a NUL byte"),
    "10000-chars": (LONG, "VERSION is too long (10000 characters)"),
}


def make_clone(archive: FakeArchive, root: Path) -> Path:
    paths = ["README.md"]
    for ds, sub, version in [
        ("000001", "A", "v1.1.1"),
        ("000001", "B", "v1.1.1+abc"),
        ("000001", "C", "v1.1.10"),
        ("000002", "G", "v1.*"),
        ("000002", "H", "v1.*+abc"),
        ("000002", "I", "v1.1"),
        ("000002", "J", "v1.2"),
    ]:
        paths += version_files(ds, sub, version)
    return seed(archive, root / "clone", paths)


def invoke(archive: FakeArchive, *args: str) -> tuple[int, str]:
    """``dandi compute delete-version ARGS`` in this process (argv cannot carry a
    NUL byte; the parsing and the library are the same)."""
    result = CliRunner().invoke(
        main, ["compute", "delete-version", *args, "-i", archive.url, "--yes"]
    )
    return result.exit_code, result.output


@pytest.mark.parametrize("case", list(INVALID))
def test_an_invalid_version_is_refused_before_anything(
    keyed: FakeArchive, tmp_path: Path, bad_input, case: str
) -> None:
    version, message = INVALID[case]
    clone = make_clone(keyed, tmp_path)
    snap = bad_input.snapshot(keyed, clone)
    code, output = invoke(keyed, str(clone), version)
    assert code == 2 and message in output, output
    assert len(output) < 2000  # a 10,000-character VERSION is not echoed back
    with pytest.raises(InvalidVersionError, match=re.escape(message)):
        delete_dandiset_version(clone, version, dandi_instance=keyed.url)
    if "\x00" not in version:  # and through a real argv
        proc = run_dandi(
            "compute", "delete-version", str(clone), version, "-i", keyed.url,
            "--yes", env=cli_env(keyed, tmp_path),
        )  # fmt: skip
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert keyed.log == []
    snap.assert_only_removed()
    bad_input.ended("usage error (exit 2), InvalidVersionError from the API")


def test_glob_characters_are_literal(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    clone = make_clone(keyed, tmp_path)
    snap = bad_input.snapshot(keyed, clone)
    env = cli_env(keyed, tmp_path)
    args = ("-i", keyed.url, "--yes", "-f", "json")
    proc = run_dandi("compute", "delete-version", str(clone), "*", *args, env=env)
    assert (proc.returncode, proc.stdout.strip()) == (0, "[]"), proc.stderr
    assert "No directory of version *: nothing to do" in proc.stderr
    # the server's glob filter takes the '*' as a wildcard; the exact rule does not
    assert keyed.count("GET", "/assets/$") == 1 and keyed.count("DELETE") == 0
    snap.assert_only_removed()

    proc = run_dandi("compute", "delete-version", str(clone), "v1.*", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    literal = [vdir("G", "v1.*", "000002"), vdir("H", "v1.*+abc", "000002")]
    assert proc.stdout.count('"status": "deleted"') == 2
    snap.assert_only_removed(literal)
    bad_input.ended("'*': nothing to do (exit 0); 'v1.*': only version-v1.* dirs")


@pytest.mark.parametrize("kind", ["a-file", "missing"])
def test_dandiset_dir_that_is_not_a_directory(
    keyed: FakeArchive, tmp_path: Path, bad_input, kind: str
) -> None:
    clone = make_clone(keyed, tmp_path)
    target = tmp_path / "not-a-clone"
    if kind == "a-file":
        target.write_text("dandiset.yaml and derivatives/ are not in here\n")
    snap = bad_input.snapshot(keyed, clone, tmp_path)
    code, output = invoke(keyed, str(target), "v1.1.1")
    assert code == 2, output
    assert ("is a file" if kind == "a-file" else "does not exist") in output
    error = NotADirectoryError if kind == "a-file" else FileNotFoundError
    with pytest.raises(error):
        delete_dandiset_version(target, "v1.1.1", dandi_instance=keyed.url)
    assert keyed.log == []
    snap.assert_only_removed()
    bad_input.ended("usage error (exit 2); NotADirectoryError/FileNotFoundError")


def test_dandiset_dir_without_dandiset_yaml(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    clone = make_clone(keyed, tmp_path)
    (clone / "dandiset.yaml").unlink()
    snap = bad_input.snapshot(keyed, clone)
    for extra in ((), ("--dry-run",)):
        code, output = invoke(keyed, str(clone), "v1.1.1", *extra)
        assert code == 1, output
        assert "Cannot read the dandiset id" in output and "dandiset.yaml" in output
    with pytest.raises(NotADandisetError, match="Cannot read the dandiset id"):
        delete_dandiset_version(clone, "v1.1.1", dandi_instance=keyed.url)
    assert keyed.log == []
    snap.assert_only_removed()
    bad_input.ended("error (exit 1): cannot read the dandiset id")


def test_derivatives_a_symbolic_link_to_elsewhere(
    keyed: FakeArchive, tmp_path: Path, bad_input
) -> None:
    # elsewhere holds directories of the version, and the server their assets
    paths = version_files("000001", "A", "v1.1.1")
    elsewhere = seed(keyed, tmp_path / "elsewhere", paths)
    clone = build_clone(tmp_path / "clone", [])
    (clone / "derivatives").symlink_to(elsewhere / "derivatives")
    snap = bad_input.snapshot(keyed, clone, elsewhere)
    proc = run_dandi(
        "compute", "delete-version", str(clone), "v1.1.1", "-i", keyed.url,
        "--yes", "--include-remote", "-f", "json", env=cli_env(keyed, tmp_path),
    )  # fmt: skip
    # refused even with --include-remote: the clone may hold its files
    assert proc.returncode == 1, proc.stderr
    assert "derivatives is a symbolic link: not followed" in proc.stderr
    # the archive has the version's directory, the clone only through the link
    [record] = json.loads(proc.stdout)
    assert record["status"] == "refused", record
    assert "symbolic link" in record["reason"]
    assert record["remote_assets"] == len(paths)
    assert keyed.count("DELETE") == 0
    snap.assert_only_removed()
    bad_input.ended("link not followed; the archive's directory refused, exit 1")
