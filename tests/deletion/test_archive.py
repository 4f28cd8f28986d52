"""The archive side of a deletion: dandi's real client against the fake archive."""

from __future__ import annotations

from dataclasses import replace
import io
from pathlib import Path

import pytest
import requests

from dandi_compute_plugin.deletion.archive import ArchiveSession, describe_error
from dandi_compute_plugin.deletion.secrets import redact
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
    seed(keyed, tmp_path / "clone", paths())
    other_case = VDIR.replace("version-v1", "VERSION-V1") + "/x.json"
    sibling = VDIR + "0/y.json"  # version-v10: shares the string prefix only
    keyed.add_assets(DANDISET, [asset_record(other_case), asset_record(sibling)])
    s = session(keyed, authenticate=True)
    listed = s.assets_under(VDIR)
    expected = sorted(p for p in paths() if p.startswith(VDIR + "/"))
    assert [a.path for a in listed] == expected
    assert sorted(s.remaining(VDIR).values()) == expected
    # one paginated listing with the digests, not a request per asset
    assert keyed.count("GET", r"/assets/$") == 2
    records = {p: asset_record(p) for p in expected}
    assert [a.digest for a in listed] == [
        records[p]["digest"]["dandi:dandi-etag"] for p in expected
    ]
    assert [a.asset_id for a in listed] == [records[p]["identifier"] for p in expected]


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("asset_id", "../../../../001697", "an asset id that is not a UUID"),
        ("path", VDIR + "/../../escape.json", "not normalised below"),
        ("path", VDIR + "//x.json", "not normalised below"),
        ("size", -1, "an asset size that is not a size"),
        ("blob", "not-a-uuid", "a blob id that is not a UUID"),
    ],
)
def test_what_the_server_lists_is_checked_before_use(
    keyed: FakeArchive, tmp_path: Path, field: str, value: object, problem: str
) -> None:
    seed(keyed, tmp_path / "clone", paths())
    with keyed._lock:
        draft = keyed._dandisets[DANDISET]["draft"]
        asset = next(a for a in draft.values() if a["path"].startswith(VDIR + "/"))
        asset[field] = value
    s = session(keyed, authenticate=True)
    with pytest.raises(ArchiveError, match=problem):
        s.assets_under(VDIR)
    assert keyed.count("DELETE") == 0


def test_deleting_an_asset_that_is_already_gone_is_not_an_error(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    seed(keyed, tmp_path / "clone", paths())
    s = session(keyed, authenticate=True)
    [first, *_] = s.assets_under(VDIR)
    s.delete_asset(first)
    s.delete_asset(first)  # a 404 now: gone, as wanted
    assert first.path not in keyed.paths(DANDISET)
    assert keyed.count("DELETE") == 2


def test_an_asset_id_that_is_not_a_uuid_never_reaches_a_url(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    seed(keyed, tmp_path / "clone", paths())
    s = session(keyed, authenticate=True)
    [first, *_] = s.assets_under(VDIR)
    forged = replace(first, asset_id="../../../../001697")
    with pytest.raises(ArchiveError, match="not a UUID"):
        s.delete_asset(forged)
    assert keyed.count("DELETE") == 0


def test_a_failed_deletion_is_an_archive_error_without_the_key(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    seed(keyed, tmp_path / "clone", paths())
    s = session(keyed, authenticate=True)
    [first, *_] = s.assets_under(VDIR)
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
    response.raw = io.BytesIO(b"  server\n  exploded  ")
    error = requests.HTTPError(response=response)
    assert describe_error(error) == "HTTP 500: server exploded"
    assert describe_error(ValueError("bad")) == "ValueError: bad"


def test_a_next_page_elsewhere_is_not_followed(keyed: FakeArchive, tmp_path: Path):
    seed(keyed, tmp_path / "clone", paths())
    keyed.page_size = keyed.max_page_size = 1  # every asset on a page of its own
    s = session(keyed, authenticate=True)
    expected = sorted(p for p in paths() if p.startswith(VDIR + "/"))
    assert [a.path for a in s.assets_under(VDIR)] == expected  # pages followed
    with FakeArchive(tokens={}) as elsewhere:
        keyed.next_origin = elsewhere.url
        with pytest.raises(ArchiveError, match="not followed") as info:
            s.assets_under(VDIR)
        assert elsewhere.log == []  # not a single request, so not the key
        assert elsewhere.url.rsplit(":", 1)[1] in str(info.value)


def test_an_answer_that_trickles_in_is_not_waited_for(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    seed(keyed, tmp_path / "clone", paths())
    s = ArchiveSession(keyed.url, DANDISET, authenticate=True, timeout=1.0)
    # every read in time; the whole page, a byte every 0.05 s, far later
    trickling = keyed.fail("GET", r"/assets/$", trickle=0.05, times=1)
    with pytest.raises(requests.exceptions.ReadTimeout, match="within the 1 s timeout"):
        s.assets_under(VDIR)
    # the client hung up on the trickle, it did not wait for it to end
    assert keyed.accounting.wait_for(lambda: trickling.cut == 1, 60)
    assert len(s.assets_under(VDIR)) == 3  # an ordinary answer is read whole
