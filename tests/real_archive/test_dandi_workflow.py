"""``dandi upload`` of a compute-derivative tree, then ``dandi compute`` against the
real archive; each test checks the server's state afterwards through its API."""

from __future__ import annotations

from dataclasses import dataclass
import json
from pathlib import Path
import time

from dandi.support.digests import get_dandietag, get_zarr_checksum
import pytest
import requests

from .services import RealArchive
from .world import (
    PARAMS,
    Api,
    clone_files,
    dandi,
    dandi_env,
    upload,
    version_dir,
    write_files,
    write_zarr,
)

SES = version_dir("000233", "CGM3", "v1.1.1", "CGM3")
NO_SES = version_dir("001469", "Chronic-Implant-2", "v1.1.1", None)
KEPT = version_dir("000233", "CGM3", "v1.1.0", "CGM3")
SAME = b"the same bytes in three directories\n"
FILES = {
    "README.md": b"a compute-derivative dandiset\n",
    f"{SES}/{PARAMS}/code/submit.sh": b"#!/bin/sh\nrun v1.1.1\n",
    f"{SES}/{PARAMS}/logs/a.txt": SAME,
    f"{SES}/{PARAMS}/logs/b.txt": SAME,
    f"{NO_SES}/{PARAMS}/output/summary.json": b'{"units": 3}\n',
    f"{NO_SES}/{PARAMS}/logs/run.log": SAME,
    f"{KEPT}/{PARAMS}/logs/run.log": SAME,
    f"{KEPT}/{PARAMS}/output/summary.json": b'{"units": 2}\n',
}
ZARR = f"{SES}/{PARAMS}/output/traces.zarr"


@dataclass
class World:
    """A dandiset uploaded by ``dandi upload`` from the clone at ``clone``."""

    archive: RealArchive
    api: Api
    dandiset: str
    clone: Path
    env: dict[str, str]

    def compute(self, *args: str, env: dict[str, str] | None = None):
        return dandi(env or self.env, "compute", *args)

    def delete(self, *args: str, env: dict[str, str] | None = None):
        """``delete-version`` of v1.1.1 on the clone, records as JSON lines."""
        done = self.compute(
            "delete-version", str(self.clone), "v1.1.1", "-i",
            self.archive.api_url, "-f", "json_lines", *args, env=env,
        )  # fmt: skip
        records = [json.loads(line) for line in done.stdout.splitlines()]
        return done, {r["path"]: r for r in records}

    def remote(self) -> set[str]:
        return self.api.paths(self.dandiset)


def build_world(archive: RealArchive, tmp_path: Path, name: str) -> World:
    api = Api(archive.api_url, archive.key)
    dandiset = api.new_dandiset(name)
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / "dandiset.yaml").write_text(f"identifier: DANDI:{dandiset}\nname: x\n")
    write_files(clone, FILES)
    write_zarr(clone, ZARR)
    env = dandi_env(archive, tmp_path / "home", archive.key)
    upload(archive, clone, env)
    return World(archive, api, dandiset, clone, env)


@pytest.fixture
def world(real_archive: RealArchive, tmp_path: Path, request) -> World:
    return build_world(real_archive, tmp_path, request.node.name)


def uploaded_paths() -> set[str]:
    return {*FILES, ZARR}


def test_upload_gives_the_tree_and_dandis_own_digests(world: World) -> None:
    assets = world.api.assets(world.dandiset, metadata="true")
    assert {a["path"] for a in assets} == uploaded_paths()
    for asset in assets:
        digest = asset["metadata"]["digest"]
        local = world.clone / asset["path"]
        if asset["path"] == ZARR:
            assert asset["blob"] is None and asset["zarr"]
            assert digest["dandi:dandi-zarr-checksum"] == get_zarr_checksum(local)
        else:
            assert asset["zarr"] is None and asset["blob"]
            assert digest["dandi:dandi-etag"] == get_dandietag(local).as_str()
    same = {a["blob"] for a in assets if a["size"] == len(SAME)}
    assert len(same) == 1  # identical files: one blob on the archive


