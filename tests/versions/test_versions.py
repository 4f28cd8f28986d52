"""The version-name rule and the version-directory walker, on real directory trees."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

import pytest

from dandi_compute_plugin import (
    VersionDirectory,
    iter_version_directories,
    scan_version_directories,
    validate_version,
)
from dandi_compute_plugin.errors import InvalidVersionError
from dandi_compute_plugin.versions import version_directory_of, version_name_matches

from ..records import build_clone, example_paths, version_files
from ..unprivileged import can_be_locked_out, unprivileged

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "dandiset-001697"


def reference_scan(dandiset_directory: Path, version: str) -> list[Path]:
    """``dandi_compute_code.dandiset``'s rglob, the reference for the semantics."""
    found: list[Path] = []
    for d in sorted((dandiset_directory / "derivatives").glob("dandiset-*")):
        for p in sorted(d.rglob(f"version-{version}*")):
            if p.is_dir() and (
                p.name == f"version-{version}"
                or p.name.startswith(f"version-{version}+")
            ):
                found.append(p)
    return sorted(found)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    return build_clone(tmp_path / "001697", example_paths())


def rel(root: Path, paths: list[Path]) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_matches_exact_and_suffixed_variants(clone: Path) -> None:
    found = rel(clone, scan_version_directories(clone, "v1.1.1"))
    assert found == [
        "derivatives/dandiset-000233/sub-CGM3/ses-CGM3/pipeline-aind+ephys/"
        "version-v1.1.1+b268fd2",
        "derivatives/dandiset-000363/sub-480134/ses-20210107T120825/"
        "pipeline-aind+ephys/version-v1.1.1+b268fd2",
        "derivatives/dandiset-001469/sub-Chronic-Implant-2/pipeline-aind+ephys/"
        "version-v1.1.1+b268fd2",
        "derivatives/dandiset-001470/sub-M489/ses-2024-08-05/pipeline-aind+ephys/"
        "version-v1.1.1+b268fd2+b268fd2",
        "derivatives/dandiset-001747/sub-chip19894/ses-recording049/"
        "pipeline-aind+ephys/version-v1.1.1",
    ]
    assert found == rel(clone, reference_scan(clone, "v1.1.1"))


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("v1.1.1+b268fd2", 4),  # the suffixed one and the doubly suffixed one
        ("v1.1.1+b268fd2+b268fd2", 1),
        ("v1.1.1.1", 1),
        ("v1.1.10", 1),
        ("v1.1.1-rc", 1),
        ("v1.1", 0),  # version-v1.1.1 is another version, not a prefix match
        ("v1.1.0", 1),
        ("v9", 0),
    ],
)
def test_other_versions_are_not_matched(
    clone: Path, version: str, expected: int
) -> None:
    found = scan_version_directories(clone, version)
    assert len(found) == expected
    assert found == reference_scan(clone, version)
    for p in found:
        assert version_name_matches(p.name, version)


def test_results_are_sorted_paths_below_the_clone(clone: Path) -> None:
    found = scan_version_directories(clone, "v1.1.1")
    assert found == sorted(found)
    assert all(isinstance(p, Path) and p.is_dir() for p in found)
    assert all(clone in p.parents for p in found)


def test_records_carry_the_labels(clone: Path) -> None:
    by_dandiset = {d.dandiset: d for d in iter_version_directories(clone, "v1.1.1")}
    no_session = by_dandiset["001469"]
    assert no_session.session is None
    assert no_session.subject == "Chronic-Implant-2"
    assert no_session.pipeline == "aind+ephys"
    assert no_session.version == "v1.1.1+b268fd2"
    double = by_dandiset["001470"].as_record()
    assert double == {
        "path": "derivatives/dandiset-001470/sub-M489/ses-2024-08-05/"
        "pipeline-aind+ephys/version-v1.1.1+b268fd2+b268fd2",
        "dandiset": "001470",
        "subject": "M489",
        "session": "2024-08-05",
        "pipeline": "aind+ephys",
        "version": "v1.1.1+b268fd2+b268fd2",
        "layout": "nested",
    }


def test_a_file_named_like_a_version_is_not_a_match(tmp_path: Path) -> None:
    clone = build_clone(
        tmp_path / "c", ["derivatives/dandiset-000001/sub-a/version-v1"]
    )
    assert (clone / "derivatives/dandiset-000001/sub-a/version-v1").is_file()
    assert scan_version_directories(clone, "v1") == []


