"""What an abruptly ended run claims of the targets that did not report."""

from __future__ import annotations

from pathlib import Path

import pytest

from dandi_compute_plugin.deletion import plan_deletion
from dandi_compute_plugin.deletion.aftermath import unreported_results

from ..archive import FakeArchive
from ..archive.clones import DANDISET, seed
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


def test_an_error_that_ends_the_run_reports_what_the_journal_proves(
    keyed: FakeArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every target's own failure is its result; only a bug in the run's own
    loop reaches the command -- planted here, as the third target is about to
    start.  The report still lists every directory, and claims for the third
    nothing it cannot prove."""
    import json

    from click.testing import CliRunner
    from dandi.cli.command import main

    from dandi_compute_plugin.deletion import execute

    paths = [
        p
        for sub in ("A", "B", "C")
        for p in version_files("000001", sub, "v1.1.1", names=["x.json", "y.json"])
    ]
    clone = seed(keyed, tmp_path / "clone", paths)
    real_start = execute._Lanes.start

    def start(self, index, item):  # type: ignore[no-untyped-def]
        if index == 2:
            raise RuntimeError("a bug in the run's loop")
        return real_start(self, index, item)

    monkeypatch.setattr(execute._Lanes, "start", start)
    args = ["compute", "delete-version", str(clone), "v1.1.1", "-i", keyed.url]
    result = CliRunner().invoke(main, [*args, "--yes", "-f", "json", "-J", "1"])

    assert result.exit_code == 1, result.output
    records = json.loads(result.stdout)
    assert len(records) == 3  # every directory, in one parseable report
    statuses = [r["status"] for r in records]
    assert statuses[0] == "deleted" and statuses[2] == "failed"
    left = keyed.paths(DANDISET)
    for rec in records:
        target = rec["path"]
        remote_left = [p for p in left if p.startswith(target + "/")]
        if rec["status"] == "deleted":
            assert not (clone / target).exists() and not remote_left
            continue
        assert "ended by an error (RuntimeError)" in rec["reason"]
        # it claims no more than happened: what is gone, at least what it says
        assert len(remote_left) <= rec["remote_assets"] - rec["deleted_assets"]
        assert (clone / target).exists() != rec["local_removed"]
    assert "before anything was changed" not in result.stderr
    assert "The run was ended by an error (RuntimeError)" in result.stderr
    monkeypatch.setattr(execute._Lanes, "start", real_start)
    again = CliRunner().invoke(main, [*args, "--yes", "-f", "json"])
    assert again.exit_code == 0, again.output
    assert not any(
        p.startswith(("derivatives/dandiset-000001/sub-",))
        for p in keyed.paths(DANDISET)
    )
