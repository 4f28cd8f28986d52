"""What the tests put on the real archive and in clones, and how they look at it.

``Api`` sends raw requests (status codes and shapes are what the tests check);
uploads go through the real ``dandi upload``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import subprocess
from typing import Any

import requests

from ..subprocesses import dandi_executable, subprocess_env
from .services import RealArchive

NULL_KEYRING = "keyring.backends.null.Keyring"
PARAMS = "params-98fd947_config-6568dda_attempt-1"


class Api:
    """Requests to an archive's API (real or fake) with an optional key."""

    def __init__(self, api_url: str, key: str | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self.session = requests.Session()
        if key:
            self.session.headers["Authorization"] = f"token {key}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """``method`` of ``/api`` + ``path`` (or of an absolute URL), no redirects."""
        url = path if path.startswith("http") else self.api_url + path
        kwargs.setdefault("allow_redirects", False)
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, url, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def json(self, url: str, **params: Any) -> Any:
        """The JSON of a GET that must succeed."""
        r = self.get(url, params=params)
        assert r.status_code == 200, (url, r.status_code, r.text[:500])
        return r.json()

    def assets(self, dandiset_id: str, version: str = "draft", **params) -> list:
        """Every asset of a version's listing, following ``next``."""
        page = self.json(
            f"/dandisets/{dandiset_id}/versions/{version}/assets/",
            page_size=1000,
            **params,
        )
        found = list(page["results"])
        while page["next"]:
            page = self.json(page["next"])
            found += page["results"]
        return found

    def paths(self, dandiset_id: str, version: str = "draft") -> set[str]:
        """The asset paths of a version, as its listing gives them."""
        return {a["path"] for a in self.assets(dandiset_id, version)}

    def new_dandiset(self, name: str) -> str:
        """Create a dandiset owned by the key's user; return its identifier."""
        r = self.request(
            "POST",
            "/dandisets/",
            json={"name": name, "metadata": {"name": name, "description": name}},
        )
        assert r.status_code == 200, r.text[:500]
        return r.json()["identifier"]

    def add_asset(self, dandiset_id: str, path: str, blob_id: str) -> dict:
        """Add an asset at ``path`` holding an uploaded blob (no upload), with
        the metadata fields ``dandi upload`` would send and the manifest needs."""
        metadata = {
            "path": path,
            "schemaKey": "Asset",
            "encodingFormat": "text/plain",
            "dateModified": datetime.now(UTC).isoformat(),
        }
        r = self.request(
            "POST",
            f"/dandisets/{dandiset_id}/versions/draft/assets/",
            json={"metadata": metadata, "blob_id": blob_id},
        )
        assert r.status_code == 200, r.text[:500]
        return r.json()


def dandi_env(archive: RealArchive, home: Path, key: str | None, **extra: str):
    """The environment of a ``dandi`` subprocess against ``archive``: its own
    HOME, no keyring, the key (if any) in the instance's variable."""
    env = subprocess_env(
        PYTHON_KEYRING_BACKEND=NULL_KEYRING,
        HOME=str(home),
        XDG_STATE_HOME=str(home / "state"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        DANDI_DEVEL="1",
        DANDI_COMPUTE_MANIFEST_URL=archive.manifest_url_template,
        **extra,
    )
    for name in ("DANDI_API_KEY", "DANDI_INSTANCE", archive.api_key_env_var):
        env.pop(name, None)
    if key is not None:
        env[archive.api_key_env_var] = key
    return env


def dandi(
    env: dict[str, str], *args: str, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the real ``dandi`` with ``args``; text output captured."""
    return subprocess.run(
        [dandi_executable(), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def upload(archive: RealArchive, clone: Path, env: dict[str, str]) -> None:
    """``dandi upload`` the clone; a second pass fills the gaps that parallel
    uploads of identical content leave (the archive's 409 on a duplicate blob)."""
    argv = ("upload", "-i", archive.api_url, "--allow-any-path")
    argv += ("--validation", "skip", "--existing", "skip")
    for _ in range(2):
        done = dandi(env, *argv, cwd=clone)
        if done.returncode == 0:
            return
    raise AssertionError(f"dandi upload failed:\n{done.stdout}\n{done.stderr}")


def version_dir(dandiset: str, subject: str, version: str, session: str | None):
    """A version directory of the real layout (relative path)."""
    parts = ["derivatives", f"dandiset-{dandiset}", f"sub-{subject}"]
    if session is not None:
        parts.append(f"ses-{session}")
    return "/".join([*parts, "pipeline-aind+ephys", f"version-{version}"])


def write_zarr(root: Path, rel: str) -> None:
    """A small Zarr v2 store: a group with one 2x2 array of two chunks."""
    store = root / rel
    (store / "data").mkdir(parents=True)
    (store / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    (store / "data" / ".zarray").write_text(
        json.dumps(
            {
                "chunks": [1, 2],
                "compressor": None,
                "dtype": "<i4",
                "fill_value": 0,
                "filters": None,
                "order": "C",
                "shape": [2, 2],
                "zarr_format": 2,
            }
        )
    )
    (store / "data" / "0.0").write_bytes(bytes(range(8)))
    (store / "data" / "1.0").write_bytes(bytes(range(8, 16)))


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def clone_files(root: Path) -> Iterator[str]:
    """The files of a clone (relative POSIX paths), its own metadata left out."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            rel = rel.replace(os.sep, "/")
            if not rel.startswith((".dandi-compute", "dandiset.yaml")):
                yield rel
