"""``dandi compute move`` between two dandisets of one owner on the real archive:
blob assets are created in the target from the source's blobs (the S3 emulator
receives no PUT) with the source's metadata, a Zarr is uploaded from the clone, a
taken target path refuses its directory, a target of another owner changes
nothing, and a run killed with SIGKILL (while creating, while deleting) finishes
when run again."""

from __future__ import annotations

from dataclasses import dataclass
import json
import os
from pathlib import Path
import re
import signal
import subprocess
import time

import pytest

from ..subprocesses import dandi_executable
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

SES_V = version_dir("000233", "CGM3", "v1.1.1", "CGM3")
NO_SES_V = version_dir("001469", "Chronic-Implant-2", "v1.1.1", None)
SES, NO_SES = f"{SES_V}/{PARAMS}", f"{NO_SES_V}/{PARAMS}"
KEPT = f"{version_dir('000233', 'CGM3', 'v1.1.0', 'CGM3')}/{PARAMS}"
SAME = b"the same bytes in three directories\n"
FILES = {
    "README.md": b"a compute-derivative dandiset\n",
    f"{SES}/code/submit.sh": b"#!/bin/sh\nrun v1.1.1\n",
    f"{SES}/logs/a.txt": SAME,
    f"{SES}/logs/b.txt": SAME,
    f"{NO_SES}/output/summary.json": b'{"units": 3}\n',
    f"{NO_SES}/logs/run.log": SAME,
    f"{KEPT}/logs/run.log": SAME,
}
ZARR = f"{SES}/output/traces.zarr"
ZARR_FILES = 4  # write_zarr's .zgroup, .zarray and two chunks
MOVING = {p for p in FILES if p.startswith((SES + "/", NO_SES + "/"))}
PUT = re.compile(r'"PUT (/\S+) HTTP')


@dataclass
class Pair:
    """A source dandiset uploaded from ``clone`` by ``dandi upload``, and an
    empty target dandiset of the same owner."""

    archive: RealArchive
    api: Api
    source: str
    target: str
    clone: Path
    env: dict[str, str]

    def argv(self, *args: str) -> list[str]:
        return [
            dandi_executable(), "compute", "move", str(self.clone), "v1.1.1",
            "--to", self.target, "-i", self.archive.api_url, "-f", "json", *args,
        ]  # fmt: skip

    def move(self, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
        """The move of v1.1.1, confirmed; its records by directory."""
        done = dandi(self.env, *self.argv("--yes", *args)[1:])
        records = json.loads(done.stdout) if done.stdout.strip() else []
        return done, {r["path"]: r for r in records}

    def digests(self, dandiset: str) -> dict[str, dict]:
        """Per path: the asset's digest, blob and zarr, as the API lists them."""
        return {
            a["path"]: {
                "digest": a["metadata"]["digest"],
                "blob": a["blob"],
                "zarr": a["zarr"],
                "size": a["size"],
            }
            for a in self.api.assets(dandiset, metadata="true")
        }

    def puts(self) -> list[str]:
        """The object keys the S3 emulator has received a PUT for so far."""
        log = (self.archive.workdir / "moto.log").read_text(errors="replace")
        return PUT.findall(log)


def make_pair(
    archive: RealArchive,
    tmp_path: Path,
    name: str,
    zarr: bool,
    files: dict[str, bytes] = FILES,
) -> Pair:
    api = Api(archive.api_url, archive.key)
    source = api.new_dandiset(f"{name} source")
    target = api.new_dandiset(f"{name} target")
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / "dandiset.yaml").write_text(f"identifier: DANDI:{source}\nname: x\n")
    write_files(clone, files)
    if zarr:
        write_zarr(clone, ZARR)
    env = dandi_env(archive, tmp_path / "home", archive.key)
    upload(archive, clone, env)
    return Pair(archive, api, source, target, clone, env)


@pytest.fixture
def pair(real_archive: RealArchive, tmp_path: Path, request) -> Pair:
    return make_pair(real_archive, tmp_path, request.node.name, zarr=False)


def assert_moved(pair: Pair, before: dict, paths: set[str]) -> dict:
    """Every path in the target with its digest, none left in the source."""
    target = pair.digests(pair.target)
    assert set(target) == paths
    for path in paths:
        assert target[path]["digest"] == before[path]["digest"], path
        assert target[path]["size"] == before[path]["size"], path
    assert not paths & pair.api.paths(pair.source)
    return target


