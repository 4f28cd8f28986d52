"""Reading manifests: the index, every bad-input case, sources and network failures.

Manifests are generated in the real record shape (``records.py``) and served by a
real HTTP server on 127.0.0.1 (``server.py``).
"""

from __future__ import annotations

import inspect
import io
import json
from pathlib import Path
import socket
import sys
from typing import Any

import pytest

from dandi_compute_plugin import (
    AssetsJsonldMetadata,
    delete_dandiset_version,
    iter_asset_metadata,
    load_assets_jsonld_metadata,
)
from dandi_compute_plugin.defaults import INSTANCE_ENV
from dandi_compute_plugin.errors import (
    ManifestFormatError,
    ManifestLocationError,
    ManifestUnavailableError,
)
from dandi_compute_plugin.manifest import (
    MANIFEST_URL_ENV,
    ManifestRequest,
    manifest_url,
)
from dandi_compute_plugin.versions import (
    iter_version_directories,
    remote_version_directories,
)

from ..records import asset_record, build_clone, example_paths
from .common import PATH, dumps, example_records, expected_metadata, load_fresh
from .original import original_load
from .server import ManifestServer

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "dandiset-001697"


# ------------------------------------------------------------------ the index


def test_index_from_url_matches_every_record(server: ManifestServer) -> None:
    records = example_records()
    server.add(PATH, dumps(records))
    index = load_fresh(source=server.url(PATH))
    assert isinstance(index, AssetsJsonldMetadata)
    assert list(index.path_to_asset_metadata) == [r["path"] for r in records]
    by_id = original_load(dumps(records))[0]
    for record in records:
        meta = index.path_to_asset_metadata[record["path"]]
        assert meta == expected_metadata(record)
        assert index.content_id_to_asset[meta.content_id] == by_id[meta.content_id]
    assert index.path_to_asset_metadata[records[1]["path"]].content_size == 1234
    # the digit string is an int in the record too, as in the original
    one = index.path_to_asset_metadata[records[1]["path"]].content_id
    assert index.content_id_to_asset[one]["contentSize"] == 1234
    zarr = index.path_to_asset_metadata["derivatives/dandiset-000233/probe.zarr"]
    assert records[-1]["contentUrl"][1].endswith(f"/zarr/{zarr.content_id}/")
    assert "?" not in index.path_to_asset_metadata[records[2]["path"]].content_id


def test_keep_records_keeps_the_full_records(server: ManifestServer) -> None:
    records = example_records()
    records[0]["measure"] = {"value": 0.1, "ratio": 1e-7, "count": 3}
    server.add(PATH, dumps(records))
    index = load_fresh(source=server.url(PATH), keep_records=True)
    # what the original gives: floats as float, a contentSize of digits an int
    expected = {r["identifier"]: r for r in original_load(dumps(records))[0].values()}
    for record in records:
        meta = index.path_to_asset_metadata[record["path"]]
        kept = index.content_id_to_asset[meta.content_id]
        assert kept == expected[record["identifier"]]
        assert json.dumps(kept) == json.dumps(expected[record["identifier"]])
    assert type(kept["contentSize"]) is type(record["contentSize"])


def test_shared_blob_last_record_wins_in_content_id_index(tmp_path: Path) -> None:
    blob = "11111111-2222-4333-8444-555555555555"
    records = [asset_record("a.txt", blob_id=blob), asset_record("b.txt", blob_id=blob)]
    (tmp_path / "m.jsonld").write_bytes(dumps(records))
    index = load_fresh(source=tmp_path / "m.jsonld")
    assert set(index.path_to_asset_metadata) == {"a.txt", "b.txt"}
    assert index.content_id_to_asset[blob]["path"] == "b.txt"


def test_iterator_streams_the_same_metadata(server: ManifestServer) -> None:
    records = example_records()
    server.add(PATH, dumps(records))
    assets = iter_asset_metadata(source=server.url(PATH))
    assert not isinstance(assets, list | tuple)
    assert list(assets) == [expected_metadata(r) for r in records]


