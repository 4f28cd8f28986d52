"""A fake DANDI Archive: the REST API endpoints that dandi's client uses to delete.

Shapes follow dandi-archive's views and serializers (``dandiapi/api/views``):

- ``GET /server-info`` and ``GET /api/info/``: the ``ApiInfoSerializer`` fields
  (``dandi.utils.get_instance`` resolves ``-i http://127.0.0.1:PORT`` through them);
- ``GET /api/auth/token`` -> 301 to ``/api/auth/token/`` (Django's APPEND_SLASH), which
  answers the token as a JSON string; any request with an unknown
  ``Authorization: token ...`` gets DRF's 401 ``{"detail": "Invalid token."}``;
- ``GET /api/dandisets/{id}/``: ``DandisetDetailSerializer``;
- ``GET /api/dandisets/{id}/versions/{v}/assets/``: ``LazyPagination`` (``count``
  on page 1 only, ``next``/``previous`` absolute links, ``page_size`` <= 1000), the
  ``path`` filter a case-*insensitive* prefix (``istartswith``), except that a path
  naming one asset exactly returns only that asset; the ``glob`` filter as the
  archive applies it: the pattern escaped as a regular expression, then each ``*``
  matching anything (``/`` too), the whole path, case-*insensitively*;
- ``GET .../assets/{asset_id}/`` (metadata), ``.../info/``, ``GET /api/assets/{id}/``;
  an asset deleted from the draft still answers them (only the listing drops it); an
  asset id that is not a UUID gets Django's HTML 404;
- ``GET /api/dandisets/{id}/versions/{v}/`` (the version's metadata) and ``.../info/``
  (its summary: ``modified`` and status ``Pending`` after any change of the draft);
- a path under ``/api/`` without its trailing slash: 301 to it (``APPEND_SLASH``);
- ``DELETE .../assets/{asset_id}/``: 401 without a key, 403 (no body) for a non-owner,
  405 on a published version, 404 when the asset is not in the version, else 204;
- ``POST .../versions/draft/assets/`` with ``{"metadata": ..., "blob_id": ...}``
  (``AssetRequestSerializer``, ``add_asset_to_version``): 401 without a key, 403 for
  a non-owner, 400 unless exactly one of ``blob_id``/``zarr_id`` or without a
  ``path``, 404 for a blob the archive does not have, 405 on a published version,
  409 when the path is taken (or is a directory or under a file of the version),
  else 200 with the new asset (``AssetDetailSerializer``): a new asset id, the
  computed fields (``digest``, ``contentSize``, ``contentUrl``...) from the blob.
  Blobs are those of every asset ever added (the archive keeps a blob when an
  asset of it is deleted); a ``zarr_id`` must name a Zarr of the same dandiset
  (404, else 400);
- the Zarr upload's endpoints (``/api/zarr/...`` and the storage's ``PUT``):
  :mod:`.zarrs`; a finalized Zarr's checksum and size become its assets'.

The bytes the server reads and writes on its connections are counted
(:attr:`FakeArchive.traffic`).

``tests/real_archive/test_contract.py`` sends the same requests to the real archive.

Every request is logged before its answer is written (a test that looks at the log
once the client is done never misses one); faults (:mod:`.faults`) match the method,
path and query.
"""

from __future__ import annotations

from collections.abc import Iterable
import contextlib
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import re
import select
import socket
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
import uuid
import zlib

from .faults import Accounting, Fault, LoggedRequest
from .zarrs import ZarrStore

NOW = "2026-05-01T12:00:00.000000Z"
VERSION = re.compile(r"/api/dandisets/(\d{6})/versions/([^/]+)/(info/)?")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ASSETS = re.compile(
    r"^/api/dandisets/(\d{6})/versions/([^/]+)/assets/(?:([^/]+)/(info/)?)?$"
)


def _blob_id(record: dict[str, Any]) -> tuple[str | None, str | None]:
    for url in record.get("contentUrl", []):
        if "/zarr/" in url:
            return None, url.rstrip("/").rsplit("/", 1)[-1]
        if "/blobs/" in url:
            return url.rsplit("/", 1)[-1], None
    return record["identifier"], None


