"""The original: ``dandi_compute_code.dandiset``'s algorithm, copied as the oracle.

``load_assets_jsonld_metadata`` of ``dandi_compute_code.dandiset`` does exactly
this on the manifest's bytes (after ``json.load`` of the HTTP response); the tests
compare the plugin's index with what it gives.  Do not "fix" it: its quirks are
what the plugin must reproduce on every input it accepts.
"""

from __future__ import annotations

import json
from typing import Any

from dandi_compute_plugin import AssetMetadata


def build_asset_metadata(asset: dict[str, Any]) -> tuple[str, AssetMetadata]:
    """The original's ``_build_asset_metadata``: ValueError on missing fields."""
    content_size = asset.get("contentSize")
    if isinstance(content_size, str) and content_size.isdigit():
        content_size = int(content_size)
        asset["contentSize"] = content_size
    if not isinstance(content_size, int):
        raise ValueError(f"Asset missing valid 'contentSize': {asset!r}")
    path = asset.get("path")
    if not isinstance(path, str):
        raise ValueError(f"Asset missing valid 'path': {asset!r}")
    date_modified = asset.get("dateModified")
    if not isinstance(date_modified, str):
        raise ValueError(f"Asset {path!r} missing valid 'dateModified'")
    content_urls = asset.get("contentUrl")
    content_id = next(
        (
            url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
            for url in (content_urls if isinstance(content_urls, list) else [])
            if isinstance(url, str) and ("/blobs/" in url or "/zarr/" in url)
        ),
        None,
    )
    if not (isinstance(content_id, str) and content_id):
        raise ValueError(f"Asset at path {path!r} has no blob or zarr contentUrl")
    return content_id, AssetMetadata(
        path=path,
        date_modified=date_modified,
        content_size=content_size,
        content_id=content_id,
    )


def original_load(
    body: bytes,
) -> tuple[dict[str, dict[str, Any]], dict[str, AssetMetadata]]:
    """(content_id_to_asset, path_to_asset_metadata) as the original builds them
    from the manifest ``body``; ValueError where the original raises."""
    assets = json.loads(body)
    if not isinstance(assets, list):
        raise ValueError("Expected a JSON array")
    content_id_to_asset: dict[str, dict[str, Any]] = {}
    path_to_asset_metadata: dict[str, AssetMetadata] = {}
    for asset in assets:
        if not isinstance(asset, dict):
            raise ValueError("Expected each asset to be a dict")
        content_id, metadata = build_asset_metadata(asset)
        content_id_to_asset[content_id] = asset
        path_to_asset_metadata[metadata.path] = metadata
    return content_id_to_asset, path_to_asset_metadata
