"""The fake archive (``tests/archive/server.py``) against the real one: the same
requests to both, and the parts of the answers the plugin depends on must agree.

Both hold the same dandiset: uploaded to the real archive by ``dandi upload``, and
seeded into the fake from the real listing's metadata (same ids, paths, order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ..archive import FakeArchive
from .services import RealArchive
from .world import PARAMS, Api, dandi_env, upload, version_dir, write_files, write_zarr

DIR = version_dir("000233", "CGM3", "v1.1.1", "CGM3") + "/" + PARAMS
FILES = {f"{DIR}/logs/file-{i:02d}.txt": f"file {i}\n".encode() for i in range(7)}
FILES[f"{DIR}/code/Submit.SH"] = b"#!/bin/sh\n"
ZARR = f"{DIR}/output/traces.zarr"
GONE = f"{DIR}/logs/file-06.txt"  # deleted from the draft on both
MISSING_UUID = "00000000-0000-4000-8000-000000000000"


@dataclass
class Pair:
    """The real and the fake archive holding the same dandiset."""

    real: Api
    fake: Api
    dandiset: str
    ids: dict[str, str]  # path -> asset id
    stranger_key: str


@pytest.fixture(scope="module")
def pair(real_archive: RealArchive, tmp_path_factory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("contract")
    real = Api(real_archive.api_url, real_archive.key)
    dandiset = real.new_dandiset("contract")
    clone = tmp / "clone"
    write_files(clone, FILES)
    write_zarr(clone, ZARR)
    (clone / "dandiset.yaml").write_text(f"identifier: DANDI:{dandiset}\nname: x\n")
    upload(real_archive, clone, dandi_env(real_archive, tmp / "home", real_archive.key))
    assets = sorted(real.assets(dandiset, metadata="1"), key=lambda a: a["created"])
    stranger = real_archive.create_user("stranger")
    tokens = {real_archive.key: "owner", stranger: "stranger"}
    with FakeArchive(tokens=tokens) as fake_archive:
        fake_archive.add_dandiset(dandiset, [a["metadata"] for a in assets])
        fake = Api(fake_archive.api_url, real_archive.key)
        ids = {a["path"]: a["asset_id"] for a in assets}
        for api in (real, fake):
            url = f"/dandisets/{dandiset}/versions/draft/assets/{ids[GONE]}/"
            assert api.request("DELETE", url).status_code == 204
        yield Pair(real, fake, dandiset, ids, stranger)


# /info/ fields of archives newer than the snapshot: the fake answers as those
NEWER_INFO_KEYS = {"cli-requires-python", "instance_config", "allowed_schema_versions"}


# -- what of an answer the plugin depends on -------------------------------------


def _asset_view(asset: dict[str, Any]) -> dict[str, Any]:
    view = {k: asset.get(k) for k in ("asset_id", "path", "size", "blob", "zarr")}
    view["keys"] = sorted(set(asset) - {"metadata"})
    if "metadata" in asset:
        meta = asset["metadata"]
        view["metadata"] = {
            k: meta.get(k) for k in ("identifier", "path", "contentSize", "digest")
        }
    return view


def _query(link: str | None) -> dict[str, list[str]] | None:
    return None if link is None else parse_qs(urlsplit(link).query)


def view(r: requests.Response) -> dict[str, Any]:
    """Status, kind of body, and the fields the plugin reads."""
    out: dict[str, Any] = {"status": r.status_code}
    if r.is_redirect:
        out["location"] = urlsplit(r.headers["Location"]).path
        return out
    if "json" not in r.headers.get("Content-Type", ""):
        out["body"] = "empty" if not r.content else "not JSON"
        return out
    body = r.json()
    if isinstance(body, dict) and "results" in body:
        out["count"] = body["count"]
        out["next"] = _query(body["next"])
        out["previous"] = _query(body["previous"])
        out["results"] = [_asset_view(a) for a in body["results"]]
    elif isinstance(body, dict) and "asset_id" in body:
        out["asset"] = _asset_view(body)
    elif isinstance(body, dict) and set(body) == {"detail"}:
        out["detail"] = body["detail"]
    elif isinstance(body, dict):
        out["keys"] = sorted(set(body) - NEWER_INFO_KEYS)
    else:
        out["body"] = type(body).__name__
    return out


# -- the checks: (name, request) ---------------------------------------------------

Request = Callable[[Pair, Api], requests.Response]


def listing(**params: Any) -> Request:
    def send(p: Pair, api: Api) -> requests.Response:
        url = f"/dandisets/{p.dandiset}/versions/draft/assets/"
        return api.get(url, params=params)

    return send


def asset(which: str, suffix: str = "", method: str = "GET") -> Request:
    def send(p: Pair, api: Api) -> requests.Response:
        asset_id = p.ids.get(which, which)
        url = f"/dandisets/{p.dandiset}/versions/draft/assets/{asset_id}/{suffix}"
        return api.request(method, url)

    return send


def raw(method: str, path: str, key: str | None = "owner") -> Request:
    def send(p: Pair, api: Api) -> requests.Response:
        other = Api(api.api_url)
        if key == "stranger":
            other.session.headers["Authorization"] = f"token {p.stranger_key}"
        elif key in ("owner", "Token"):  # the owner's key, the scheme as given
            owner = api.session.headers["Authorization"].split()[1]
            scheme = "Token" if key == "Token" else "token"
            other.session.headers["Authorization"] = f"{scheme} {owner}"
        elif key is not None:
            other.session.headers["Authorization"] = key
        return other.request(method, path.format(ds=p.dandiset))

    return send


FILE = f"{DIR}/logs/file-01.txt"
CHECKS: dict[str, Request] = {
    "listing, default page": listing(),
    "listing, page_size=3": listing(page_size=3),
    "listing, page 2 of 3": listing(page_size=3, page=2),
    "listing, last page": listing(page_size=3, page=3),
    "listing, page past the end": listing(page_size=3, page=9),
    "listing, page_size=1000": listing(page_size=1000),
    "listing, page_size=0": listing(page_size=0),
    "listing, page_size=junk": listing(page_size="junk"),
    "listing, metadata=1": listing(metadata="1", page_size=3),
    "listing, metadata=true": listing(metadata="true", page_size=3),
    "listing, metadata=bogus": listing(metadata="bogus"),
    "listing, path= prefix": listing(path=f"{DIR}/logs/"),
    "listing, path= other case": listing(path=f"{DIR}/LOGS/".upper()),
    "listing, path= one file": listing(path=FILE),
    "listing, path= one file, other case": listing(path=FILE.upper()),
    "listing, path= a deleted file": listing(path=GONE),
    "listing, path= nothing": listing(path="derivatives/none/"),
    "listing, path= the Zarr": listing(path=ZARR, metadata="1"),
    "listing, glob=*.txt": listing(glob="*.txt"),
    "listing, glob= other case": listing(glob="*.TXT"),
    "listing, glob= a directory": listing(glob=f"{DIR}/logs/*"),
    "listing, glob= no match": listing(glob="*.nwb"),
    "listing, order=path": listing(order="path"),
    "listing, order=-path": listing(order="-path"),
    "asset metadata": asset(FILE),
    "asset info": asset(FILE, "info/"),
    "Zarr asset info": asset(ZARR, "info/"),
    "asset deleted from the draft": asset(GONE),
    "asset deleted from the draft, info": asset(GONE, "info/"),
    "asset deleted again": asset(GONE, method="DELETE"),
    "asset unknown": asset(MISSING_UUID),
    "asset unknown, info": asset(MISSING_UUID, "info/"),
    "asset unknown, DELETE": asset(MISSING_UUID, method="DELETE"),
    "asset id malformed": asset("not-a-uuid"),
    "listing without trailing slash": raw(
        "GET", "/dandisets/{ds}/versions/draft/assets?page_size=2"
    ),
    "DELETE without trailing slash": raw(
        "DELETE", f"/dandisets/{{ds}}/versions/draft/assets/{MISSING_UUID}"
    ),
    "dandiset": raw("GET", "/dandisets/{ds}/"),
    "dandiset without trailing slash": raw("GET", "/dandisets/{ds}"),
    "dandiset unknown": raw("GET", "/dandisets/999999/"),
    "dandiset unknown, listing": raw("GET", "/dandisets/999999/versions/draft/assets/"),
    "version unknown, listing": raw(
        "GET", "/dandisets/{ds}/versions/0.999999.9999/assets/"
    ),
    "draft version": raw("GET", "/dandisets/{ds}/versions/draft/"),
    "draft version info": raw("GET", "/dandisets/{ds}/versions/draft/info/"),
    "info": raw("GET", "/info/"),
    "auth token": raw("GET", "/auth/token/"),
    "auth token without a key": raw("GET", "/auth/token/", key=None),
    "auth token, Token capitalized": raw("GET", "/auth/token/", key="Token"),
    "a wrong key": raw("GET", "/dandisets/{ds}/", key="token " + "0" * 40),
    "DELETE without a key": raw(
        "DELETE", f"/dandisets/{{ds}}/versions/draft/assets/{MISSING_UUID}/", key=None
    ),
    "DELETE by a stranger": raw(
        "DELETE",
        f"/dandisets/{{ds}}/versions/draft/assets/{MISSING_UUID}/",
        key="stranger",
    ),
    "DELETE of an asset by a stranger": lambda p, api: raw(
        "DELETE",
        f"/dandisets/{{ds}}/versions/draft/assets/{p.ids[FILE]}/",
        key="stranger",
    )(p, api),
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_fake_answers_as_the_real_archive(pair: Pair, name: str) -> None:
    check = CHECKS[name]
    real, fake = view(check(pair, pair.real)), view(check(pair, pair.fake))
    if "keys" in real and "keys" in fake:
        # the fake may leave fields out, never invent one
        assert set(fake.pop("keys")) <= set(real.pop("keys")), (real, fake)
    assert fake == real, (name, real, fake)


def test_the_fakes_listing_order_is_the_archives(pair: Pair) -> None:
    paths = [a["path"] for a in pair.real.assets(pair.dandiset)]
    assert [a["path"] for a in pair.fake.assets(pair.dandiset)] == paths
    assert GONE not in paths and len(paths) == len(FILES)
