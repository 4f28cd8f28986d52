"""What an abruptly ended run claims of the targets that did not report."""

from __future__ import annotations

from pathlib import Path

from dandi_compute_plugin.deletion import plan_deletion
from dandi_compute_plugin.deletion.aftermath import unreported_results

from ..archive import FakeArchive
from ..archive.clones import seed
from ..records import version_files


def test_only_what_the_journal_recorded_is_claimed(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    paths = [
        p
        for sub in ("A", "B", "C")
        for p in version_files("000001", sub, "v1.1.1", names=["x.json", "y.json"])
    ]
    clone = seed(keyed, tmp_path / "clone", paths)
    plan = plan_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    try:
        first, second, third = (i.target for i in plan.items)
        journal = plan.journal
        journal.record_intents(second.relpath, second.assets)
        journal.record_deleted(second.relpath, second.assets[0].asset_id)
        journal.record_intents(third.relpath, third.assets)
        for asset in third.assets:
            journal.record_deleted(third.relpath, asset.asset_id)
        journal.record_done(third.relpath)
        results = unreported_results(plan, journal, [first.relpath], "interrupted")
    finally:
        plan.close()
    assert [r.target.relpath for r in results] == [second.relpath, third.relpath]
    assert all(r.status.value == "failed" for r in results)
    assert [r.deleted_assets for r in results] == [1, 2]
    assert [r.local_removed for r in results] == [False, True]
    assert "records 1 of its 2 remote assets deleted" in results[0].reason
    assert "local directory removed" in results[1].reason
    assert "local directory" not in results[0].reason.split(";")[0]
