"""The pace of a run's DELETE requests: halved when the archive fails one, grown
back slowly, and a crowded deletion (500) tried again once a place is free.  The
real archive's concurrent deletions in one draft deadlock in its database (HTTP
500) when crowded; the fake archive's ``crowd`` fault does the same."""

from __future__ import annotations

import io
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest
import requests
import tenacity

from dandi_compute_plugin.deletion import (
    TargetStatus,
    execute_plan,
    plan_deletion,
    run_deletion,
)
from dandi_compute_plugin.deletion.archive import ArchiveSession
from dandi_compute_plugin.deletion.pace import (
    Crowded,
    DeletePace,
    backoff,
    delete_paced,
)

from ..archive import FakeArchive
from ..archive.clones import DANDISET, KEY, seed
from ..records import version_files


def answer(status: int, method: str = "DELETE", body: bytes = b"") -> requests.Response:
    """A response to one attempt, as the ``requests`` hook gets it."""
    response = requests.Response()
    response.status_code = status
    response.request = requests.Request(method, "http://archive/api/x/").prepare()
    response.raw = io.BytesIO(body)
    return response


def observe(pace: DeletePace, status: int, method: str = "DELETE") -> None:
    """One attempt's answer seen by the pace (a 500 raises, as it must)."""
    if status == 500 and method == "DELETE":
        with pytest.raises(Crowded):
            pace.observe(answer(status, method))
    else:
        pace.observe(answer(status, method))


def files(sub: str, n: int) -> list[str]:
    names = [f"output/f{i:03d}.json" for i in range(n)]
    return version_files("000001", sub, "v1.1.1", names=names)


def test_a_crowded_archive_loses_no_asset(keyed: FakeArchive, tmp_path) -> None:
    """A DELETE arriving while three others are in flight fails (500), as the
    real archive's deadlocks do when crowded: at sixteen jobs the run slows
    down and deletes everything, although each deletion has time for about
    four attempts (they and their back-offs within 8 s; without the pace, many
    ran out of them)."""
    clone = seed(keyed, tmp_path / "clone", files("A", 40) + files("B", 40))
    keyed.fail("DELETE", status=500, crowd=4, delay=0.2)
    keyed.fail("DELETE", delay=0.02)
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, jobs=16, timeout=8)
    assert [r.status for r in report.results] == [TargetStatus.DELETED] * 2, [
        r.reason for r in report.results
    ]
    assert keyed.paths(DANDISET) == []
    crowded = [r for r in keyed.log if r.method == "DELETE" and r.status == 500]
    assert crowded  # the archive was crowded: the pace is what saved the run


