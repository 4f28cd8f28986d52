"""Helpers shared by the manifest tests: manifests in the real record shape."""

from __future__ import annotations

import json
from typing import Any

from dandi_compute_plugin import AssetMetadata, load_assets_jsonld_metadata

from ..records import asset_record, example_paths

#: where the served manifest of 001697's draft lives on the test server
PATH = "/dandisets/001697/draft/assets.jsonld"
TEMPLATE_PATH = "/dandisets/{dandiset_id}/{version}/assets.jsonld"


def dumps(records: list[Any]) -> bytes:
    """A manifest as the archive writes it: one compact JSON array, UTF-8."""
    return json.dumps(records, separators=(",", ":"), ensure_ascii=False).encode()


def example_records() -> list[dict[str, Any]]:
    """The example clone's records, plus a zarr, a digit-string size, a query."""
    records = [asset_record(p) for p in example_paths()]
    records.append(asset_record("derivatives/dandiset-000233/probe.zarr", zarr=True))
    records[1]["contentSize"] = "1234"  # a digit string is accepted as an int
    records[2]["contentUrl"][1] += "?versionId=abc"  # the query string is dropped
    return records


def expected_metadata(record: dict[str, Any]) -> AssetMetadata:
    """The extraction of ``dandi_compute_code.dandiset``, written out independently."""
    url = next(u for u in record["contentUrl"] if "/blobs/" in u or "/zarr/" in u)
    return AssetMetadata(
        path=record["path"],
        date_modified=record["dateModified"],
        content_size=int(record["contentSize"]),
        content_id=url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0],
    )


def load_fresh(*args: Any, **kwargs: Any) -> Any:
    """``load_assets_jsonld_metadata`` past its per-process memo: each call reads
    the manifest (and the download cache) again, as a new process would."""
    load_assets_jsonld_metadata.cache_clear()  # type: ignore[attr-defined]
    return load_assets_jsonld_metadata(*args, **kwargs)
