"""Both dandisets of a move, through dandi's client: listings with metadata,
an asset created from an existing blob, a Zarr uploaded by dandi's own code."""

from __future__ import annotations

from collections.abc import Iterator
import os
import time
from typing import Any

import requests

from .._http import deadline
from ..deletion.archive import PAGE_SIZE, ArchiveSession, describe_error
from ..deletion.listing import checked_assets
from ..deletion.model import PlannedAsset
from ..errors import ArchiveError

#: metadata fields the archive computes itself (``ASSET_COMPUTED_FIELDS`` of
#: dandi-archive's ``Asset`` model, and the ``@context`` its ``full_metadata``
#: adds): never sent, the server fills them in
COMPUTED_FIELDS = frozenset(
    {
        "@context",
        "id",
        "access",
        "path",
        "identifier",
        "contentUrl",
        "contentSize",
        "digest",
        "datePublished",
        "publishedBy",
    }
)


class MoveSession(ArchiveSession):
    """A dandiset's draft, seen through dandi's client, for a move.

    The parameters and errors are those of
    :class:`~dandi_compute_plugin.deletion.archive.ArchiveSession`.
    """

    def listed_under(self, relpath: str) -> dict[str, tuple[PlannedAsset, dict]]:
        """Return ``{path: (checked asset, raw record)}`` of the draft's assets
        below ``relpath``, with their metadata (one paginated listing).

        Raises
        ------
        ArchiveError
            When the listing breaks a rule of
            :mod:`~dandi_compute_plugin.deletion.listing`, or fails (redacted).
        """
        prefix = relpath.rstrip("/") + "/"
        params = {"path": prefix, "order": "path", "page_size": PAGE_SIZE}
        params["metadata"] = "true"
        try:
            raw = list(self._pages(f"{self.dandiset.version_api_path}assets/", params))
        except requests.RequestException as exc:
            raise ArchiveError(self.redact(describe_error(exc))) from None
        by_path = {d.get("path"): d for d in raw if isinstance(d, dict)}
        return {a.path: (a, by_path[a.path]) for a in checked_assets(raw, prefix)}

    @property
    def embargoed(self) -> bool:
        """Whether the dandiset is not open (embargoed, or being unembargoed)."""
        status = getattr(self.dandiset.embargo_status, "value", "OPEN")
        return str(status).upper() != "OPEN"

    def create_from_blob(self, metadata: dict[str, Any], blob_id: str) -> None:
        """Create an asset in the draft from an existing blob (no content sent).

        Raises
        ------
        ArchiveError
            With a redacted description of the failure (409: the path is taken).
        """
        body = {"metadata": metadata, "blob_id": blob_id}
        try:
            self.client.post(f"{self.dandiset.version_api_path}assets/", json=body)
        except requests.RequestException as exc:
            raise ArchiveError(self.redact(describe_error(exc))) from None

    def upload_zarr(self, local: str, metadata: dict[str, Any], jobs: int) -> None:
        """Upload the local Zarr directory ``local`` as a new asset of the draft,
        with dandi's own Zarr upload (its batches, retries and checksum check).

        Each request to the API ends within the session's timeout; the wait for
        the archive's checksum of the uploaded files (dandi polls for it without
        limit) ends within the timeout too.  The files themselves go to object
        storage with dandi's own limits for such uploads.

        Raises
        ------
        ArchiveError
            When the upload fails or the checksum is not ready in time (redacted).
        """
        from dandi.files import ZarrAsset, dandi_file

        zarr = dandi_file(local, dandiset_path=None)
        if not isinstance(zarr, ZarrAsset):
            raise ArchiveError(f"{local} is not a Zarr directory for dandi")
        upload = zarr.iter_upload(self.dandiset, dict(metadata), jobs=jobs)
        checksum_by: float | None = None  # when the wait for the checksum ends
        try:
            while True:
                status = _next_status(upload, checksum_by)
                if status in ("done", "skipped"):
                    return
                if status == CHECKSUM_STATUS:
                    checksum_by = time.monotonic() + self.client.timeout
                elif status is None:
                    break
                else:  # uploading again after a mismatch: no wait for now
                    checksum_by = None
        except Exception as exc:  # requests', dandi's UploadError, ...
            if checksum_by is not None and time.monotonic() >= checksum_by:
                raise ArchiveError(
                    f"the archive did not finish the checksum of the uploaded Zarr "
                    f"within the {self.client.timeout:g} s timeout; run again once "
                    "it has (the Zarr then counts as moved)"
                ) from None
            raise ArchiveError(self.redact(describe_error(exc))) from None
        finally:
            upload.close()
        raise ArchiveError(f"dandi's upload of {os.path.basename(local)} did not end")


#: the status dandi's Zarr upload reports before it waits for the checksum
CHECKSUM_STATUS = "server calculating checksum"


def _next_status(upload: Iterator[dict], until: float | None) -> str | None:
    """The next status of dandi's upload (None at its end); with ``until``, its
    requests end by then (a monotonic time)."""
    if until is None:
        return next(upload, {"status": None}).get("status")
    with deadline(max(0.0, until - time.monotonic())):
        return next(upload, {"status": None}).get("status")


def metadata_for_copy(record: dict[str, Any], path: str) -> dict[str, Any]:
    """The metadata to create a copy of an asset with: the source's own, without
    what the archive computes, at ``path``."""
    metadata = record.get("metadata")
    if not isinstance(metadata, dict):
        raise ArchiveError(f"the server listed no metadata for {path}")
    copied = {k: v for k, v in metadata.items() if k not in COMPUTED_FIELDS}
    copied["path"] = path
    return copied