def test_each_failed_deletion_halves_the_pace() -> None:
    pace = DeletePace(16)
    all_in = threading.Barrier(3)

    def request(status: int) -> None:
        assert pace.enter(lambda: False)
        all_in.wait(timeout=10)  # three in flight at once
        observe(pace, status)
        pace.leave()

    threads = [threading.Thread(target=request, args=(s,)) for s in (500, 503, 204)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # wherever the success comes, it is no reason to grow
    assert pace.limit == 4 and pace.in_flight == 0
    for expected in (2, 1, 1):
        assert pace.enter(lambda: False)
        observe(pace, 502)
        pace.leave()
        assert pace.limit == expected


def test_successes_grow_the_pace_back_one_at_a_time() -> None:
    pace = DeletePace(4)
    for _ in range(2):
        assert pace.enter(lambda: False)
        observe(pace, 500)
        pace.leave()
    assert pace.limit == 1
    grown = []
    for _ in range(1 + 2 + 3 + 5):
        assert pace.enter(lambda: False)
        observe(pace, 204)
        pace.leave()
        grown.append(pace.limit)
    assert grown == [2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4]
    observe(pace, 404)  # gone already: as good as deleted
    observe(pace, 500, "GET")  # a listing: not a deletion
    assert pace.limit == 4


@settings(max_examples=200, deadline=None)
@given(
    jobs=st.integers(1, 64),
    answers=st.lists(st.sampled_from([204, 404, 500, 502, 503, 504, 429, 403])),
)
def test_the_pace_stays_between_one_and_jobs(jobs: int, answers: list[int]) -> None:
    pace = DeletePace(jobs)
    for status in answers:
        before = pace.limit
        assert pace.enter(lambda: False)
        observe(pace, status)
        pace.leave()
        assert 1 <= pace.limit <= jobs
        if status >= 500 or status == 429:
            assert pace.limit == max(1, before // 2)
        elif status == 403:
            assert pace.limit == before
        else:
            assert pace.limit in (before, before + 1)
    assert pace.in_flight == 0


def test_a_request_waiting_for_its_place_gives_up_when_the_run_stops() -> None:
    pace = DeletePace(1)
    assert pace.enter(lambda: False)
    stop = threading.Event()
    got = []
    waiting = threading.Thread(target=lambda: got.append(pace.enter(stop.is_set)))
    waiting.start()
    time.sleep(0.3)
    assert got == [] and waiting.is_alive()  # no place: it waits
    stop.set()
    waiting.join(timeout=10)
    assert got == [False] and pace.in_flight == 1
    pace.leave()
    assert pace.enter(lambda: False) and pace.in_flight == 1


class Archive:
    """A deletion answered crowded (500) ``crowded`` times, then done."""

    def __init__(self, pace: DeletePace, crowded: int) -> None:
        self.pace, self.crowded, self.attempts = pace, crowded, 0
        self.places_taken: list[int] = []

    def delete(self) -> None:
        self.attempts += 1
        self.places_taken.append(self.pace.in_flight)
        status = 500 if self.attempts <= self.crowded else 204
        self.pace.observe(answer(status, body=b"deadlock detected"))


def test_a_crowded_deletion_is_tried_again_until_done() -> None:
    pace = DeletePace(2)
    archive = Archive(pace, crowded=2)
    assert delete_paced(pace, archive.delete, lambda: False, timeout=60)
    assert archive.attempts == 3 and pace.in_flight == 0
    assert archive.places_taken == [1, 1, 1]  # each attempt within a place
    assert pace.limit == 2  # halved twice (down to one), then grown by the success


def test_the_place_is_free_while_a_crowded_deletion_waits() -> None:
    pace = DeletePace(1)
    archive = Archive(pace, crowded=1)
    waiting = threading.Thread(
        target=delete_paced, args=(pace, archive.delete, lambda: False, 60)
    )
    waiting.start()
    time.sleep(0.5)  # within its first back-off (1.25 s)
    assert archive.attempts == 1 and pace.in_flight == 0
    assert pace.enter(lambda: False)  # another deletion gets the place
    pace.leave()
    waiting.join(timeout=30)
    assert archive.attempts == 2


@pytest.mark.parametrize(
    ("timeout", "attempts"), [(1, 1), (1.26, 2), (2.82, 3), (60, 12), (1e6, 12)]
)
def test_a_crowded_deletion_has_as_many_attempts_as_a_request(
    timeout: float, attempts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dandi's budget: 12 attempts, their back-offs (1.25 s, then 1.25 times
    longer each) within the timeout."""
    slept = []
    monkeypatch.setattr(tenacity.nap, "sleep", slept.append)  # no real waits
    pace = DeletePace(4)
    archive = Archive(pace, crowded=10**6)
    with pytest.raises(Crowded) as info:
        delete_paced(pace, archive.delete, lambda: False, timeout=timeout)
    assert archive.attempts == attempts and pace.in_flight == 0
    assert info.value.body == "deadlock detected"
    assert sum(slept) == pytest.approx(sum(backoff(a) for a in range(1, attempts)))


def test_a_stop_ends_the_back_off() -> None:
    pace = DeletePace(4)
    archive = Archive(pace, crowded=10**6)
    stop = threading.Event()
    got = []
    thread = threading.Thread(
        target=lambda: got.append(delete_paced(pace, archive.delete, stop.is_set, 60))
    )
    thread.start()
    time.sleep(0.3)
    stop.set()
    thread.join(timeout=5)
    assert got == [False] and archive.attempts == 1 and pace.in_flight == 0


def test_a_failing_archive_ends_the_run_with_the_reason_redacted(
    keyed: FakeArchive, tmp_path
) -> None:
    """Every DELETE fails (500, the request's key echoed in the body): each asset
    fails after its attempts, the key never shown."""
    clone = seed(keyed, tmp_path / "clone", files("A", 12))
    keyed.fail("DELETE", status=500, echo=True)
    started = time.monotonic()
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, jobs=4, timeout=2)
    assert time.monotonic() - started < 60
    [result] = report.results
    assert result.status is TargetStatus.FAILED
    assert len(result.failed_assets) == 12 and result.deleted_assets == 0
    for failure in result.failed_assets:
        assert failure.error.startswith("HTTP 500: ")
        assert "Injected error 500" in failure.error and KEY not in failure.error
    assert len(keyed.paths(DANDISET)) == 12
    assert (clone / result.target.relpath).is_dir()


def test_a_session_run_after_run_carries_only_the_running_pace(
    keyed: FakeArchive, tmp_path
) -> None:
    """One session for several runs (a move plans and deletes each version with
    the run's session): each run's pace leaves with it.  A pace left behind
    would see the next run's crowded answers first and raise, so the new pace
    would never slow down."""
    old = version_files("000001", "C", "v1.1.0", names=["output/f.json"])
    clone = seed(keyed, tmp_path / "clone", files("A", 3) + old)
    session = ArchiveSession(keyed.url, DANDISET, authenticate=True)
    hooks = session.client.session.hooks["response"]
    before = list(hooks)
    for version in ("v1.1.1", "v1.1.0"):
        plan = plan_deletion(clone, version, session=session, dandi_instance=keyed.url)
        report = execute_plan(plan)
        assert [r.status for r in report.results] == [TargetStatus.DELETED]
        assert hooks == before
    assert keyed.paths(DANDISET) == []


def test_a_crowded_deletion_ends_within_its_timeout_attempts_included(
    keyed: FakeArchive, tmp_path
) -> None:
    """Every DELETE is answered 500 after 1.5 s, the timeout is 2 s: the first
    attempt and the back-off after it (1.25 s) already pass the timeout, so no
    second attempt is made (the attempts' own time counts, not only the
    back-offs: else a slow crowded archive held each asset for twelve slow
    attempts)."""
    clone = seed(keyed, tmp_path / "clone", files("A", 3))
    keyed.fail("DELETE", status=500, delay=1.5)
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, jobs=4, timeout=2)
    [result] = report.results
    assert result.status is TargetStatus.FAILED and len(result.failed_assets) == 3
    deletes = [r for r in keyed.log if r.method == "DELETE"]
    assert len(deletes) == 3  # one attempt each
    assert len(keyed.paths(DANDISET)) == 3
