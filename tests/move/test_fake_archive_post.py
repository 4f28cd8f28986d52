"""The fake archive's ``POST .../assets/`` answers as the real one does."""

from __future__ import annotations

from dandi.dandiapi import DandiAPIClient
import pytest
import requests

from ..archive import FakeArchive
from ..archive.clones import KEY
from ..records import asset_record

SOURCE, TARGET = "001697", "001873"


@pytest.fixture
def two(archive: FakeArchive) -> FakeArchive:
    archive.add_dandiset(SOURCE, [asset_record("a/x.bin"), asset_record("a/y.bin")])
    archive.add_dandiset(TARGET, [asset_record("b/taken.bin")])
    return archive


def _post(archive: FakeArchive, body: dict, key: str | None = KEY) -> requests.Response:
    headers = {"Authorization": f"token {key}"} if key else {}
    return requests.post(
        f"{archive.api_url}/dandisets/{TARGET}/versions/draft/assets/",
        json=body,
        headers=headers,
        timeout=10,
    )


def _body(archive: FakeArchive, path: str, new_path: str | None = None) -> dict:
    asset = archive.assets(SOURCE)[path]
    return {
        "metadata": {**asset["metadata"], "path": new_path or path},
        "blob_id": asset["blob"],
    }


def test_an_owner_creates_an_asset_from_a_blob(two: FakeArchive) -> None:
    client = DandiAPIClient(two.api_url, token=KEY)
    body = _body(two, "a/x.bin")
    made = client.post(f"/dandisets/{TARGET}/versions/draft/assets/", json=body)
    source = two.assets(SOURCE)["a/x.bin"]
    assert made["path"] == "a/x.bin" and made["blob"] == source["blob"]
    assert made["asset_id"] != source["asset_id"]
    assert made["metadata"]["identifier"] == made["asset_id"]
    assert made["metadata"]["digest"] == source["metadata"]["digest"]
    assert two.paths(TARGET) == ["a/x.bin", "b/taken.bin"]
    assert two.count("POST") == 1


@pytest.mark.parametrize(
    "case, status",
    [
        ("missing blob", 404),
        ("path taken", 409),
        ("under a file", 409),
        ("no key", 401),
        ("stranger", 403),
        ("both ids", 400),
        ("no path", 400),
    ],
)
def test_refusals(two: FakeArchive, case: str, status: int) -> None:
    body, key = _body(two, "a/x.bin"), KEY
    if case == "missing blob":
        body["blob_id"] = "00000000-0000-4000-8000-000000000000"
    elif case == "path taken":
        body["metadata"]["path"] = "b/taken.bin"
    elif case == "under a file":
        body["metadata"]["path"] = "b/taken.bin/inner"
    elif case == "no key":
        key = None
    elif case == "stranger":
        key = "other-key-4567"
    elif case == "both ids":
        body["zarr_id"] = body["blob_id"]
    elif case == "no path":
        del body["metadata"]["path"]
    assert _post(two, body, key).status_code == status
    assert two.paths(TARGET) == ["b/taken.bin"]


def test_a_blob_outlives_its_deleted_asset(two: FakeArchive) -> None:
    body = _body(two, "a/x.bin")
    assert two.delete_asset(SOURCE, "draft", two.asset_ids(SOURCE)["a/x.bin"]) == 204
    assert _post(two, body).status_code == 200


def test_traffic_is_counted(two: FakeArchive) -> None:
    before = dict(two.traffic)
    response = _post(two, _body(two, "a/y.bin"))
    assert response.status_code == 200
    assert two.traffic["received"] - before["received"] > len(response.request.body)
    assert two.traffic["sent"] - before["sent"] > len(response.content)


def test_a_zarr_belongs_to_one_dandiset(two: FakeArchive) -> None:
    headers = {"Authorization": f"token {KEY}"}
    made = requests.post(
        f"{two.api_url}/zarr/",
        json={"name": "a/z.zarr", "dandiset": SOURCE},
        headers=headers,
        timeout=10,
    ).json()
    body = {"metadata": {"path": "a/z.zarr"}, "zarr_id": made["zarr_id"]}
    assert _post(two, body).status_code == 400  # into TARGET: not its Zarr
    missing = {**body, "zarr_id": "00000000-0000-4000-8000-000000000000"}
    assert _post(two, missing).status_code == 404
    assert two.paths(TARGET) == ["b/taken.bin"]
