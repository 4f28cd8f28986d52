"""Carry out a plan: its targets side by side, Ctrl-C, the hooks, the report.

Each target is retracted remote first, then local (:mod:`.retract`), up to
``jobs`` targets at once sharing the ``jobs`` request workers.  Every step is
journaled (:mod:`.journal`) so that a re-run after a crash finishes the job.  A
failing target never stops the others; the report says what happened.  Ctrl-C
(or SIGTERM) starts nothing new and lets the requests in flight finish; a second
one stops waiting for them.

The plan's policy hooks are called here: before and after each target and at the
end of the run.  A before-hook that raises blocks its target (fail closed); an
after- or end-hook that raises is logged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
import contextlib
import logging
import signal
import threading
from typing import Any

from .model import (
    DeletionProgress,
    DeletionReport,
    DeletionTarget,
    TargetResult,
    TargetStatus,
)
from .pace import DeletePace
from .plan import DeletionPlan
from .retract import Run, retract
from .verdict import PlanItem

lgr = logging.getLogger("dandi.compute")


#: the signals that stop a run as Ctrl-C does (SIGTERM: where there is one)
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name)
)


ABANDONED = (
    "interrupted twice: its requests in flight were abandoned; the local "
    "directory is kept"
)


#: called with each target's result as soon as it is known
ResultCallback = Callable[[TargetResult], None]


def execute_plan(
    plan: DeletionPlan,
    on_result: ResultCallback | None = None,
    progress: DeletionProgress | None = None,
) -> DeletionReport:
    """Carry out a plan made without ``dry_run``.

    Targets start in plan order, up to ``jobs`` of them at once; their asset
    deletions share the ``jobs`` request workers, and each target's final check
    and local removal run as soon as its own assets are gone, so no target
    waits for another.  The plan's hooks are called from the calling thread:
    ``before_target`` in plan order, ``after_target`` as each target ends.
    Ctrl-C stops new deletions, lets requests in flight finish, keeps every
    unfinished target's local directory and returns the partial report
    (``interrupted``).

    Parameters
    ----------
    plan
        A plan made without ``dry_run``.
    on_result
        Called from the calling thread with each target's result as soon as it
        is known (the refused ones first), e.g. to print the report as it grows.
    progress
        Told of each asset deleted and each target ended (from worker threads).

    Returns
    -------
    DeletionReport
        The results in plan order.
    """
    if plan.options.dry_run:
        plan.close()
        raise ValueError("A dry-run plan cannot be executed")
    report = plan.report()
    jobs = plan.options.jobs
    pool = ThreadPoolExecutor(max_workers=jobs)
    lanes_pool = ThreadPoolExecutor(max_workers=jobs)
    run = Run(plan, plan.session, pool, progress=progress or DeletionProgress())
    # the pace sees every answer to a deletion, for this run only: a session
    # may serve several runs (a move's versions)
    assert plan.session is not None
    run.pace = DeletePace(jobs)
    hooks = plan.session.client.session.hooks["response"]
    hooks.append(run.pace.observe)
    lanes = _Lanes(run, jobs, lanes_pool, on_result)
    try:
        with _ctrl_c_stops(run):
            for index, item in enumerate(plan.items):
                if item.verdict is not None:
                    lanes.settled(index, item.verdict)
            run.progress.deleting(plan.to_delete)
            for index, item in enumerate(plan.items):
                if item.verdict is None:
                    lanes.start(index, item)
            while lanes.in_flight:
                lanes.settle_some()
    finally:
        # abandoned requests are not waited for; nothing new starts either way
        for executor in (lanes_pool, pool):
            executor.shutdown(wait=not run.abandon.is_set(), cancel_futures=True)
        hooks.remove(run.pace.observe)
        plan.close()
    report.results = [lanes.results[i] for i in range(len(plan.items))]
    report.interrupted = run.stop.is_set()
    report.abandoned = run.abandon.is_set()
    report.terminated = run.terminated
    try:
        plan.hooks.run_finished(report)
    except Exception:
        lgr.exception("An end-of-run hook failed")
    return report


class _Lanes:
    """Up to ``width`` targets in flight, sharing the pool of request workers;
    each result is settled as soon as its target ends."""

    def __init__(
        self,
        run: Run,
        width: int,
        pool: ThreadPoolExecutor,
        on_result: ResultCallback | None,
    ) -> None:
        self.run, self.width, self.pool = run, width, pool
        self.on_result = on_result
        self.in_flight: dict[Future, tuple[int, PlanItem]] = {}
        self.results: dict[int, TargetResult] = {}

    def settled(self, index: int, result: TargetResult) -> None:
        self.results[index] = result
        self.run.progress.target_ended(result)
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:
                lgr.exception(
                    "Reporting the result of %s failed", result.target.relpath
                )

    def ended(self, index: int, target: DeletionTarget, result: TargetResult) -> None:
        lgr.debug("%s: %s (%s)", target.relpath, result.status.value, result.reason)
        try:
            self.run.plan.hooks.after_target(target, result)
        except Exception:
            lgr.exception("An after-target hook failed for %s", target.relpath)
        self.settled(index, result)

    def settle_some(self) -> None:
        """Wait until a target in flight ends (or a second Ctrl-C abandons them)."""
        while True:
            try:
                done, _ = wait(self.in_flight, timeout=0.1, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:  # outside the main thread's handler: wait on
                self.run.stop.set()
                continue
            if done or self.run.abandon.is_set():
                break
        for future in list(done or self.in_flight):
            index, item = self.in_flight.pop(future)
            if future.done():
                result = _finish(future, item.target, self.run)
            else:
                result = TargetResult(item.target, TargetStatus.FAILED, ABANDONED)
            self.ended(index, item.target, result)

    def start(self, index: int, item: PlanItem) -> None:
        """Start a target once a lane is free, unless Ctrl-C or a hook stops it."""
        while len(self.in_flight) >= self.width:
            self.settle_some()
        target = item.target
        if self.run.stopping:
            reason = f"{self.run.stopping} before it started"
            self.settled(index, TargetResult(target, TargetStatus.FAILED, reason))
            return
        try:
            self.run.plan.hooks.before_target(target)
        except Exception as exc:
            result = TargetResult(
                target, TargetStatus.REFUSED, f"blocked by a before-hook: {exc}"
            )
            self.ended(index, target, result)
            return
        self.in_flight[self.pool.submit(retract, self.run, item)] = (index, item)


def _finish(future: Future, target: DeletionTarget, run: Run) -> TargetResult:
    """The result of a finished target's future (a bug in it fails the target)."""
    try:
        return future.result()
    except Exception as exc:  # a bug: the target is not finished
        lgr.exception("Deleting %s failed", target.relpath)
        return TargetResult(target, TargetStatus.FAILED, f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def _ctrl_c_stops(run: Run) -> Iterator[None]:
    """While running, Ctrl-C (or SIGTERM) only sets ``stop``: no new deletion
    starts, the requests in flight finish, unfinished targets keep their local
    directory.  A second one sets ``abandon``: the requests in flight are not
    waited for."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only: KeyboardInterrupt as usual
        return

    def handler(signum: int, frame: Any) -> None:
        if signum != signal.SIGINT:
            run.terminated = True
        if run.stop.is_set():
            run.abandon.set()
            lgr.warning("Interrupted again: no longer waiting for the requests")
            return
        run.stop.set()
        lgr.warning(
            "Interrupted: starting no new deletions; waiting for the requests in "
            "flight (Ctrl-C again not to wait)"
        )

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)