def test_empty_array_is_an_empty_index_and_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "m.jsonld").write_bytes(b"[]")
    index = load_fresh(source=str(tmp_path / "m.jsonld"))
    assert index.path_to_asset_metadata == {} and index.content_id_to_asset == {}


def test_file_stdin_and_stream_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = example_records()
    body = dumps(records)
    (tmp_path / "m.jsonld").write_bytes(body)
    expected = [expected_metadata(r) for r in records]
    assert list(iter_asset_metadata(source=tmp_path / "m.jsonld")) == expected
    assert list(iter_asset_metadata(source=io.BytesIO(body))) == expected
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))
    assert list(iter_asset_metadata(source="-")) == expected


def test_white_space_and_bom_around_the_array_are_accepted(tmp_path: Path) -> None:
    records = example_records()[:3]
    body = b"\xef\xbb\xbf \n" + json.dumps(records, indent=2).encode() + b"\n"
    (tmp_path / "m.jsonld").write_bytes(body)
    got = list(iter_asset_metadata(source=tmp_path / "m.jsonld"))
    assert got == [expected_metadata(r) for r in records]


def test_real_001697_manifest_when_present() -> None:
    manifest = SHARED / "assets.jsonld"
    if not manifest.exists():
        pytest.skip("../shared/fixtures is not present")
    records = json.loads(manifest.read_bytes())
    index = load_fresh(source=manifest)
    assert len(index.path_to_asset_metadata) == len(records) == 96
    assert list(index.path_to_asset_metadata.values()) == [
        expected_metadata(r) for r in records
    ]


# ------------------------------------------------------------- bad input


def manifest_with(bad: Any, position: int = 2) -> bytes:
    """Three good records with ``bad`` as record ``position`` (from 1)."""
    records: list[Any] = [asset_record(f"good/{i}.txt") for i in range(3)]
    records[position - 1] = bad
    return dumps(records)


def changed(**fields: Any) -> dict[str, Any]:
    """The record of ``bad/x.txt`` with ``fields`` replaced (KeyError: removed)."""
    record = asset_record("bad/x.txt")
    for key, value in fields.items():
        if value is KeyError:
            del record[key]
        else:
            record[key] = value
    return record


API_ONLY = ["https://api.dandiarchive.org/api/assets/abc/download/"]