_TRUE = {"t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On"}
_TRUE |= {"ON", "1"}
_FALSE = {"f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off"}
_FALSE |= {"OFF", "0"}


def _positive(text: str | None) -> int | None:
    """A positive integer as DRF's pagination reads one, else None."""
    try:
        value = int(text or "")
    except ValueError:
        return None
    return value if value > 0 else None


def _boolean(text: str) -> bool | None:
    """A query flag as DRF's ``BooleanField`` reads one, None when it is not one."""
    if text in _TRUE:
        return True
    if text in _FALSE or text == "":
        return False
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


class FakeArchive:
    """A DANDI Archive on ``127.0.0.1`` (ephemeral port) in a thread.

    Parameters
    ----------
    latency
        Seconds added to every request.
    page_size
        The asset listing's page size when the request names none.
    max_page_size
        The largest page it gives whatever the request names (the archive's:
        1000).
    next_origin
        When set (``http://host:port``), the listing's ``next`` links point
        there: a server sending the client elsewhere.
    tokens
        ``{API key: user}``; ``owners`` may delete.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        tokens: dict[str, str] | None = None,
        owners: Iterable[str] = ("owner",),
    ) -> None:
        self.latency = latency
        self.page_size = 100
        self.max_page_size = 1000
        self.next_origin: str | None = None
        self.tokens = dict(
            tokens if tokens is not None else {"secret-key-0123": "owner"}
        )
        self.owners = set(owners)
        #: dandisets whose ``embargo_status`` is ``EMBARGOED`` (else ``OPEN``)
        self.embargoed: set[str] = set()
        self.accounting = Accounting()
        self._lock = threading.RLock()
        # dandiset id -> {"draft": {asset_id: asset}, "published": {...} | None}
        self._dandisets: dict[str, dict[str, Any]] = {}
        # blob id -> the record of the first asset of it (size, digests, URL)
        self._blobs: dict[str, dict[str, Any]] = {}
        self.zarrs = ZarrStore(self._lock)
        #: bytes the server read from and wrote to its connections
        self.traffic = {"received": 0, "sent": 0}
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------

    def start(self) -> FakeArchive:
        archive = self

        class Handler(_Handler):
            pass

        Handler.archive = archive
        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeArchive:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The instance URL for ``dandi -i`` (its ``/server-info`` resolves the API)."""
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.url + "/api"

    @property
    def instance_name(self) -> str:
        """The name dandi gives this instance (``127.0.0.1:PORT``)."""
        return self.url.removeprefix("http://")

    @property
    def api_key_env_var(self) -> str:
        """The variable dandi reads the key from: ``{INSTANCE}_API_KEY``."""
        return f"{self.instance_name.upper().replace('-', '_')}_API_KEY"

    # -- content ---------------------------------------------------------------

    def add_assets(self, identifier: str, records: Iterable[dict[str, Any]]) -> None:
        """Add asset records to an existing dandiset's draft (an upload)."""
        with self._lock:
            draft = self._dandisets[identifier]["draft"]
            for rec in records:
                draft[rec["identifier"]] = self._asset(rec)
            self._changed(identifier)

    def _asset(self, rec: dict[str, Any]) -> dict[str, Any]:
        blob, zarr = _blob_id(rec)
        if blob is not None:
            with self._lock:
                self._blobs.setdefault(blob, rec)
        return {
            "asset_id": rec["identifier"],
            "blob": blob,
            "zarr": zarr,
            "path": rec["path"],
            "size": rec["contentSize"],
            "created": NOW,
            "modified": rec.get("dateModified", NOW),
            "metadata": rec,
        }

    def add_dandiset(
        self,
        identifier: str,
        records: Iterable[dict[str, Any]],
        *,
        published: bool = False,
    ) -> None:
        """Seed a dandiset's draft from asset records in the ``assets.jsonld`` shape.

        With ``published``, a published version holds the same assets (they stay
        there when the draft's are deleted, as on the real archive).
        """
        draft = {rec["identifier"]: self._asset(rec) for rec in records}
        with self._lock:
            self._dandisets[identifier] = {
                "draft": draft,
                "published": dict(draft) if published else None,
                # assets deleted from the draft: the archive still answers their
                # GET (only the listing leaves them out)
                "gone": {},
                "modified": NOW,
                "status": "Valid",
            }

    def dandiset_ids(self) -> list[str]:
        """The identifiers of the dandisets it holds."""
        with self._lock:
            return sorted(self._dandisets)

    def paths(self, identifier: str, version: str = "draft") -> list[str]:
        """The sorted asset paths of a version."""
        with self._lock:
            return sorted(
                a["path"] for a in self._dandisets[identifier][version].values()
            )

    def assets(self, identifier: str) -> dict[str, dict[str, Any]]:
        """``{path: asset}`` of the draft (``blob``, ``zarr``, ``metadata``...)."""
        with self._lock:
            return {
                a["path"]: dict(a)
                for a in self._dandisets[identifier]["draft"].values()
            }

    def asset_ids(self, identifier: str) -> dict[str, str]:
        """``{path: asset id}`` of the draft."""
        with self._lock:
            return {
                a["path"]: i for i, a in self._dandisets[identifier]["draft"].items()
            }

    # -- faults and accounting -------------------------------------------------

    def fail(
        self, method: str | None = None, pattern: str | None = None, **kw: Any
    ) -> Fault:
        """Add a :class:`~.faults.Fault` (see there for the keywords)."""
        return self.accounting.add(Fault(method=method, pattern=pattern, **kw))

    def clear_faults(self) -> None:
        self.accounting.clear()

    @property
    def log(self) -> list[LoggedRequest]:
        with self.accounting.lock:
            return list(self.accounting.log)

    def count(self, method: str | None = None, pattern: str | None = None) -> int:
        """How many requests matched ``method`` and the path regex ``pattern``."""
        return sum(
            1
            for r in self.log
            if (method is None or r.method == method)
            and (pattern is None or re.search(pattern, r.path))
        )

    def peak(self, method: str) -> int:
        """The most requests of ``method`` ever in flight at once."""
        with self.accounting.lock:
            return self.accounting.peak.get(method, 0)

    # -- views -----------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        return {
            "instance_config": {"instance_name": "FAKE"},
            "schema_version": "0.7.0",
            "schema_url": self.api_url + "/schemas/?model=Dandiset",
            "allowed_schema_versions": ["0.7.0"],
            "version": "0.0.0+fake",
            "cli-minimal-version": "0.60.0",
            "cli-requires-python": ">=3.10",
            "cli-bad-versions": [],
            "services": {
                "api": {"url": self.api_url},
                "webui": {"url": self.url},
                "jupyterhub": {"url": "https://hub.example.invalid"},
            },
        }

    def _version(self, identifier: str, name: str) -> dict[str, Any] | None:
        ds = self._dandisets[identifier]
        assets = ds[name]
        if assets is None:
            return None
        return {
            "version": "0.260501.1200" if name == "published" else "draft",
            "name": f"Dandiset {identifier}",
            "asset_count": len(assets),
            "active_uploads": 0,
            "size": sum(a["size"] for a in assets.values()),
            "status": "Published" if name == "published" else ds["status"],
            "created": NOW,
            "modified": NOW if name == "published" else ds["modified"],
        }

    def version_info(self, identifier: str, version: str) -> dict[str, Any] | None:
        """``GET .../versions/{version}/info/``: the summary, with its dandiset."""
        with self._lock:
            name = "draft" if version == "draft" else "published"
            if self.version_assets(identifier, version) is None:
                return None
            summary = self._version(identifier, name)
            dandiset = self.dandiset(identifier)
        assert summary is not None and dandiset is not None
        dandiset = {k: v for k, v in dandiset.items() if not k.endswith("_version")}
        return {
            **summary,
            "dandiset": dandiset,
            "asset_validation_errors": [],
            "version_validation_errors": [],
            "metadata": self.version_metadata(identifier, summary["version"]),
            "contact_person": dandiset["contact_person"],
        }

    def version_metadata(self, identifier: str, version: str) -> dict[str, Any]:
        """``GET .../versions/{version}/``: the version's metadata (JSON-LD)."""
        return {
            "id": f"DANDI:{identifier}/{version}",
            "name": f"Dandiset {identifier}",
            "version": version,
            "schemaKey": "Dandiset",
            "identifier": f"DANDI:{identifier}",
            "manifestLocation": [
                f"{self.api_url}/dandisets/{identifier}/versions/{version}/assets/"
            ],
        }

    def dandiset(self, identifier: str) -> dict[str, Any] | None:
        with self._lock:
            if identifier not in self._dandisets:
                return None
            return {
                "identifier": identifier,
                "created": NOW,
                "modified": NOW,
                "contact_person": "Doe, Jane",
                "embargo_status": (
                    "EMBARGOED" if identifier in self.embargoed else "OPEN"
                ),
                "star_count": 0,
                "is_starred": False,
                "most_recent_published_version": self._version(identifier, "published"),
                "draft_version": self._version(identifier, "draft"),
            }

    def version_assets(self, identifier: str, version: str) -> dict[str, Any] | None:
        with self._lock:
            ds = self._dandisets.get(identifier)
            if ds is None:
                return None
            if version == "draft":
                return ds["draft"]
            if ds["published"] is not None and version == "0.260501.1200":
                return ds["published"]
            return None

    def delete_asset(self, identifier: str, version: str, asset_id: str) -> int:
        with self._lock:
            assets = self.version_assets(identifier, version)
            if assets is None or asset_id not in assets:
                return 404
            if version != "draft":
                return 405
            self._dandisets[identifier]["gone"][asset_id] = assets.pop(asset_id)
            self._changed(identifier)
            return 204

    def _changed(self, identifier: str) -> None:
        """The draft changed: its ``modified`` is now, its status ``Pending``."""
        draft = self._dandisets[identifier]
        draft["modified"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        draft["status"] = "Pending"

    def deleted_asset(self, identifier: str, asset_id: str) -> dict[str, Any] | None:
        """An asset deleted from the draft, as its GET still finds it."""
        with self._lock:
            return self._dandisets[identifier]["gone"].get(asset_id)

    def _content_of(
        self, identifier: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, int]:
        """The size, store URL and digest of a POST's blob or Zarr, with 200;
        (None, 404) when unknown; (an error body, 400) for another's Zarr."""
        if "blob_id" in body:
            blob = self._blobs.get(str(body["blob_id"]))
            return blob, 200 if blob is not None else 404
        zarr = self.zarrs.zarrs.get(str(body["zarr_id"]))
        if zarr is None:
            return None, 404
        if zarr["dandiset"] != identifier:
            return {"detail": "The zarr archive belongs to a different dandiset"}, 400
        zarr_id = str(body["zarr_id"])
        return self._zarr_content(zarr_id), 200

    def _zarr_content(self, zarr_id: str) -> dict[str, Any]:
        checksum = self.zarrs.zarrs[zarr_id]["checksum"]
        return {
            "contentSize": self.zarrs.size(zarr_id),
            "contentUrl": [f"https://dandiarchive.s3.amazonaws.com/zarr/{zarr_id}/"],
            "digest": {"dandi:dandi-zarr-checksum": checksum},
        }

    def finalize_zarr(self, zarr_id: str) -> None:
        """Compute a Zarr's checksum; its assets take it and its size."""
        with self._lock:
            self.zarrs.finalize(zarr_id)
            content = self._zarr_content(zarr_id)
            for ds in self._dandisets.values():
                for asset in ds["draft"].values():
                    if asset["zarr"] == zarr_id:
                        asset["size"] = content["contentSize"]
                        asset["metadata"] = {
                            **asset["metadata"],
                            "contentSize": content["contentSize"],
                            "digest": content["digest"],
                        }

    def create_asset(
        self, identifier: str, version: str, body: Any
    ) -> tuple[int, dict[str, Any]]:
        """``POST .../assets/`` of an owner: (status, answer)."""
        if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
            return 400, {"metadata": ["This field is required."]}
        if ("blob_id" in body) == ("zarr_id" in body):
            return 400, {
                "blob_id": ["Exactly one of blob_id or zarr_id must be specified."]
            }
        path = body["metadata"].get("path")
        if not isinstance(path, str) or not path:
            return 400, {"metadata": ["No path specified in metadata."]}
        with self._lock:
            assets = self.version_assets(identifier, version)
            content, status = self._content_of(identifier, body)
            if assets is None or content is None:
                return status, {"detail": "Not found."}
            if status != 200:
                return status, content
            if version != "draft":
                return 405, {"detail": "Only draft versions can be modified."}
            if any(a["path"] == path for a in assets.values()):
                return 409, {"detail": "An asset with that path already exists"}
            conflicts = [
                a["path"]
                for a in assets.values()
                if a["path"].startswith(path + "/") or path.startswith(a["path"] + "/")
            ]
            if conflicts:
                return 409, {
                    "detail": f'Path of new asset "{path}" conflicts with '
                    f"existing assets: {conflicts}"
                }
            asset_id = str(uuid.uuid4())
            rec = {
                **body["metadata"],
                "id": f"dandiasset:{asset_id}",
                "identifier": asset_id,
                "path": path,
                "contentSize": content["contentSize"],
                "contentUrl": [
                    f"{self.api_url}/assets/{asset_id}/download/",
                    content["contentUrl"][-1],
                ],
                "digest": content["digest"],
            }
            asset = self._asset(rec)
            assets[asset_id] = asset
            self._changed(identifier)
            return 200, dict(asset)


class _Handler(BaseHTTPRequestHandler):
    archive: FakeArchive
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without TCP_NODELAY, Nagle's
    # algorithm and delayed ACKs would add ~40 ms to every answer with a body
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing --------------------------------------------------------------

    def _send(self, status: int, body: Any = None, headers: dict | None = None) -> None:
        data = b"" if status == 204 or body is None else json.dumps(body).encode()
        self._status = status
        # logged before the client can see the answer: a test that checks the
        # log once the client is done never misses this request
        self._record()
        if self._mute:  # a response lost on the way back
            return
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if data and self._trickle:  # a slow-loris answer: a byte at a time
            try:
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(self._trickle)
            except OSError:  # the client gave up
                self.close_connection = True
                self._hung_up()
        elif data:
            self.wfile.write(data)

    def _fault_answer(self, fault: Fault, auth: str | None) -> None:
        detail = f"Injected error {fault.status}."
        headers = {}
        if fault.echo:  # as a careless server might: the header back
            detail += " " + "x" * fault.echo_pad
            detail += f"Request headers: Authorization: {auth}"
            if fault.echo_in_header:
                headers["X-Echo"] = str(auth)
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
            if fault.echo and fault.echo_in_header:
                headers["Retry-After"] += f" {auth}"
        self._send(fault.status, {"detail": detail}, headers)

    def _drip_head(self, every: float) -> None:
        """A status line and headers that come one byte at a time."""
        self._status = 200
        self._record()
        head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 10_000 + b"\r\n\r\n"
        self.close_connection = True
        try:
            for i in range(len(head)):
                self.wfile.write(head[i : i + 1])
                self.wfile.flush()
                time.sleep(every)
        except OSError:  # the client gave up
            self._hung_up()

    def _endless(self, announce: int | None) -> None:
        """A 200 whose body never ends (until the client goes away)."""
        self._status = 200
        self._record()
        self.close_connection = True
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        if announce is not None:
            head += f"Content-Length: {announce}\r\n"
        item = json.dumps({"path": "derivatives/x", "asset_id": "0" * 36}) + ","
        block = (item * (65536 // len(item))).encode()
        try:
            self.wfile.write(head.encode() + b"Connection: close\r\n\r\n")
            self.wfile.write(b'{"count": 1, "next": null, "results": [')
            while True:
                self.wfile.write(block)
        except OSError:  # the client gave up
            self._hung_up()

    def _gzip_bomb(self, size: int) -> None:
        """A small gzip-encoded answer that expands to ``size`` bytes."""
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # the gzip format
        zeros = bytes(1 << 20)
        data = b"".join(packer.compress(zeros) for _ in range(size >> 20))
        data += packer.flush()
        self._send_raw(200, data, {"Content-Encoding": "gzip"})

    def _send_raw(self, status: int, data: bytes, headers: dict) -> None:
        self._status = status
        self._record()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(data)

    def _send_html(self, status: int) -> None:
        """An answer of Django's own (not the API's): an HTML page."""
        data = b"<!doctype html><title>Not Found</title><h1>Not Found</h1>"
        self._status = status
        self._record()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _hung_up(self) -> None:
        """The client went away before the whole answer: count it."""
        if self._fault is not None:
            self.archive.accounting.hung_up(self._fault)

    def _wait_unless_hung_up(self, seconds: float) -> bool:
        """Wait ``seconds`` before answering; False (counted) as soon as the
        client hangs up meanwhile (its end of the connection closed)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if not readable:
                continue
            try:
                peeked = self.connection.recv(1, socket.MSG_PEEK)
            except OSError:
                peeked = b""
            if not peeked:
                self.close_connection = True
                self._hung_up()
                return False
            time.sleep(min(left, 0.05))  # a pipelined request: only wait
        return True

    def _hang_up(self) -> None:
        """Close the connection without (or without the rest of) an answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client may be gone already
            self.connection.shutdown(socket.SHUT_RDWR)

    def _record(self) -> None:
        if self._logged:
            return
        self._logged = True
        split = urlsplit(self.path)
        self.archive.accounting.record(
            LoggedRequest(
                self.command,
                split.path,
                split.query,
                self._status,
                self.headers.get("Authorization"),
            )
        )

    def _handle(self, method: str) -> None:
        archive = self.archive
        acc = archive.accounting
        split = urlsplit(self.path)
        self._status = None
        self._logged = self._mute = False
        self._trickle = 0.0
        auth = self.headers.get("Authorization")
        # read before any answer: a body left unread would be taken for the
        # connection's next request
        self._raw = self._read_body() if method in ("POST", "PUT") else b""
        self._posted = self._json(self._raw) if method == "POST" else None
        fault = acc.admit(method, split.path, split.query)
        self._fault = fault
        try:
            if archive.latency:
                time.sleep(archive.latency)
            if fault is not None:
                if fault.hold:
                    acc.hold(method, fault.hold, fault.hold_timeout)
                if fault.delay and not self._wait_unless_hung_up(fault.delay):
                    return
                if fault.drop:
                    self._hang_up()
                    return
                if fault.redirect is not None:
                    return self._send(302, None, {"Location": fault.redirect})
                if fault.drip_head:
                    return self._drip_head(fault.drip_head)
                if fault.gzip_bomb:
                    return self._gzip_bomb(fault.gzip_bomb)
                if fault.endless:
                    return self._endless(fault.announce)
                if fault.status is not None:
                    return self._fault_answer(fault, auth)
                self._mute = fault.drop_after_serving
                self._trickle = fault.trickle
            self._route(method, split.path, parse_qs(split.query), auth)
            if self._mute:
                self._hang_up()
        finally:
            acc.leave(method)
            self._record()

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def setup(self) -> None:
        super().setup()
        archive = self.archive
        self.rfile = _Counting(self.rfile, archive.traffic, "received", archive._lock)
        self.wfile = _Counting(self.wfile, archive.traffic, "sent", archive._lock)

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    @staticmethod
    def _json(data: bytes) -> Any:
        """A request's JSON body (None when there is none or it is not JSON)."""
        try:
            return json.loads(data) if data else None
        except ValueError:
            return None

    # -- routes ----------------------------------------------------------------

    def _user(self, auth: str | None) -> tuple[str | None, bool]:
        """(user, ok): ok is False for a key the server does not know."""
        if not auth:
            return None, True
        scheme, _, key = auth.partition(" ")
        user = self.archive.tokens.get(key) if scheme.lower() == "token" else None
        return user, user is not None

    def _route(self, method: str, path: str, query: dict, auth: str | None) -> None:
        archive = self.archive
        if method == "GET" and path == "/server-info":  # the web app's, no auth
            return self._send(200, archive.info())
        if path.startswith("/api/") and not path.endswith("/"):  # APPEND_SLASH
            query = urlsplit(self.path).query
            location = path + "/" + (f"?{query}" if query else "")
            return self._send(301, None, {"Location": location})
        if method == "GET" and path == "/api/auth/token":  # Django's APPEND_SLASH
            return self._send(301, None, {"Location": path + "/"})
        m = re.fullmatch(r"/s3/zarr/([0-9a-f-]{36})/(.+)", path)
        if m and method == "PUT":  # the storage: presigned, no API key
            md5 = self.headers.get("Content-MD5")
            return self._send(archive.zarrs.put(*m.groups(), self._raw, md5))
        user, ok = self._user(auth)
        if not ok:
            return self._send(401, {"detail": "Invalid token."})
        if path.startswith("/api/zarr/"):
            return self._zarr(method, path, query, user)
        if method == "GET" and path == "/api/info/":
            return self._send(200, archive.info())
        if path == "/api/auth/token/" and method == "GET":
            if user is None:
                return self._send(
                    401, {"detail": "Authentication credentials were not provided."}
                )
            return self._send(200, auth.partition(" ")[2])
        m = re.fullmatch(r"/api/dandisets/(\d{6})/", path)
        if m and method == "GET":
            data = archive.dandiset(m.group(1))
            return self._send(
                *((200, data) if data else (404, {"detail": "Not found."}))
            )
        m = VERSION.fullmatch(path)
        if m and method == "GET":
            ds, version, info = m.groups()
            found = archive.version_info(ds, version)
            if found is None:
                return self._send(404, {"detail": "Not found."})
            return self._send(200, found if info else found["metadata"])
        m = ASSETS.match(path)
        if m and m.group(3) and not UUID.fullmatch(m.group(3)):
            return self._send_html(404)  # no URL pattern takes it: Django's page
        if m:
            return self._assets(method, query, user, *m.groups())
        return self._send(404, {"detail": "Not found."})

    def _zarr(self, method: str, path: str, query: dict, user: str | None) -> None:
        archive, store = self.archive, self.archive.zarrs
        if method == "POST" and user not in archive.owners:
            return self._send(403 if user else 401, {"detail": "Not permitted."})
        if method == "POST" and path == "/api/zarr/":
            return self._send(*store.create(self._posted))
        m = re.fullmatch(r"/api/zarr/([0-9a-f-]{36})/(files/?|finalize/)?", path)
        if m is None or m.group(1) not in store.zarrs:
            return self._send(404, {"detail": "Not found."})
        zarr_id, action = m.groups()
        if method == "GET" and action is None:
            return self._send(200, store.info(zarr_id))
        if method == "GET" and action.startswith("files"):
            results = store.files(zarr_id, query.get("prefix", [None])[0])
            page = {"count": len(results), "next": None, "previous": None}
            return self._send(200, {**page, "results": results})
        if method == "POST" and action == "files/":
            base = f"http://{self.headers['Host']}"
            return self._send(*store.upload_urls(zarr_id, self._posted, base))
        if method == "POST" and action == "finalize/":
            archive.finalize_zarr(zarr_id)
            return self._send(200, {})
        return self._send(405, {"detail": f'Method "{method}" not allowed.'})

    def _assets(
        self,
        method: str,
        query: dict,
        user: str | None,
        ds: str,
        version: str,
        asset_id: str | None,
        info: str | None,
    ) -> None:
        archive = self.archive
        assets = archive.version_assets(ds, version)
        if assets is None:
            return self._send(404, {"detail": "Not found."})
        if method == "POST" and not asset_id:
            if user is None:
                return self._send(
                    401, {"detail": "Authentication credentials were not provided."}
                )
            if user not in archive.owners:
                return self._send(
                    403,
                    {"detail": "You do not have permission to perform this action."},
                )
            return self._send(*archive.create_asset(ds, version, self._posted))
        if method == "DELETE" and asset_id and not info:
            if user is None:
                return self._send(
                    401, {"detail": "Authentication credentials were not provided."}
                )
            if user not in archive.owners:
                return self._send(403)  # the archive's: no body
            status = archive.delete_asset(ds, version, asset_id)
            body = {"detail": "Not found."} if status == 404 else None
            if status == 405:
                body = {"detail": "Only draft versions can be modified."}
            return self._send(status, body)
        if method != "GET":
            return self._send(405, {"detail": f'Method "{method}" not allowed.'})
        if asset_id:
            with archive._lock:
                asset = assets.get(asset_id)
            if asset is None and version == "draft":
                asset = archive.deleted_asset(ds, asset_id)
            if asset is None:
                return self._send(404, {"detail": "Not found."})
            if info:
                return self._send(200, {k: v for k, v in asset.items()})
            return self._send(200, asset["metadata"])
        return self._list(assets, query)

    def _list(self, assets: dict[str, Any], query: dict) -> None:
        def one(name: str, default: str | None = None) -> str | None:
            return query.get(name, [default])[0]

        with self.archive._lock:
            rows = list(assets.values())
        prefix = one("path")
        if prefix:
            exact = [a for a in rows if a["path"] == prefix]
            rows = exact or [
                a for a in rows if a["path"].lower().startswith(prefix.lower())
            ]
        glob = one("glob")
        if glob is not None:
            pattern = re.compile(
                "^" + re.escape(glob).replace("\\*", ".*") + "$", re.IGNORECASE
            )
            rows = [a for a in rows if pattern.match(a["path"])]
        order = one("order")
        if order:
            rows.sort(key=lambda a: a[order.lstrip("-")], reverse=order.startswith("-"))
        page = _positive(one("page", "1"))
        if page is None:
            return self._send(404, {"detail": "Invalid page."})
        # DRF: a page size that is not a positive integer means the default one
        size = _positive(one("page_size", "")) or self.archive.page_size
        size = min(size, self.archive.max_page_size)
        chunk = rows[(page - 1) * size : page * size]  # past the end: an empty page
        with_metadata = _boolean(one("metadata", "false"))
        if with_metadata is None:
            return self._send(400, {"metadata": ["Must be a valid boolean."]})
        results = [
            {k: v for k, v in a.items() if with_metadata or k != "metadata"}
            for a in chunk
        ]

        def link(n: int) -> str:
            q = {k: v for k, v in query.items() if k != "page"}
            if n > 1:
                q["page"] = [str(n)]
            qs = urlencode(sorted(q.items()), doseq=True)
            origin = self.archive.next_origin or f"http://{self.headers['Host']}"
            base = f"{origin}{urlsplit(self.path).path}"
            return base + (f"?{qs}" if qs else "")

        self._send(
            200,
            {
                "count": len(rows) if page == 1 else None,
                "next": link(page + 1) if len(rows) > page * size else None,
                "previous": link(page - 1) if page > 1 else None,
                "results": results,
            },
        )


class _Counting:
    """A connection's file that counts the bytes through it."""

    def __init__(
        self, raw: Any, counts: dict[str, int], key: str, lock: threading.RLock
    ) -> None:
        self._raw, self._counts, self._key, self._lock = raw, counts, key, lock

    def _count(self, data: bytes) -> bytes:
        with self._lock:
            self._counts[self._key] += len(data)
        return data

    def read(self, *args: Any) -> bytes:
        return self._count(self._raw.read(*args))

    def readline(self, *args: Any) -> bytes:
        return self._count(self._raw.readline(*args))

    def write(self, data: bytes) -> int:
        self._count(bytes(data))
        return self._raw.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)
