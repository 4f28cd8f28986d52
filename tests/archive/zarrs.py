"""The Zarr side of the fake archive: what ``dandi upload`` of a Zarr calls.

Shapes follow dandi-archive's ``dandiapi/zarr`` views: ``POST /api/zarr/`` makes
a Zarr of a dandiset (400 when the dandiset already has one of that name),
``GET /api/zarr/{id}/`` tells its status and checksum, ``GET .../files`` lists its
files (``Key``, ``LastModified``, ``ETag``, ``Size``), ``POST .../files/`` answers
one presigned upload URL per file (here: ``PUT /s3/zarr/{id}/{path}`` on the same
server, checked against the ``Content-MD5`` the client sends), and ``POST
.../finalize/`` computes the checksum, with the ``zarr_checksum`` package dandi
itself uses.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
import threading
from typing import Any
import uuid

NOW = "2026-05-01T12:00:00.000000Z"


class ZarrStore:
    """The Zarr archives of a fake archive, by id."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        #: zarr id -> {"name", "dandiset", "files": {path: (bytes, md5 hex)},
        #: "checksum", "status"}
        self.zarrs: dict[str, dict[str, Any]] = {}

    def create(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not {"name", "dandiset"} <= set(body):
            return 400, {"name": ["This field is required."]}
        with self._lock:
            for z in self.zarrs.values():
                if (z["name"], z["dandiset"]) == (body["name"], body["dandiset"]):
                    return 400, {"non_field_errors": ["Zarr already exists"]}
            zarr_id = str(uuid.uuid4())
            self.zarrs[zarr_id] = {
                "name": body["name"],
                "dandiset": body["dandiset"],
                "files": {},
                "checksum": None,
                "status": "Pending",
            }
            return 200, self.info(zarr_id)

    def info(self, zarr_id: str) -> dict[str, Any]:
        z = self.zarrs[zarr_id]
        return {
            "zarr_id": zarr_id,
            "name": z["name"],
            "dandiset": z["dandiset"],
            "status": z["status"],
            "checksum": z["checksum"],
            "file_count": len(z["files"]),
            "size": self.size(zarr_id),
        }

    def size(self, zarr_id: str) -> int:
        return sum(len(data) for data, _ in self.zarrs[zarr_id]["files"].values())

    def files(self, zarr_id: str, prefix: str | None) -> list[dict[str, Any]]:
        with self._lock:
            entries = sorted(self.zarrs[zarr_id]["files"].items())
        return [
            {"Key": path, "LastModified": NOW, "ETag": md5, "Size": len(data)}
            for path, (data, md5) in entries
            if not prefix or path.startswith(prefix)
        ]

    def upload_urls(self, zarr_id: str, body: Any, base: str) -> tuple[int, Any]:
        if not isinstance(body, list):
            return 400, {"detail": "a list of files is required"}
        with self._lock:
            self.zarrs[zarr_id]["status"] = "Pending"
        return 200, [
            f"{base}/s3/zarr/{zarr_id}/{item['path']}?X-Amz-SignedHeaders=content-md5"
            for item in body
        ]

    def put(self, zarr_id: str, path: str, data: bytes, md5_b64: str | None) -> int:
        md5 = hashlib.md5(data).digest()
        if md5_b64 is not None and base64.b64decode(md5_b64) != md5:
            return 400
        with self._lock:
            if zarr_id not in self.zarrs:
                return 404
            self.zarrs[zarr_id]["files"][path] = (data, md5.hex())
        return 200

    def finalize(self, zarr_id: str) -> str:
        """Compute the checksum as the archive does; return it."""
        from zarr_checksum.tree import ZarrChecksumTree

        tree = ZarrChecksumTree()
        with self._lock:
            z = self.zarrs[zarr_id]
            for path, (data, md5) in z["files"].items():
                tree.add_leaf(Path(path), len(data), md5)
            z["checksum"] = str(tree.process())
            z["status"] = "Complete"
            return z["checksum"]
