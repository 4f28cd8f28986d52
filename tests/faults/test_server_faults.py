"""Server faults under the real ``dandi compute delete-version``; a re-run converges.

The fake archive answers errors, drops connections, loses answers or is slow, while
the real command (dandi's own client, which retries 429/5xx and broken connections
up to 12 times) deletes ``v1.1.1``: three directories of four assets each.  Every
run must end with a correct JSON report and exit status, change nothing outside
the version, and never remove a local directory whose remote assets are not all
gone; a re-run once the fault is cleared must converge (see :class:`World`).

Persistent faults run with ``FAULTS_FAST_RETRIES`` (``tests/faults/site``): dandi's
retry loop sleeps 1/100 of its ~53 s between attempts; every attempt still reaches
the server, which the tests count.
"""

from __future__ import annotations

import re

import pytest

from .common import World

pytestmark = pytest.mark.timeout(300)

N_DIRS, FILES = 3, 4
TOTAL = N_DIRS * FILES
#: dandi's attempts per request (dandi.consts.REQUEST_RETRIES)
ATTEMPTS = 12
FAST = {"FAULTS_FAST_RETRIES": "100"}


def check_failed(w: World, rec: dict, deleted: int, reason: str) -> None:
    """A failed target: its report, and its local directory left as it was."""
    assert rec["status"] == "failed" and rec["local_removed"] is False
    assert rec["deleted_assets"] == deleted
    assert reason in rec["reason"], rec["reason"]
    w.assert_left_intact(rec["path"])


def asset_id(w: World, path: str) -> str:
    return w.archive.asset_ids("001697")[path]


def test_bursts_of_503_on_deletions_are_retried(world) -> None:
    w = world(N_DIRS, FILES)
    w.archive.fail("DELETE", status=503, times=4)
    result = w.run()
    assert result.code == 0, result.stderr
    assert [(r["status"], r["deleted_assets"]) for r in result.records] == [
        ("deleted", FILES)
    ] * N_DIRS
    assert w.deletions(503) == 4 and w.deletions(204) == TOTAL
    w.rerun_converges(0)


def test_bursts_of_500_on_listings_are_retried(world) -> None:
    w = world(N_DIRS, FILES)
    w.archive.fail("GET", r"/assets/$", status=500, times=3)
    result = w.run()
    assert result.code == 0, result.stderr
    assert result.statuses() == ["deleted"] * N_DIRS
    # the plan's one listing of the version, then a check per directory
    assert w.archive.count("GET", r"/assets/$") == 3 + 1 + N_DIRS
    w.rerun_converges(0)


def test_persistent_500_on_some_assets_fails_their_directory_only(world) -> None:
    w = world(N_DIRS, FILES)
    middle = w.targets[1]
    bad = w.assets_of(middle)[1:3]
    for path in bad:
        w.archive.fail("DELETE", asset_id(w, path), status=500)
    result = w.run(**FAST)
    assert result.code == 1, result.stderr
    records = result.by_path()
    check_failed(w, records[middle], FILES - 2, "2 of 4 remote assets could not")
    failures = records[middle]["failed_assets"]
    assert [f["path"] for f in failures] == bad
    assert all("HTTP 500" in f["error"] for f in failures)
    assert {records[t]["status"] for t in (w.targets[0], w.targets[2])} == {"deleted"}
    assert sorted(w.remote_left()) == bad
    for path in bad:  # dandi tried each of them 12 times
        assert w.archive.count("DELETE", asset_id(w, path)) == ATTEMPTS
    w.assert_nothing_else_changed()
    w.rerun_converges(2)


def test_persistent_500_on_the_final_check_keeps_the_local_directory(world) -> None:
    w = world(N_DIRS, FILES)
    first = w.targets[0]
    w.archive.fail(
        "GET", r"/assets/$", query=re.escape(f"path={first}/"), after=0, status=500
    )
    result = w.run(**FAST)
    assert result.code == 1, result.stderr
    records = result.by_path()
    check_failed(w, records[first], FILES, "cannot confirm the remote deletion")
    assert "HTTP 500" in records[first]["reason"]
    assert [records[t]["status"] for t in w.targets[1:]] == ["deleted"] * 2
    assert w.remote_left() == []
    w.assert_nothing_else_changed()
    w.rerun_converges(0)  # the journal vouches for the local files left


