"""More than one listing page (assets made through the API from one uploaded blob),
and a deletion killed with SIGKILL then run again."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import json
import os
from pathlib import Path
import signal
import subprocess
import time

import pytest

from ..archive import FakeArchive
from ..subprocesses import dandi_executable
from .services import RealArchive
from .test_contract import view
from .world import PARAMS, Api, dandi, dandi_env, upload, version_dir, write_files

DELETED = version_dir("000363", "480134", "v1.1.1", "20210107T120825")
KEPT = version_dir("000363", "480134", "v1.1.0", "20210107T120825")
CONTENT = b"one blob for every asset of this dandiset\n"
N_DELETED, N_KEPT = 1005, 10  # the version alone needs two pages of 1000


@dataclass
class Many:
    archive: RealArchive
    api: Api
    dandiset: str
    clone: Path
    env: dict[str, str]
    deleted: list[str]
    kept: list[str]

    def delete(self, *args: str) -> list[str]:
        return [
            dandi_executable(), "compute", "delete-version", str(self.clone),
            "v1.1.1", "-i", self.archive.api_url, "-f", "json_lines", *args,
        ]  # fmt: skip

    def remote_below(self, directory: str) -> int:
        """How many assets the archive lists below ``directory``."""
        page = self.api.json(
            f"/dandisets/{self.dandiset}/versions/draft/assets/",
            path=directory + "/",
            page_size=1,
        )
        return page["count"]


@pytest.fixture(scope="module")
def many(real_archive: RealArchive, tmp_path_factory) -> Many:
    """A dandiset of 1,111 assets: one uploaded, the others made from its blob."""
    tmp = tmp_path_factory.mktemp("many")
    api = Api(real_archive.api_url, real_archive.key)
    dandiset = api.new_dandiset("many assets")
    clone = tmp / "clone"
    write_files(clone, {"README.md": CONTENT})
    (clone / "dandiset.yaml").write_text(f"identifier: DANDI:{dandiset}\nname: x\n")
    env = dandi_env(real_archive, tmp / "home", real_archive.key)
    upload(real_archive, clone, env)
    (seed,) = api.assets(dandiset)
    deleted = [f"{DELETED}/{PARAMS}/out/{i:04d}.txt" for i in range(N_DELETED)]
    kept = [f"{KEPT}/{PARAMS}/out/{i:04d}.txt" for i in range(N_KEPT)]
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(lambda p: api.add_asset(dandiset, p, seed["blob"]), deleted + kept)
        )
    write_files(clone, dict.fromkeys(deleted + kept, CONTENT))
    return Many(real_archive, api, dandiset, clone, env, deleted, kept)


def test_listing_pages_manifest_and_plan(many: Many) -> None:
    first = many.api.json(
        f"/dandisets/{many.dandiset}/versions/draft/assets/", page_size=1000
    )
    assert first["count"] == N_DELETED + N_KEPT + 1 and first["next"]
    assert len(many.api.assets(many.dandiset)) == N_DELETED + N_KEPT + 1

    many.archive.write_manifest(many.dandiset)
    done = dandi(many.env, "compute", "index", many.dandiset, "--summary", "-f", "json")
    assert done.returncode == 0, done.stderr
    (summary,) = json.loads(done.stdout)
    assert summary["assets"] == N_DELETED + N_KEPT + 1
    assert summary["total_bytes"] == (N_DELETED + N_KEPT + 1) * len(CONTENT)

    done = dandi(
        many.env, "compute", "scan-versions", "--remote", many.dandiset, "v1.1.1",
        "-f", "json_lines",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (record,) = map(json.loads, done.stdout.splitlines())
    assert (record["path"], record["asset_count"]) == (DELETED, N_DELETED)

    done = dandi(many.env, *many.delete("--dry-run")[1:])
    assert done.returncode == 0, done.stderr
    (plan,) = map(json.loads, done.stdout.splitlines())
    assert (plan["status"], plan["remote_assets"]) == ("planned", N_DELETED)
    assert many.remote_below(DELETED) == N_DELETED


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"page_size": 5000},
        {"page_size": 5000, "page": 2},
        {"page_size": 1000, "path": DELETED.upper() + "/"},
        {"page_size": 1000, "path": DELETED + "/", "page": 2},
        {"page_size": "junk", "page": 11},
    ],
    ids=["default", "capped", "capped, page 2", "path", "path, page 2", "junk"],
)
def test_the_fake_pages_as_the_archive(many: Many, params: dict) -> None:
    """The page sizes of the real archive (default, cap) seen with 1,016 assets."""
    assets = many.api.assets(many.dandiset, metadata="1")
    assets.sort(key=lambda a: a["created"])
    with FakeArchive(tokens={many.archive.key: "owner"}) as fake:
        fake.add_dandiset(many.dandiset, [a["metadata"] for a in assets])
        url = f"/dandisets/{many.dandiset}/versions/draft/assets/"
        real = view(many.api.get(url, params=params))
        assert view(Api(fake.api_url, many.archive.key).get(url, params=params)) == real


def test_killed_deletion_finishes_when_run_again(many: Many) -> None:
    run = subprocess.Popen(
        many.delete("--yes", "--jobs", "2"),
        env=many.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while many.remote_below(DELETED) > N_DELETED - 100:
            assert run.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
    left = many.remote_below(DELETED)
    assert 0 < left < N_DELETED, "killed too late to test a resumption"
    assert (many.clone / ".dandi-compute/delete-journal.jsonl").exists()
    assert (many.clone / DELETED).is_dir()

    # at the default --jobs: the real server's crowded DELETEs in one draft
    # deadlock in PostgreSQL (HTTP 500), and the run must lose no asset to them
    done = dandi(many.env, *many.delete("--yes")[1:])
    assert done.returncode == 0, done.stdout + done.stderr
    (record,) = map(json.loads, done.stdout.splitlines())
    assert record["status"] == "deleted"
    assert many.remote_below(DELETED) == 0
    assert many.remote_below(KEPT) == N_KEPT
    assert not (many.clone / DELETED).exists()
    assert len(list((many.clone / KEPT).rglob("*.txt"))) == N_KEPT
    assert not (many.clone / ".dandi-compute/delete-journal.jsonl").exists()