def test_blob_assets_move_without_a_put(pair: Pair) -> None:
    before = pair.digests(pair.source)
    puts = pair.puts()
    assert any("/blobs/" in key for key in puts)  # the log does show uploads
    done, records = pair.move()
    assert done.returncode == 0, done.stderr
    assert {p: r["status"] for p, r in records.items()} == {
        SES_V: "moved",
        NO_SES_V: "moved",
    }
    assert sum(r["created_assets"] for r in records.values()) == len(MOVING)
    target = assert_moved(pair, before, MOVING)
    for path in MOVING:  # the same blob: nothing was copied
        assert target[path]["blob"] == before[path]["blob"], path
    assert pair.puts() == puts
    assert pair.api.paths(pair.source) == set(FILES) - MOVING
    assert set(clone_files(pair.clone)) == set(FILES) - MOVING
    # the target's asset serves the content
    (moved,) = pair.api.assets(pair.target, path=f"{SES}/code/")
    got = pair.api.get(f"/assets/{moved['asset_id']}/download/", allow_redirects=True)
    assert got.status_code == 200 and got.content == FILES[f"{SES}/code/submit.sh"]


def test_zarr_uploaded_from_the_clone_and_clone_kept(
    real_archive: RealArchive, tmp_path: Path
) -> None:
    pair = make_pair(real_archive, tmp_path, "zarr move", zarr=True)
    before = pair.digests(pair.source)
    local = set(clone_files(pair.clone))
    puts = pair.puts()
    done, records = pair.move("--keep-local")
    assert done.returncode == 0, done.stderr
    assert records[SES_V]["status"] == "moved"
    assert records[SES_V]["uploaded_zarrs"] == 1
    target = assert_moved(pair, before, MOVING | {ZARR})
    assert target[ZARR]["zarr"] and target[ZARR]["zarr"] != before[ZARR]["zarr"]
    new = pair.puts()[len(puts) :]
    # only the Zarr's files went to object storage, into the target's Zarr
    assert len(new) == ZARR_FILES, new
    assert all(f"/zarr/{target[ZARR]['zarr']}/" in key for key in new), new
    assert set(clone_files(pair.clone)) == local


def _capsule(attempt: int) -> str:
    """A flat job capsule of v1.1.1 (the layout pipelines write today)."""
    session = "derivatives/dandiset-000233/sub-CGM3/ses-CGM3/pipeline-aind+ephys"
    return (
        f"{session}/version-v1.1.1_codebase-v0.3.0_params-98fd947_config-6568dda"
        f"_attempt-{attempt}"
    )


def test_one_flat_capsule_moves_and_nothing_else(
    real_archive: RealArchive, tmp_path: Path
) -> None:
    """The operator's case: one failed job capsule (the flat form) moved out by
    its directory; its sibling attempt and the nested form of the same version
    stay where they are, on the archive and in the clone."""
    failed, sibling = _capsule(1), _capsule(2)
    files = {
        **FILES,
        f"{failed}/logs/run.log": b"attempt 1 failed\n",
        f"{failed}/output/partial.json": b'{"units": 1}\n',
        f"{sibling}/logs/run.log": SAME,
    }
    pair = make_pair(real_archive, tmp_path, "capsule move", zarr=False, files=files)
    before = pair.digests(pair.source)
    puts = pair.puts()
    argv = pair.argv("--yes")
    argv[argv.index("v1.1.1")] = failed
    done = dandi(pair.env, *argv[1:])
    assert done.returncode == 0, done.stderr
    records = {r["path"]: r for r in json.loads(done.stdout)}
    assert {p: r["status"] for p, r in records.items()} == {failed: "moved"}
    moving = {p for p in files if p.startswith(failed + "/")}
    target = assert_moved(pair, before, moving)
    assert all(target[p]["blob"] == before[p]["blob"] for p in moving)
    assert pair.puts() == puts
    assert pair.api.paths(pair.source) == set(files) - moving
    assert set(clone_files(pair.clone)) == set(files) - moving


def test_a_target_path_taken_by_other_content_is_refused(pair: Pair) -> None:
    before = pair.digests(pair.source)
    other = before[f"{NO_SES}/output/summary.json"]["blob"]
    taken = f"{SES}/logs/a.txt"
    pair.api.add_asset(pair.target, taken, other)
    done, records = pair.move()
    assert done.returncode == 1
    assert records[SES_V]["status"] == "refused"
    assert taken in records[SES_V]["reason"]
    assert records[NO_SES_V]["status"] == "moved"
    moved_ok = {p for p in MOVING if p.startswith(NO_SES + "/")}
    source_left = pair.api.paths(pair.source)
    assert source_left == set(FILES) - moved_ok  # nothing of SES deleted
    target = pair.digests(pair.target)
    assert target[taken]["blob"] == other  # not overwritten
    assert (pair.clone / SES).is_dir()
    assert all((pair.clone / p).is_file() for p in FILES if p.startswith(SES))