def test_401_midway_fails_the_rest_and_keeps_their_directories(world) -> None:
    w = world(N_DIRS, FILES)
    w.archive.fail("DELETE", status=401, after=FILES + 2)  # the key is revoked
    result = w.run("-J", "1")
    assert result.code == 1, result.stderr
    first, middle, last = (result.by_path()[t] for t in w.targets)
    assert first["status"] == "deleted" and first["deleted_assets"] == FILES
    check_failed(w, middle, 2, "2 of 4 remote assets could not")
    check_failed(w, last, 0, "4 of 4 remote assets could not")
    errors = [f["error"] for f in middle["failed_assets"] + last["failed_assets"]]
    assert len(errors) == 6 and all("HTTP 401" in e for e in errors)
    assert w.archive.count("DELETE") == TOTAL  # a 401 is not retried
    assert len(w.remote_left()) == 6
    w.assert_nothing_else_changed()
    w.rerun_converges(6)


def test_dropped_connections_are_retried(world) -> None:
    w = world(N_DIRS, FILES)
    w.archive.fail("DELETE", drop=True, times=3)
    w.archive.fail("GET", r"/assets/$", drop=True, times=2)
    result = w.run()
    assert result.code == 0, result.stderr
    assert result.statuses() == ["deleted"] * N_DIRS
    assert w.archive.count("DELETE") == TOTAL + 3
    w.rerun_converges(0)


def test_answers_lost_after_the_deletion_count_as_gone_on_retry(world) -> None:
    w = world(N_DIRS, FILES)
    w.archive.fail("DELETE", drop_after_serving=True, times=3)
    result = w.run()
    assert result.code == 0, result.stderr
    assert [r["deleted_assets"] for r in result.records] == [FILES] * N_DIRS
    # deleted while the answer was lost; the retry was told 404: gone
    assert w.deletions(204) == TOTAL and w.deletions(404) == 3
    w.rerun_converges(0)


def test_a_connection_dropped_for_good_fails_that_asset(world) -> None:
    w = world(N_DIRS, FILES)
    last = w.targets[-1]
    bad = w.assets_of(last)[0]
    w.archive.fail("DELETE", asset_id(w, bad), drop=True)
    result = w.run(**FAST)
    assert result.code == 1, result.stderr
    rec = result.by_path()[last]
    check_failed(w, rec, FILES - 1, "1 of 4 remote assets could not")
    [failure] = rec["failed_assets"]
    assert failure["path"] == bad and "ConnectionError" in failure["error"]
    assert w.remote_left() == [bad]
    w.assert_nothing_else_changed()
    w.rerun_converges(1)


def test_slow_responses_change_nothing_but_the_time(world) -> None:
    w = world(N_DIRS, FILES)
    w.archive.fail(None, delay=0.2)
    result = w.run("-J", "4")
    assert result.code == 0, result.stderr
    assert result.statuses() == ["deleted"] * N_DIRS
    assert w.archive.peak("DELETE") > 1  # still in parallel
    w.rerun_converges(0)


def test_an_unavailable_server_stops_the_run_before_any_change(world) -> None:
    w = world(N_DIRS, FILES)
    w.archive.fail(None, r"^/api/", status=503)
    result = w.run(**FAST)
    assert result.code == 1
    assert result.records == []
    # the server failed, not the key: said so, without blaming the key
    assert "Cannot check the API key" in result.stderr
    assert "HTTP 503" in result.stderr and "Nothing was changed" in result.stderr
    assert "rejected" not in result.stderr
    assert w.archive.count("GET", "^/api/auth/token/?$") == ATTEMPTS
    assert w.archive.count("DELETE") == 0
    w.assert_nothing_else_changed()
    assert all((w.clone / t).is_dir() for t in w.targets)
    assert not w.journal_exists()
    w.rerun_converges(TOTAL)
