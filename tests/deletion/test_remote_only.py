"""Directories of the version on the archive only, one listing for the whole
version, and the parents a removal leaves empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from dandi_compute_plugin import delete_dandiset_version, hookimpl
from dandi_compute_plugin.deletion import TargetStatus, run_deletion
from dandi_compute_plugin.errors import UnknownPluginError

from ..archive import FakeArchive
from ..archive.clones import DANDISET, KEY, seed
from ..records import asset_record, version_files

BASE = "derivatives/dandiset-{ds}/sub-{sub}/pipeline-aind+ephys/version-v1.1.1"


def vdir(sub: str, ds: str = "000001") -> str:
    return BASE.format(ds=ds, sub=sub)


def files(sub: str, ds: str = "000001", n: int = 3) -> list[str]:
    names = [f"output/f{i:02d}.json" for i in range(n)]
    return version_files(ds, sub, "v1.1.1", names=names)


def sizes(paths: list[str]) -> int:
    return sum(asset_record(p)["contentSize"] for p in paths)


@pytest.fixture
def clone(keyed: FakeArchive, tmp_path: Path) -> Path:
    """A and B in the clone and on the archive; R (two datasets) only remotely."""
    remote = files("R") + files("R", ds="000002", n=2)
    return seed(keyed, tmp_path / "clone", files("A") + files("B"), remote_only=remote)


def test_remote_only_directories_are_listed_and_kept(
    keyed: FakeArchive, clone: Path
) -> None:
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    records = {r["path"]: r for r in report.as_records()}
    assert sorted(records) == sorted(
        [vdir("A"), vdir("B"), vdir("R"), vdir("R", ds="000002")]
    )
    kept = records[vdir("R")]
    assert kept["status"] == "remote-only"
    assert "--include-remote (include_remote=True in Python)" in kept["reason"]
    assert kept["remote_assets"] == 3 and kept["remote_bytes"] == sizes(files("R"))
    assert kept["local_files"] == 0 and kept["deleted_assets"] == 0
    assert records[vdir("R", ds="000002")]["remote_assets"] == 2
    assert report.exit_code == 0
    assert "2 of them are on the archive only and were kept" in report.summary()
    assert keyed.paths(DANDISET) == sorted(files("R") + files("R", ds="000002", n=2))
    dry = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, dry_run=True)
    assert "2 of them are on the archive only and would be kept" in dry.summary()


def test_include_remote_deletes_them_too(keyed: FakeArchive, clone: Path) -> None:
    dry = run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, include_remote=True, dry_run=True
    )
    assert {r.status for r in dry.results} == {TargetStatus.PLANNED}
    assert keyed.count("DELETE") == 0
    report = run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, include_remote=True
    )
    records = {r["path"]: r for r in report.as_records()}
    assert records[vdir("R")]["status"] == "deleted"
    assert records[vdir("R")]["deleted_assets"] == 3
    assert records[vdir("R")]["local_removed"] is False
    assert report.exit_code == 0 and keyed.paths(DANDISET) == []
    assert keyed.count("DELETE") == 3 + 3 + 3 + 2


class Protect:
    @hookimpl
    def dandi_compute_veto_deletion(self, target):
        return "kept by policy" if "sub-R" in target.relpath else None


def test_vetoes_apply_to_remote_only_directories(
    keyed: FakeArchive, clone: Path
) -> None:
    report = run_deletion(
        clone,
        "v1.1.1",
        dandi_instance=keyed.url,
        include_remote=True,
        plugins=[Protect()],
    )
    records = {r["path"]: r for r in report.as_records()}
    assert records[vdir("R")]["status"] == "refused"
    assert "kept by policy" in records[vdir("R")]["reason"]
    assert records[vdir("A")]["status"] == "deleted"
    assert keyed.paths(DANDISET) == sorted(files("R") + files("R", ds="000002", n=2))


def test_one_listing_finds_every_directory_of_the_version(
    keyed: FakeArchive, clone: Path
) -> None:
    run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, dry_run=True)
    listings = [
        r for r in keyed.log if r.method == "GET" and r.path.endswith("/assets/")
    ]
    assert len(listings) == 1 and "glob=" in listings[0].query


def test_the_parents_left_empty_are_removed_up_to_the_dandiset_directory(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    other = version_files("000001", "A", "v2.0.0", names=["output/x.json"])
    paths = files("A") + files("B") + files("C", ds="000002") + other
    clone = seed(keyed, tmp_path / "clone", paths)
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert report.exit_code == 0
    # sub-B and sub-C held only v1.1.1: gone, up to their dandiset-* directory
    assert not (clone / "derivatives/dandiset-000001/sub-B").exists()
    assert not (clone / "derivatives/dandiset-000002/sub-C").exists()
    assert (clone / "derivatives/dandiset-000002").is_dir()
    # sub-A's pipeline still holds v2.0.0: it stays, and so does all of v2.0.0
    assert (clone / other[0]).is_file()
    assert not (clone / vdir("A")).exists()


def test_an_unknown_plugin_to_disable_is_an_error(
    keyed: FakeArchive, clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UnknownPluginError, match="'nosuch'") as info:
        run_deletion(
            clone, "v1.1.1", dandi_instance=keyed.url, disable_plugins=["nosuch"]
        )
    assert "--disable-plugin nosuch (disable_plugins= in Python)" in str(info.value)
    monkeypatch.setenv("DANDI_COMPUTE_DISABLE_PLUGINS", "typo")
    with pytest.raises(UnknownPluginError, match="DANDI_COMPUTE_DISABLE_PLUGINS=typo"):
        run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, dry_run=True)
    assert keyed.log == []


def test_the_compatible_call_takes_include_remote(
    keyed: FakeArchive, clone: Path
) -> None:
    deleted = delete_dandiset_version(
        clone, "v1.1.1", dandi_instance=keyed.url, include_remote=True
    )
    assert deleted == sorted([clone / vdir("A"), clone / vdir("B")])
    assert keyed.paths(DANDISET) == []


@pytest.mark.parametrize("include_remote", [False, True])
def test_a_failed_version_listing_fails_every_target_and_invents_none(
    keyed: FakeArchive, clone: Path, include_remote: bool
) -> None:
    """The one listing of the version fails (a 400 echoing the key): every
    directory of the clone fails with the reason, redacted; no remote-only
    directory is made up, nothing is deleted on either side."""
    before = sorted(p for p in clone.rglob("*") if p.is_file())
    keyed.fail("GET", r"/assets/$", query="glob=", status=400, echo=True)
    report = run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, include_remote=include_remote
    )
    assert [r.target.relpath for r in report.results] == [vdir("A"), vdir("B")]
    for r in report.results:
        assert r.status is TargetStatus.FAILED
        assert r.reason is not None
        assert r.reason.startswith("cannot list the remote assets: HTTP 400")
        assert "<redacted>" in r.reason and KEY not in r.reason
    assert report.exit_code == 1 and keyed.count("DELETE") == 0
    assert sorted(p for p in clone.rglob("*") if p.is_file()) == before