BAD_RECORDS = {
    "not-an-object": (5, None, "a number, not an object"),
    "a-list": ([1], None, "an array, not an object"),
    "no-path": (changed(path=KeyError), None, "'path' is missing"),
    "path-not-string": (changed(path=17), None, "'path' is a number"),
    "path-empty": (changed(path=""), None, "'path' is empty"),
    "path-absolute": (changed(path="/etc/passwd"), None, "not a relative POSIX"),
    "path-dotdot": (changed(path="a/../b"), None, "'..' component"),
    "no-size": (changed(contentSize=KeyError), "bad/x.txt", "'contentSize' is missing"),
    "size-float": (changed(contentSize=1.5), "bad/x.txt", "not a size in bytes"),
    "size-text": (changed(contentSize="12kB"), "bad/x.txt", "not a size in bytes"),
    "size-bool": (changed(contentSize=True), "bad/x.txt", "not a size in bytes"),
    "size-null": (changed(contentSize=None), "bad/x.txt", "not a size in bytes"),
    "size-negative": (changed(contentSize=-1), "bad/x.txt", "negative"),
    "no-date": (
        changed(dateModified=KeyError),
        "bad/x.txt",
        "'dateModified' is missing",
    ),
    "date-text": (changed(dateModified="yesterday"), "bad/x.txt", "not an ISO 8601"),
    "date-number": (changed(dateModified=20240101), "bad/x.txt", "not an ISO 8601"),
    "no-content-url": (changed(contentUrl=KeyError), "bad/x.txt", "no blob or zarr"),
    "api-url-only": (changed(contentUrl=API_ONLY), "bad/x.txt", "no blob or zarr"),
    "content-url-string": (
        changed(contentUrl="https://x/blobs/a/b/c"),
        "bad/x.txt",
        "no blob or zarr",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_bad_record_names_its_number_and_path(case: str, tmp_path: Path) -> None:
    bad, path, problem = BAD_RECORDS[case]
    (tmp_path / "m.jsonld").write_bytes(manifest_with(bad, position=2))
    with pytest.raises(ManifestFormatError) as info:
        load_fresh(source=tmp_path / "m.jsonld")
    err = info.value
    assert err.record == 2
    assert err.path == path
    assert problem in err.problem
    assert "record 2" in str(err) and str(tmp_path / "m.jsonld") in str(err)
    if path is not None:
        assert repr(path) in str(err)


def test_iterator_yields_the_good_records_then_raises(tmp_path: Path) -> None:
    (tmp_path / "m.jsonld").write_bytes(manifest_with(changed(contentSize="x"), 3))
    assets = iter_asset_metadata(source=tmp_path / "m.jsonld")
    assert [next(assets).path, next(assets).path] == ["good/0.txt", "good/1.txt"]
    with pytest.raises(ManifestFormatError, match="record 3"):
        next(assets)


def good_body() -> bytes:
    return dumps([asset_record(f"good/{i}.txt") for i in range(3)])


BAD_JSON = {
    "object": (b'{"path": "x"}', None, "a JSON object, not a JSON array"),
    "string": (b'"text"', None, "a JSON string, not a JSON array"),
    "number": (b"42", None, "not a JSON array"),
    "empty": (b"", None, "empty"),
    "white-space": (b" \n\t ", None, "only white space"),
    "truncated-inside-record": (good_body()[:-40], 3, "truncated JSON"),
    "truncated-after-comma": (
        good_body()[: good_body().index(b',{"@context"', 10) + 1],
        2,
        "truncated JSON",
    ),
    "no-closing-bracket": (good_body()[:-1], 4, "truncated JSON"),
    "invalid-utf8": (
        good_body().replace(b"good/1.txt", b"good/\xff.txt"),
        2,
        "invalid UTF-8",
    ),
    "syntax": (good_body().replace(b'"good/2.txt"', b"good/2.txt"), 3, "invalid JSON"),
    "trailing-garbage": (good_body() + b" [1]", None, "after the closing ']'"),
}


@pytest.mark.parametrize("case", sorted(BAD_JSON))
def test_bad_json_is_a_clear_error(case: str, tmp_path: Path) -> None:
    body, record, problem = BAD_JSON[case]
    (tmp_path / "m.jsonld").write_bytes(body)
    with pytest.raises(ManifestFormatError) as info:
        load_fresh(source=tmp_path / "m.jsonld")
    assert problem in info.value.problem
    assert info.value.record == record
    if record is not None and record > 1:
        # the last good record is named, so the place is found in a huge file
        assert f"after record {record - 1}, path 'good/{record - 2}.txt'" in str(
            info.value
        )


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestUnavailableError, match="No manifest file"):
        load_fresh(source=tmp_path / "nope.jsonld")


# ------------------------------------------------------------------ network


def test_http_404_and_403_are_clear_errors(server: ManifestServer) -> None:
    with pytest.raises(ManifestUnavailableError) as info:
        load_fresh(source=server.url("/nothing/here"))
    assert info.value.status == 404 and "404" in str(info.value)
    server.add(PATH, b"[]", mode="403")
    with pytest.raises(ManifestUnavailableError) as info:
        load_fresh(source=server.url(PATH))
    assert info.value.status == 403 and "not public" in str(info.value)
    server.add(PATH, b"[]", mode="500")
    with pytest.raises(ManifestUnavailableError, match="HTTP 500"):
        load_fresh(source=server.url(PATH))


def test_unknown_dandiset_via_instance_template_says_so(
    server: ManifestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        MANIFEST_URL_ENV, server.url("/dandisets/{dandiset_id}/{version}/assets.jsonld")
    )
    with pytest.raises(ManifestUnavailableError) as info:
        load_fresh("999999", "draft")
    message = str(info.value)
    assert "dandiset 999999 version draft" in message and "does not exist" in message


def test_connection_refused(cache_dir: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ManifestUnavailableError, match="Could not download") as info:
        load_fresh(source=f"http://127.0.0.1:{port}/m.jsonld")
    assert info.value.status is None


@pytest.mark.parametrize(
    ("mode", "error", "text"),
    [
        ("drop", ManifestUnavailableError, "Could not download"),
        ("truncate", ManifestUnavailableError, "failed after"),
        ("truncate-eof", ManifestFormatError, "truncated JSON"),
    ],
)
def test_broken_downloads_raise_and_cache_nothing(
    server: ManifestServer, cache_dir: Path, mode: str, error: type, text: str
) -> None:
    server.add(PATH, dumps(example_records()), mode=mode)
    with pytest.raises(error, match=text):
        load_fresh(source=server.url(PATH))
    assert not list(cache_dir.rglob("meta.json"))
    assert not list(cache_dir.rglob("*.tmp"))


@pytest.mark.parametrize("mode", ["truncate", "stall"])
def test_a_broken_download_names_the_bytes_received(
    server: ManifestServer, mode: str
) -> None:
    body = dumps(example_records() * 50)  # longer than the chunks read at once
    server.stall_seconds = 5
    server.add(PATH, body, mode=mode)
    with pytest.raises(ManifestUnavailableError) as info:
        load_fresh(source=server.url(PATH), timeout=0.5)
    assert f"failed after {len(body) // 2} of {len(body)} bytes" in str(info.value)


def test_a_stalled_download_times_out(server: ManifestServer) -> None:
    server.stall_seconds = 5
    server.add(PATH, dumps(example_records()), mode="stall")
    with pytest.raises(ManifestUnavailableError, match="failed after"):
        load_fresh(source=server.url(PATH), timeout=0.5)


def test_gzip_content_encoding(server: ManifestServer) -> None:
    records = example_records()
    server.add(PATH, dumps(records), mode="gzip")
    got = list(iter_asset_metadata(source=server.url(PATH)))
    assert got == [expected_metadata(r) for r in records]
    assert "gzip" in (server.requests[0].accept_encoding or "")
    again = list(iter_asset_metadata(source=server.url(PATH)))
    assert again == got and server.statuses(PATH) == [200, 304]


def test_slow_body_is_parsed_as_it_arrives_with_progress(
    server: ManifestServer,
) -> None:
    records = [asset_record(f"slow/{i}.txt") for i in range(200)]
    body = dumps(records)
    server.add(PATH, body, mode="slow")
    seen: list[tuple[int, int | None]] = []
    assets = iter_asset_metadata(
        source=server.url(PATH), progress=lambda d, t: seen.append((d, t))
    )
    first = next(assets)
    # the first record is out while most of the body is still on its way
    assert first.path == "slow/0.txt" and seen[-1][0] < len(body)
    assert [first, *assets] == [expected_metadata(r) for r in records]
    assert len(seen) >= 3 and seen[-1] == (len(body), len(body))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


# ------------------------------------------------------------ instances


def test_manifest_url_of_the_main_instance() -> None:
    s3 = "https://dandiarchive.s3.amazonaws.com/dandisets/001697/draft/assets.jsonld"
    assert manifest_url() == s3
    assert manifest_url("DANDI:001697", "draft", "https://dandiarchive.org") == s3
    assert manifest_url("001697", "draft", "https://api.dandiarchive.org/api/") == s3
    assert manifest_url("000233", "0.230629.1955", "dandi").endswith(
        "/dandisets/000233/0.230629.1955/assets.jsonld"
    )


def test_no_instance_means_the_environments_as_for_a_deletion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    main = manifest_url("001697", "draft", "dandi")
    for value in (None, "", "dandi"):
        if value is None:
            monkeypatch.delenv(INSTANCE_ENV, raising=False)
        else:
            monkeypatch.setenv(INSTANCE_ENV, value)
        assert manifest_url("001697", "draft", None) == main
        assert ManifestRequest(dandi_instance=None).dandi_instance == "dandi"
    # read at call time, and named when it has no known manifest location
    monkeypatch.setenv(INSTANCE_ENV, "dandi-sandbox")
    with pytest.raises(ManifestLocationError, match="'dandi-sandbox' is not known"):
        manifest_url("001697", "draft", None)
    with pytest.raises(ManifestLocationError, match="'dandi-sandbox' is not known"):
        load_fresh("001697", "draft", dandi_instance=None)
    # a request made now keeps the instance of now: the memo cannot mix the two
    request = ManifestRequest(dandi_instance=None)
    monkeypatch.setenv(INSTANCE_ENV, "dandi")
    assert request.dandi_instance == "dandi-sandbox"
    assert request != ManifestRequest(dandi_instance=None)


@pytest.mark.parametrize(
    "function", [manifest_url, iter_asset_metadata, load_assets_jsonld_metadata]
)
def test_the_manifest_functions_take_the_instance_as_a_deletion_does(
    function: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Called without an instance, they read ``$DANDI_INSTANCE`` as
    ``delete_dandiset_version`` and ``-i`` do: never the main archive's
    manifest while a deletion of the same call would go to another instance."""
    instance = inspect.signature(function).parameters["dandi_instance"].default
    deletion = inspect.signature(delete_dandiset_version).parameters["dandi_instance"]
    assert instance is deletion.default is None
    monkeypatch.setenv(INSTANCE_ENV, "dandi-sandbox")
    assert ManifestRequest().dandi_instance == "dandi-sandbox"
    with pytest.raises(ManifestLocationError, match="'dandi-sandbox' is not known"):
        result = function("001697", "draft")
        if function is iter_asset_metadata:
            list(result)


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("001697", "draft", "dandi-sandbox"), "pass --source"),
        (("001697", "draft", "https://example.org"), "pass --source"),
        (("001697", "draft", "no-such-instance"), "Unknown DANDI instance"),
        (("1697", "draft", "dandi"), "Invalid dandiset id"),
        (("001697", "latest/../x", "dandi"), "Invalid dandiset version"),
    ],
)
def test_underivable_locations_are_errors(args: tuple, text: str) -> None:
    with pytest.raises(ManifestLocationError, match=text):
        load_fresh(*args[:2], dandi_instance=args[2])


def test_instance_manifests_through_a_url_template(
    server: ManifestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = example_records()
    server.add(PATH, dumps(records))
    template = server.url("/dandisets/{dandiset_id}/{version}/assets.jsonld")
    index = load_fresh("001697", "draft", url_template=template)
    assert len(index.path_to_asset_metadata) == len(records)
    monkeypatch.setenv(MANIFEST_URL_ENV, template)
    # a positional call as to dandi_compute_code.dandiset, on an instance dandi
    # does not know a bucket for
    index = load_fresh("001697", dandi_instance="dandi-sandbox")
    assert len(index.path_to_asset_metadata) == len(records)
    assert {r.path for r in server.requests} == {PATH}


# ----------------------------------------------------------- remote scan


def test_remote_scan_finds_what_the_local_scan_finds(tmp_path: Path) -> None:
    paths = example_paths()
    clone = build_clone(tmp_path / "001697", paths)
    records = [asset_record(p, size=100 + i) for i, p in enumerate(paths)]
    (tmp_path / "m.jsonld").write_bytes(dumps(records))
    for version in ("v1.1.1", "v1.1.0", "v1.1.1+b268fd2", "v1.1.10", "v9"):
        remote = remote_version_directories(
            iter_asset_metadata(source=tmp_path / "m.jsonld"), version, clone
        )
        local = sorted(
            iter_version_directories(clone, version), key=lambda d: d.relpath
        )
        assert [r.directory for r in remote] == local
        for found in remote:
            inside = [
                r
                for r in records
                if r["path"].startswith(found.directory.relpath + "/")
            ]
            assert found.asset_count == len(inside) > 0
            assert found.total_bytes == sum(r["contentSize"] for r in inside)
            assert found.as_record() == {
                **found.directory.as_record(),
                "asset_count": found.asset_count,
                "total_bytes": found.total_bytes,
            }