def test_does_not_descend_into_version_directories(tmp_path: Path) -> None:
    nested = version_files("000001", "a", "v2")[0].rsplit("/", 1)[0]
    paths = [f"{nested}/output/version-v1/file.txt"] + version_files(
        "000001", "b", "v1"
    )
    clone = build_clone(tmp_path / "c", paths)
    found = rel(clone, scan_version_directories(clone, "v1"))
    assert found == ["derivatives/dandiset-000001/sub-b/pipeline-aind+ephys/version-v1"]


def test_only_dandiset_directories_below_derivatives_are_walked(tmp_path: Path) -> None:
    paths = [
        "derivatives/other/sub-a/pipeline-p/version-v1/x",
        "sub-a/pipeline-p/version-v1/x",
        "derivatives/dandiset-000002/sub-a/pipeline-p/version-v1/x",
    ]
    clone = build_clone(tmp_path / "c", paths)
    found = rel(clone, scan_version_directories(clone, "v1"))
    assert found == ["derivatives/dandiset-000002/sub-a/pipeline-p/version-v1"]


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    outside = build_clone(
        tmp_path / "outside", ["sub-x/pipeline-p/version-v1/data.bin"]
    )
    clone = build_clone(tmp_path / "c", version_files("000001", "a", "v1"))
    ds = clone / "derivatives/dandiset-000001"
    # a version directory that is a link, a link to a subject tree, a link dandiset
    (ds / "sub-a/pipeline-aind+ephys/version-v1+link").symlink_to(
        ds / "sub-a/pipeline-aind+ephys/version-v1"
    )
    (ds / "sub-linked").symlink_to(outside / "sub-x")
    (clone / "derivatives/dandiset-000009").symlink_to(outside)
    found = rel(clone, scan_version_directories(clone, "v1"))
    assert found == ["derivatives/dandiset-000001/sub-a/pipeline-aind+ephys/version-v1"]


def test_derivatives_symlink_is_not_followed(tmp_path: Path) -> None:
    elsewhere = build_clone(tmp_path / "elsewhere", version_files("000001", "a", "v1"))
    clone = tmp_path / "c"
    clone.mkdir()
    (clone / "derivatives").symlink_to(elsewhere / "derivatives")
    assert scan_version_directories(clone, "v1") == []


def test_glob_characters_are_literal(tmp_path: Path) -> None:
    paths = version_files("000001", "a", "v1.*") + version_files("000001", "b", "v1.2")
    paths += version_files("000001", "c", "v1.*+abc") + version_files(
        "000001", "d", "v[1]"
    )
    clone = build_clone(tmp_path / "c", paths)
    assert [p.name for p in scan_version_directories(clone, "v1.*")] == [
        "version-v1.*",
        "version-v1.*+abc",
    ]
    assert [p.name for p in scan_version_directories(clone, "v?.2")] == []
    assert [p.name for p in scan_version_directories(clone, "v[1]")] == ["version-v[1]"]


@pytest.mark.parametrize(
    "bad", ["", ".", "..", "a/b", "/", "a\\b", "v1\x00", "/v1", "v1/"]
)
def test_invalid_versions_are_rejected(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidVersionError):
        validate_version(bad)
    with pytest.raises(InvalidVersionError):
        scan_version_directories(tmp_path, bad)


def test_invalid_version_error_is_a_value_error() -> None:
    assert issubclass(InvalidVersionError, ValueError)
    with pytest.raises(ValueError, match="NUL"):
        validate_version("a\x00b")


def test_missing_or_non_directory_dandiset(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing"):
        scan_version_directories(tmp_path / "missing", "v1")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        scan_version_directories(tmp_path / "file", "v1")


def test_no_derivatives_is_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="dandi.compute")
    assert scan_version_directories(tmp_path, "v1") == []
    assert "no derivatives/ directory" in caplog.text


#: scan a clone in a subprocess (it may run without root's reading powers)
SCAN = """\
import logging, sys
from dandi_compute_plugin import scan_version_directories
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
for path in scan_version_directories(sys.argv[1], sys.argv[2]):
    print(path)
"""


