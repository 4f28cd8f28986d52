"""What can be said of a run that ended abruptly (Ctrl-C, SIGTERM, a bug).

Targets whose result was reported said so themselves; of the others, only what
the journal's own lines prove is claimed: the remote deletions the server
confirmed and the run journaled, and whether it recorded the local directory
gone.  Requests in flight when the run ended may have deleted more.
"""

from __future__ import annotations

from collections.abc import Iterable

from .journal import Journal
from .model import TargetResult, TargetStatus
from .plan import DeletionPlan


def unreported_results(
    plan: DeletionPlan, journal: Journal | None, reported: Iterable[str], why: str
) -> list[TargetResult]:
    """Results for the targets of ``plan`` not in ``reported``, from the journal.

    Parameters
    ----------
    plan
        The plan that was being executed.
    journal
        Its journal (None: nothing was journaled).
    reported
        The ``relpath`` of every target whose result is already out.
    why
        What ended the run, e.g. ``"interrupted"``.

    Returns
    -------
    list of TargetResult
        ``failed``, in plan order; ``deleted_assets`` and ``local_removed`` as
        the journal proves them.
    """
    seen = set(reported)
    deleted = journal.deleted_by_run if journal is not None else {}
    done = journal.done_by_run if journal is not None else set()
    results = []
    for item in plan.items:
        target = item.target
        if target.relpath in seen:
            continue
        if item.verdict is not None:  # refused or failed in the plan: untouched
            results.append(item.verdict)
            continue
        count = deleted.get(target.relpath, 0)
        gone = target.relpath in done
        reason = (
            f"{why} before its result was known: the journal records {count} of "
            f"its {len(target.assets)} remote assets deleted"
            + ("; and its local directory removed" if gone else "")
            + "; requests in flight may have deleted more; a re-run finishes it"
        )
        results.append(
            TargetResult(
                target,
                TargetStatus.FAILED,
                reason,
                deleted_assets=count,
                local_removed=gone,
            )
        )
    return results