def test_manifest_scan_and_index(world: World) -> None:
    world.archive.write_manifest(world.dandiset)
    done = world.compute(
        "scan-versions", "--remote", str(world.clone), "v1.1.1", "-f", "json_lines"
    )
    assert done.returncode == 0, done.stderr
    found = {r["path"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert set(found) == {SES, NO_SES}
    listing = world.api.assets(world.dandiset)
    for path, record in found.items():
        below = [a for a in listing if a["path"].startswith(path + "/")]
        assert record["asset_count"] == len(below)
        assert record["total_bytes"] == sum(a["size"] for a in below)
    assert found[NO_SES]["session"] is None
    done = world.compute("index", world.dandiset, "-f", "json_lines")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    by_path = {a["path"]: a for a in world.api.assets(world.dandiset, metadata="1")}
    assert {r["path"] for r in rows} == set(by_path)
    for row in rows:
        asset = by_path[row["path"]]
        assert row["content_size"] == asset["size"]
        assert row["content_id"] in (asset["blob"], asset["zarr"])


def test_dry_run_then_delete(world: World) -> None:
    before_remote, before_local = world.remote(), set(clone_files(world.clone))
    done, records = world.delete("--dry-run")
    assert done.returncode == 0, done.stderr
    assert {p: r["status"] for p, r in records.items()} == {
        SES: "planned",
        NO_SES: "planned",
    }
    assert records[SES]["remote_assets"] == 4  # three files and the Zarr
    assert world.remote() == before_remote
    assert set(clone_files(world.clone)) == before_local

    done, records = world.delete("--yes")
    assert done.returncode == 0, done.stderr
    assert {p: r["status"] for p, r in records.items()} == {
        SES: "deleted",
        NO_SES: "deleted",
    }
    kept = {p for p in FILES if not p.startswith((SES + "/", NO_SES + "/"))}
    assert world.remote() == kept
    assert set(clone_files(world.clone)) == kept
    assert not (world.clone / SES).exists()
    # emptied parents go, up to but not including derivatives/dandiset-*
    assert list((world.clone / "derivatives/dandiset-001469").iterdir()) == []
    # the blob the deleted assets shared with a kept one still downloads
    (kept_asset,) = world.api.assets(world.dandiset, path=f"{KEPT}/{PARAMS}/logs/")
    got = requests.get(
        f"{world.archive.api_url}/assets/{kept_asset['asset_id']}/download/",
        timeout=60,
    )
    assert got.status_code == 200 and got.content == SAME


def test_remote_only_kept_then_included(world: World) -> None:
    for path in sorted((world.clone / NO_SES).rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (world.clone / NO_SES).rmdir()
    done, records = world.delete("--yes")
    assert done.returncode == 0, done.stderr
    assert records[NO_SES]["status"] == "remote-only"
    assert records[SES]["status"] == "deleted"
    remote = world.remote()
    assert {p for p in remote if p.startswith(NO_SES + "/")} == {
        p for p in FILES if p.startswith(NO_SES + "/")
    }
    assert not any(p.startswith(SES + "/") for p in remote)

    done, records = world.delete("--yes", "--include-remote")
    assert done.returncode == 0, done.stderr
    assert records[NO_SES]["status"] == "deleted"
    assert not any(p.startswith((SES + "/", NO_SES + "/")) for p in world.remote())


def test_a_file_changed_after_upload_is_refused(world: World) -> None:
    changed = world.clone / SES / PARAMS / "logs" / "a.txt"
    changed.write_bytes(SAME.upper())  # same size, other content
    before = world.remote()
    done, records = world.delete("--yes")
    assert done.returncode == 1
    assert records[SES]["status"] == "refused"
    assert records[SES]["unuploaded"] == [str(changed.relative_to(world.clone))]
    assert records[NO_SES]["status"] == "deleted"
    assert world.remote() == before - {p for p in FILES if p.startswith(NO_SES)}
    assert changed.read_bytes() == SAME.upper()


def test_a_wrong_key_changes_nothing(world: World) -> None:
    before_remote, before_local = world.remote(), set(clone_files(world.clone))
    env = dandi_env(world.archive, world.clone.parent / "home", "0" * 40)
    done, records = world.delete("--yes", env=env)
    assert done.returncode != 0
    assert not any(r["status"] == "deleted" for r in records.values())
    assert world.remote() == before_remote
    assert set(clone_files(world.clone)) == before_local
    assert "0" * 40 not in done.stdout + done.stderr


def test_the_manifest_lags_a_deletion_until_rewritten(world: World) -> None:
    lags = "older than the draft's last change"
    world.archive.write_manifest(world.dandiset)
    done = world.compute(
        "index", world.dandiset, "-i", world.archive.api_url, "-f", "json_lines"
    )
    assert done.returncode == 0 and lags not in done.stderr
    time.sleep(1.1)  # Last-Modified has whole seconds

    done, _ = world.delete("--yes")
    assert done.returncode == 0, done.stderr
    assert "will show the deleted assets until the archive rewrites it" in done.stderr
    done = world.compute(
        "index", world.dandiset, "-i", world.archive.api_url, "-f", "json"
    )
    assert done.returncode == 0 and lags in done.stderr
    listed = {r["path"] for r in json.loads(done.stdout)}
    assert listed == uploaded_paths() != world.remote()  # the manifest as it was

    world.archive.write_manifest(world.dandiset)
    done = world.compute(
        "index", world.dandiset, "-i", world.archive.api_url, "-f", "json"
    )
    assert done.returncode == 0 and lags not in done.stderr
    assert {r["path"] for r in json.loads(done.stdout)} == world.remote()