def test_unreadable_directory_is_skipped_with_a_warning(tmp_path: Path) -> None:
    clone = build_clone(
        tmp_path / "c",
        version_files("000001", "a", "v1") + version_files("000001", "b", "v1"),
    )
    locked = clone / "derivatives/dandiset-000001/sub-b"
    locked.chmod(0)
    try:
        if not can_be_locked_out(locked):
            pytest.skip("cannot make a directory unreadable here")
        proc = subprocess.run(
            unprivileged([sys.executable, "-c", SCAN, str(clone), "v1"]),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    assert rel(clone, [Path(p) for p in proc.stdout.split()]) == [
        "derivatives/dandiset-000001/sub-a/pipeline-aind+ephys/version-v1"
    ]
    assert f"WARNING Skipping {locked}: Permission denied" in proc.stderr


def test_directory_vanishing_mid_walk_reaches_on_error(tmp_path: Path) -> None:
    """A directory that cannot be read is reported and skipped, the walk goes on."""
    clone = build_clone(
        tmp_path / "c",
        version_files("000001", "a", "v1") + version_files("000002", "b", "v1"),
    )
    errors: list[OSError] = []
    walk = iter_version_directories(clone, "v1", on_error=errors.append)
    first = next(walk)  # depth first: the other dandiset-* is not read yet
    other = "000002" if first.dandiset == "000001" else "000001"
    (clone / f"derivatives/dandiset-{other}").rename(tmp_path / "moved")
    assert list(walk) == []
    assert len(errors) == 1
    assert isinstance(errors[0], FileNotFoundError)
    assert f"dandiset-{other}" in str(errors[0].filename)


@pytest.mark.parametrize(
    ("asset_path", "expected"),
    [
        (
            "derivatives/dandiset-000233/sub-1/ses-2/pipeline-p/version-v1+ab/code/x.sh",
            "derivatives/dandiset-000233/sub-1/ses-2/pipeline-p/version-v1+ab",
        ),
        (
            "derivatives/dandiset-000233/sub-1/pipeline-p/version-v1/x",
            "derivatives/dandiset-000233/sub-1/pipeline-p/version-v1",
        ),
        ("derivatives/dandiset-000233/sub-1/pipeline-p/version-v1.1/x", None),
        ("derivatives/dandiset-000233/sub-1/pipeline-p/version-v2/version-v1/x", None),
        ("derivatives/dandiset-000233/sub-1/pipeline-p/version-v1", None),  # a file
        ("derivatives/other/sub-1/pipeline-p/version-v1/x", None),
        ("sub-1/pipeline-p/version-v1/x", None),
    ],
)
def test_version_directory_of_asset_paths(
    asset_path: str, expected: str | None
) -> None:
    assert version_directory_of(asset_path, "v1") == expected


def test_remote_and_local_rule_agree(clone: Path) -> None:
    """The manifest-path rule finds exactly the directories the walker finds."""
    local = {d.relpath for d in iter_version_directories(clone, "v1.1.1")}
    remote = {version_directory_of(p, "v1.1.1") for p in example_paths()} - {None}
    assert remote == local


def test_from_relpath_rejects_non_version_paths(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        VersionDirectory.from_relpath(tmp_path, "derivatives/dandiset-1/sub-a")


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/fixtures not present")
def test_real_001697_tree(tmp_path: Path) -> None:
    paths = (SHARED / "tree.txt").read_text().split()
    clone = build_clone(tmp_path / "001697", [p for p in paths if p != "dandiset.yaml"])
    found = list(iter_version_directories(clone, "v1.1.1"))
    assert len(found) == len(
        {version_directory_of(p, "v1.1.1") for p in paths} - {None}
    )
    assert any(d.session is None and d.subject == "Chronic-Implant-2" for d in found)
    assert any(d.version == "v1.1.1+b268fd2+b268fd2" for d in found)
    assert rel(clone, scan_version_directories(clone, "v1.1.1")) == rel(
        clone, reference_scan(clone, "v1.1.1")
    )


@pytest.mark.parametrize(
    "spelling", [".", "./", "sub/..", "{abs}", "{abs}/", "{abs}//"]
)
def test_any_spelling_of_the_clone_directory(
    clone: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    (clone / "sub").mkdir()
    monkeypatch.chdir(clone)
    top = spelling.format(abs=clone)
    expected = rel(clone, reference_scan(clone, "v1.1.1+b268fd2"))
    assert len(expected) == 4
    found = [d.relpath for d in iter_version_directories(top, "v1.1.1+b268fd2")]
    assert sorted(found) == expected
    paths = scan_version_directories(top, "v1.1.1+b268fd2")
    assert [p.resolve() for p in paths] == [clone / e for e in expected]


def test_the_remote_scan_counts_a_repeated_path_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from dandi_compute_plugin import AssetMetadata
    from dandi_compute_plugin.versions import remote_version_directories

    top = "derivatives/dandiset-000001/sub-a/pipeline-p/version-v1"
    assets = [
        AssetMetadata(f"{top}/x.json", "2026-01-01T00:00:00", 10, "id-1"),
        AssetMetadata(f"{top}/y.json", "2026-01-01T00:00:00", 5, "id-2"),
        AssetMetadata(f"{top}/x.json", "2026-01-02T00:00:00", 12, "id-3"),
    ]
    [found] = remote_version_directories(assets, "v1")
    assert (found.asset_count, found.total_bytes) == (2, 17)  # the last x.json
    assert "1 asset path(s) more than once" in caplog.text
