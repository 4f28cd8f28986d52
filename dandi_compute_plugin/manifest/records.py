"""What the manifest reader hands out: the metadata of an asset, and the index.

An ``assets.jsonld`` record carries dozens of fields; the reader keeps four of them
(:data:`Fields`), checked, and makes an :class:`AssetMetadata` of them only when one
is asked for.  :class:`AssetsJsonldMetadata` is the index of a whole manifest, as
``dandi_compute_code.dandiset`` returns it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: the checked fields of a record: path, date_modified, content_size, content_id
Fields = tuple[str, str, int, str]


@dataclass(frozen=True, slots=True)
class AssetMetadata:
    """What the index keeps of one asset record.

    Attributes
    ----------
    path
        The asset's path in the dandiset (POSIX, relative).
    date_modified
        ``dateModified``, as written in the manifest (ISO 8601).
    content_size
        ``contentSize`` in bytes.
    content_id
        The blob UUID or zarr id: the last path component of the ``contentUrl``
        entry that contains ``/blobs/`` or ``/zarr/``.
    """

    path: str
    date_modified: str
    content_size: int
    content_id: str

    def as_record(self) -> dict[str, Any]:
        """Return the output record of ``dandi compute index``."""
        return {
            "path": self.path,
            "date_modified": self.date_modified,
            "content_size": self.content_size,
            "content_id": self.content_id,
        }


def _metadata_maker() -> Callable[[str, str, int, str], AssetMetadata]:
    """A faster ``AssetMetadata(path, date_modified, content_size, content_id)``.

    A frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__`` (its own ``__setattr__`` refuses); setting the slots
    through their descriptors makes the same object with less work, which
    counts when an object is made for each asset of a large manifest (the
    figures: ``benchmarks/bench_index.py``).
    """
    new = object.__new__
    set_path, set_date, set_size, set_id = (
        AssetMetadata.__dict__[name].__set__
        for name in ("path", "date_modified", "content_size", "content_id")
    )

    def asset_metadata(
        path: str, date_modified: str, content_size: int, content_id: str
    ) -> AssetMetadata:
        meta = new(AssetMetadata)
        set_path(meta, path)
        set_date(meta, date_modified)
        set_size(meta, content_size)
        set_id(meta, content_id)
        return meta

    return asset_metadata


#: ``AssetMetadata(path, date_modified, content_size, content_id)``, faster
asset_metadata = _metadata_maker()


@dataclass(frozen=True)
class AssetsJsonldMetadata:
    """The index of a manifest, as ``dandi_compute_code.dandiset`` returns it.

    Attributes
    ----------
    content_id_to_asset
        content id -> the full asset record, equal to what ``json.load`` of the
        manifest gives, as ``dandi_compute_code.dandiset`` keeps it: read again
        from the manifest's bytes on each access (see
        :class:`~dandi_compute_plugin.manifest.index.ContentIdIndex`), or, with
        ``keep_records=True``, a dict of records decoded once.  Assets sharing a
        blob: the last wins.
    path_to_asset_metadata
        asset path -> :class:`AssetMetadata`, in manifest order.

    Both are read-only mappings (``[]``, ``get``, ``in``, ``len``, iteration,
    ``keys``/``values``/``items``, ``==``), built lazily by
    :func:`~dandi_compute_plugin.manifest.load_assets_jsonld_metadata`;
    ``dict(...)`` makes plain dicts.
    """

    content_id_to_asset: Mapping[str, Any]
    path_to_asset_metadata: Mapping[str, AssetMetadata]
