"""The warning that a draft's manifest is older than the draft's last change
(the archive rewrites it periodically), and delete-version's closing note."""

from __future__ import annotations

import email.utils
import json
import time

import pytest

from ..archive import FakeArchive
from ..archive.clones import DANDISET, KEY
from ..archive.fixtures import cli_env
from ..manifest.common import TEMPLATE_PATH, dumps
from ..manifest.server import ManifestServer
from ..records import asset_record
from ..subprocesses import run_dandi

PATHS = [f"derivatives/dandiset-000233/sub-A/file-{i}.txt" for i in range(3)]
LAGS = "older than the draft's last change"
FORMATS = ["auto", "json", "json_lines", "json_pp", "yaml", "pyout"]


@pytest.fixture
def world(archive: FakeArchive, server: ManifestServer, tmp_path):
    """The fake archive's draft and its manifest, written an hour ago."""
    records = [asset_record(p) for p in PATHS]
    archive.add_dandiset(DANDISET, records)
    path = TEMPLATE_PATH.format(dandiset_id=DANDISET, version="draft")
    served = server.add(path, dumps(records))
    served.last_modified = email.utils.formatdate(time.time() - 3600, usegmt=True)
    env = cli_env(
        archive,
        tmp_path / "home",
        DANDI_COMPUTE_MANIFEST_URL=server.url(TEMPLATE_PATH),
        DANDI_COMPUTE_CACHE_DIR=str(tmp_path / "cache"),
    )
    return archive, server, env


def index(archive: FakeArchive, env: dict, *args: str):
    return run_dandi(
        "compute", "index", DANDISET, "-i", archive.api_url, *args, env=env
    )


def delete_one(archive: FakeArchive) -> None:
    """What an upload or deletion elsewhere does: the draft changes now."""
    asset_id = archive.asset_ids(DANDISET)[PATHS[0]]
    assert archive.delete_asset(DANDISET, "draft", asset_id) == 204


def info_requests(archive: FakeArchive) -> int:
    return archive.count("GET", r"/versions/draft/info/$")


def test_no_warning_while_the_manifest_is_current(world) -> None:
    archive, _, env = world
    done = index(archive, env, "-f", "json_lines")
    assert done.returncode == 0, done.stderr
    assert LAGS not in done.stderr
    assert info_requests(archive) == 1  # the one request the check costs


@pytest.mark.parametrize("output_format", FORMATS)
def test_a_change_after_the_manifest_is_warned_of(world, output_format) -> None:
    archive, _, env = world
    delete_one(archive)
    done = index(archive, env, "-f", output_format)
    assert done.returncode == 0, done.stderr
    assert LAGS in done.stderr
    assert "by 1 hour" in done.stderr  # how much, in words
    assert LAGS not in done.stdout
    if output_format in ("json", "json_pp"):
        assert len(json.loads(done.stdout)) == len(PATHS)  # the stale manifest


def test_scan_versions_remote_and_the_summary_warn_too(world) -> None:
    archive, _, env = world
    delete_one(archive)
    done = run_dandi(
        "compute", "scan-versions", "--remote", DANDISET, "v1.1.1",
        "-i", archive.api_url, env=env,
    )  # fmt: skip
    assert LAGS in done.stderr
    done = index(archive, env, "--summary")
    assert done.returncode == 0 and LAGS in done.stderr


def test_no_check_with_source(world) -> None:
    archive, server, env = world
    delete_one(archive)
    url = server.url(TEMPLATE_PATH.format(dandiset_id=DANDISET, version="draft"))
    done = run_dandi("compute", "index", "--source", url, env=env)
    assert done.returncode == 0, done.stderr
    assert LAGS not in done.stderr and info_requests(archive) == 0


def test_an_unreachable_archive_only_skips_the_check(world) -> None:
    archive, _, env = world
    delete_one(archive)
    url = archive.api_url
    archive.stop()
    done = run_dandi("compute", "index", DANDISET, "-i", url, env=env)
    assert done.returncode == 0, done.stderr
    assert LAGS not in done.stderr and len(done.stdout.splitlines()) == len(PATHS)


def test_a_published_version_is_not_checked(world) -> None:
    archive, server, env = world
    done = index(archive, env, "--dandiset-version", "0.260501.1200")
    assert info_requests(archive) == 0
    assert LAGS not in done.stderr


def test_delete_version_says_the_manifest_will_lag(
    archive: FakeArchive, tmp_path
) -> None:
    from ..archive.clones import seed

    clone = seed(archive, tmp_path / "clone", PATHS_V)
    env = cli_env(archive, tmp_path / "home", key=KEY)
    dry = run_dandi(
        "compute", "delete-version", str(clone), "v1.1.1", "-i", archive.url,
        "--dry-run", env=env,
    )  # fmt: skip
    assert dry.returncode == 0 and "will show the deleted assets" not in dry.stderr
    done = run_dandi(
        "compute", "delete-version", str(clone), "v1.1.1", "-i", archive.url,
        "--yes", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "will show the deleted assets until the archive rewrites it" in done.stderr


PATHS_V = [
    "derivatives/dandiset-000233/sub-A/pipeline-p/version-v1.1.1/out.txt",
    "derivatives/dandiset-000233/sub-A/pipeline-p/version-v1.1.0/out.txt",
]


@pytest.mark.parametrize(
    "last_modified",
    ["Sun, 06 Dec 2020 17:00:00 -0000", "not a date", ""],
    ids=["without a zone", "junk", "empty"],
)
def test_an_odd_last_modified_only_skips_the_check(world, last_modified) -> None:
    archive, server, env = world
    path = TEMPLATE_PATH.format(dandiset_id=DANDISET, version="draft")
    server.served[path].last_modified = last_modified
    delete_one(archive)
    for args in ((), ("--no-cache",)):  # from the cache entry, from a HEAD
        done = index(archive, env, *args)
        assert done.returncode == 0, done.stderr
        assert LAGS not in done.stderr and "Traceback" not in done.stderr
        assert len(done.stdout.splitlines()) == len(PATHS)


@pytest.mark.parametrize("status", [500, 404, 401])
def test_a_failing_version_summary_only_skips_the_check(world, status) -> None:
    archive, _, env = world
    delete_one(archive)
    archive.fail("GET", r"/versions/draft/info/$", status=status)
    done = index(archive, env)
    assert done.returncode == 0, done.stderr
    assert LAGS not in done.stderr and len(done.stdout.splitlines()) == len(PATHS)
