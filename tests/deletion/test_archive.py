"""The archive side of a deletion: dandi's real client against the fake archive."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from dandi_compute_plugin.deletion.archive import (
    ArchiveSession,
    describe_error,
    redact,
)
from dandi_compute_plugin.errors import ArchiveError, AuthenticationError

from ..archive import FakeArchive
from ..archive.clones import DANDISET, KEY, seed
from ..records import asset_record, version_files

VDIR = "derivatives/dandiset-000001/sub-A/pipeline-p/version-v1"


def paths() -> list[str]:
    return version_files("000001", "A", "v1", pipeline="p") + ["README.md"]


def session(archive: FakeArchive, authenticate: bool = False) -> ArchiveSession:
    return ArchiveSession(archive.url, DANDISET, authenticate=authenticate)


def test_an_unknown_instance_or_dandiset_is_an_archive_error(
    archive: FakeArchive,
) -> None:
    with pytest.raises(ArchiveError, match="Cannot use DANDI instance 'nosuch'"):
        ArchiveSession("nosuch", DANDISET, authenticate=False)
    archive.add_dandiset(DANDISET, [])
    with pytest.raises(ArchiveError, match="Dandiset 000002 does not exist"):
        ArchiveSession(archive.url, "000002", authenticate=False)


def test_no_key_without_a_terminal_names_where_a_key_is_looked_for(
    archive: FakeArchive,
) -> None:
    archive.add_dandiset(DANDISET, [])
    with pytest.raises(AuthenticationError) as info:
        session(archive, authenticate=True)
    assert archive.api_key_env_var in str(info.value)
    assert "Nothing was changed" in str(info.value)
    assert archive.count("GET", r"^/api/auth/token/$") == 0


def test_a_rejected_key_is_named_by_source_never_by_value(
    archive: FakeArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive.add_dandiset(DANDISET, [])
    monkeypatch.setenv(archive.api_key_env_var, "wrong-key-4242")
    with pytest.raises(AuthenticationError) as info:
        session(archive, authenticate=True)
    assert archive.api_key_env_var in str(info.value)
    assert "wrong-key-4242" not in str(info.value)


def test_assets_under_a_directory_keep_the_exact_case_prefix(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(keyed, tmp_path / "clone", paths())
    other_case = VDIR.replace("version-v1", "VERSION-V1") + "/x.json"
    sibling = VDIR + "0/y.json"  # version-v10: shares the string prefix only
    keyed.add_assets(DANDISET, [asset_record(other_case), asset_record(sibling)])
    s = session(keyed, authenticate=True)
    listed = s.assets_under(clone / VDIR, VDIR)
    expected = sorted(p for p in paths() if p.startswith(VDIR + "/"))
    assert [a.path for a in listed] == expected
    assert sorted(s.remaining(VDIR).values()) == expected
    # a directory gone locally is listed by its path on the server
    gone = s.assets_under(tmp_path / "no-such-directory", VDIR)
    assert [a.path for a in gone] == expected


def test_deleting_an_asset_that_is_already_gone_is_not_an_error(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(keyed, tmp_path / "clone", paths())
    s = session(keyed, authenticate=True)
    [first, *_] = s.assets_under(clone / VDIR, VDIR)
    s.delete_asset(first)
    s.delete_asset(first)  # a 404 now: gone, as wanted
    assert first.path not in keyed.paths(DANDISET)
    assert keyed.count("DELETE") == 2


def test_a_failed_deletion_is_an_archive_error_without_the_key(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(keyed, tmp_path / "clone", paths())
    s = session(keyed, authenticate=True)
    [first, *_] = s.assets_under(clone / VDIR, VDIR)
    keyed.fail("DELETE", status=403)
    with pytest.raises(ArchiveError, match="HTTP 403") as info:
        s.delete_asset(first)
    assert KEY not in str(info.value)
    assert first.path in keyed.paths(DANDISET)


def test_redact_and_describe_error() -> None:
    assert redact("token abc and abc", ["abc", None, ""]) == (
        "token <redacted> and <redacted>"
    )
    response = requests.Response()
    response.status_code = 500
    response._content = b"  server\n  exploded  "
    error = requests.HTTPError(response=response)
    assert describe_error(error) == "HTTP 500: server exploded"
    assert describe_error(ValueError("bad")) == "ValueError: bad"
