"""Every request of a move ends within ``timeout``, as the deletion's do: the
asset creation (a JSON body), and the wait for the archive's checksum of a Zarr
uploaded from the clone (dandi's own upload polls for it without limit)."""

from __future__ import annotations

import threading

from dandi_compute_plugin.move import run_move

from .test_zarr import ZARR, world  # noqa: F401 - the world with a Zarr
from .world import SOURCE, TARGET, World, capsule

LIVENESS = 120  # a hang guard, not a measure: a bounded run ends long before


def _run_in_thread(w: World, directory: str, **kw):
    done: list = []
    mover = threading.Thread(
        target=lambda: done.append(
            run_move(w.clone, [directory], TARGET, dandi_instance=w.archive.url, **kw)
        ),
        daemon=True,
    )
    mover.start()
    return mover, done


def test_a_creation_answered_a_byte_at_a_time_ends_within_the_timeout(
    world: World,  # noqa: F811
) -> None:
    """The server creates each asset, then drips its answer (every read gets a
    byte in time): the creation's request gives up at the timeout, and the
    listing that follows finds the assets."""
    w = world
    dripped = w.archive.fail(
        "POST", rf"/dandisets/{TARGET}/versions/draft/assets/$", trickle=0.5
    )
    mover, done = _run_in_thread(w, capsule(2), timeout=2, jobs=1)
    mover.join(LIVENESS)
    assert not mover.is_alive(), "a creation waited for its whole answer"
    assert dripped.hits == 3
    (result,) = done[0].results
    assert result.status == "moved", result.result.reason
    assert not [p for p in w.archive.paths(SOURCE) if p.startswith(capsule(2))]


def test_a_checksum_the_archive_never_finishes_fails_within_the_timeout(
    world: World,  # noqa: F811
) -> None:
    w = world
    # the finalize is answered but never done: the Zarr stays "Pending"
    w.archive.fail("POST", r"^/api/zarr/[^/]+/finalize/$", status=200)
    mover, done = _run_in_thread(w, capsule(1), timeout=3)
    mover.join(LIVENESS)
    assert not mover.is_alive(), "dandi's upload polled for the checksum for ever"
    (result,) = done[0].results
    assert result.status == "failed"
    assert "checksum" in result.result.reason and "3 s" in result.result.reason
    assert ZARR in w.archive.paths(SOURCE)
    assert (w.clone / ZARR).is_dir()


def test_a_creation_asked_to_wait_beyond_the_timeout_fails_at_once(
    world: World,  # noqa: F811
) -> None:
    w = world
    w.archive.fail(
        "POST",
        rf"/dandisets/{TARGET}/versions/draft/assets/$",
        status=503,
        retry_after="3600",
    )
    mover, done = _run_in_thread(w, capsule(2), timeout=5)
    mover.join(LIVENESS)
    assert not mover.is_alive()
    (result,) = done[0].results
    assert result.status == "failed"
    assert "Retry-After" in result.result.reason, result.result.reason
    assert w.archive.count("DELETE") == 0
    assert w.archive.count("POST") == 3  # one attempt per asset: no retry