N_KILL = 40  # enough single-request steps at -J 1 to land a kill in the middle


def _count(pair: Pair, dandiset: str, below: str = "") -> int:
    url = f"/dandisets/{dandiset}/versions/draft/assets/"
    params = {"page_size": 1, **({"path": below} if below else {})}
    return pair.api.json(url, **params)["count"]


@pytest.mark.parametrize("phase", ["creating", "deleting"])
def test_a_killed_move_finishes_when_run_again(
    real_archive: RealArchive, tmp_path: Path, phase: str
) -> None:
    pair = make_pair(real_archive, tmp_path, f"killed move {phase}", zarr=False)
    seed = pair.api.assets(pair.source, path=f"{SES}/logs/a.txt")[0]["blob"]
    extra = [f"{SES}/out/{i:03d}.txt" for i in range(N_KILL)]
    for path in extra:
        pair.api.add_asset(pair.source, path, seed)
    write_files(pair.clone, dict.fromkeys(extra, SAME))
    moving = MOVING | set(extra)
    before = pair.digests(pair.source)
    puts = pair.puts()
    if phase == "creating":
        ready = lambda: _count(pair, pair.target) >= 3  # noqa: E731
    else:
        ready = lambda: _count(pair, pair.source) <= len(before) - 3  # noqa: E731
    run = subprocess.Popen(
        pair.argv("--yes", "-J", "1"),
        env=pair.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready():
            assert run.poll() is None, "the move ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
    in_target = pair.api.paths(pair.target)
    in_source = pair.api.paths(pair.source)
    assert moving & in_source, "killed too late to test a resumption"
    assert in_target <= moving
    if phase == "creating":  # the deletion starts after every copy is listed
        assert in_source == set(before) and len(in_target) < len(moving)
    else:
        assert in_target == moving
        assert (pair.clone / ".dandi-compute/delete-journal.jsonl").exists()

    done, records = pair.move()
    assert done.returncode == 0, done.stderr
    assert {r["status"] for r in records.values()} == {"moved"}
    already = sum(r["already_in_target"] for r in records.values())
    # a request the server took before the kill may end after the listing above
    assert len(in_target & in_source) <= already <= len(in_target & in_source) + 1
    assert_moved(pair, before, moving)
    assert pair.api.paths(pair.source) == set(FILES) - MOVING
    assert not (pair.clone / SES).exists() and not (pair.clone / NO_SES).exists()
    assert not (pair.clone / ".dandi-compute/delete-journal.jsonl").exists()
    assert pair.puts() == puts


def test_a_target_the_user_cannot_write_changes_nothing(pair: Pair) -> None:
    stranger = Api(pair.archive.api_url, pair.archive.create_user("stranger"))
    pair.target = stranger.new_dandiset("not the owner's")
    before = pair.digests(pair.source)
    local = set(clone_files(pair.clone))
    done, records = pair.move()
    assert done.returncode == 1
    assert {p: r["status"] for p, r in records.items()} == {
        SES_V: "failed",
        NO_SES_V: "failed",
    }
    assert all("HTTP 403" in r["reason"] for r in records.values())
    assert pair.digests(pair.source) == before
    assert pair.api.paths(pair.target) == set()
    assert set(clone_files(pair.clone)) == local


def test_the_target_keeps_the_sources_metadata(pair: Pair) -> None:
    """Only what the server sets on every new asset differs (its ids and its
    download URL); the object-storage URL is the source's: the same blob."""
    source = {
        a["path"]: a["metadata"] for a in pair.api.assets(pair.source, metadata="1")
    }
    done, _ = pair.move()
    assert done.returncode == 0, done.stderr
    server_set = {"id", "identifier", "contentUrl"}
    moved = pair.api.assets(pair.target, metadata="1")
    assert {a["path"] for a in moved} == MOVING
    for asset in moved:
        mine, theirs = asset["metadata"], source[asset["path"]]
        assert {k: v for k, v in mine.items() if k not in server_set} == {
            k: v for k, v in theirs.items() if k not in server_set
        }
        assert mine["identifier"] != theirs["identifier"]
        assert mine["contentUrl"][1:] == theirs["contentUrl"][1:]
