"""A resume deletes only what its journal recorded."""

from __future__ import annotations

from pathlib import Path
import shutil
import uuid

import pytest

from dandi_compute_plugin.deletion import run_deletion

from ..archive import FakeArchive
from ..archive.clones import DANDISET, seed
from ..records import asset_record, version_files

NAMES = ["out/a.json", "out/b.json", "out/c.json"]


def target_of(path: str) -> str:
    return path.split("/params-")[0]


@pytest.mark.parametrize("where", ["journaled path", "new path"])
@pytest.mark.parametrize("include_remote", [False, True])
def test_an_asset_uploaded_since_below_a_resumed_target_is_not_its_to_delete(
    keyed: FakeArchive, tmp_path: Path, where: str, include_remote: bool
) -> None:
    """A run fails on one DELETE and leaves its journal; the user removes the
    directory by hand; a colleague uploads there.  The next run finishes the
    journaled deletion and keeps the colleague's asset (named in the report)
    unless --include-remote."""
    paths = version_files("000001", "A", "v1.1.1", names=NAMES)
    clone = seed(keyed, tmp_path / "clone", paths)
    target = target_of(paths[0])
    failing = paths[1]
    keyed.fail("DELETE", keyed.asset_ids(DANDISET)[failing], status=403)
    first = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert [r.status.value for r in first.results] == ["failed"]
    keyed.clear_faults()
    assert keyed.paths(DANDISET) == [failing]

    shutil.rmtree(clone / target)  # by hand
    new_path = paths[0] if where == "journaled path" else f"{target}/new.json"
    upload = asset_record(
        new_path, content=b"a colleague's", asset_id=str(uuid.uuid4())
    )
    keyed.add_assets(DANDISET, [upload])

    second = run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, include_remote=include_remote
    )
    [result] = second.results
    assert result.target.relpath == target
    if include_remote:
        assert result.status.value == "deleted"
        assert keyed.paths(DANDISET) == []
    else:
        assert result.status.value == "remote-only"
        assert new_path in result.reason and result.deleted_assets == 1
        assert keyed.paths(DANDISET) == [new_path]  # the journaled one is gone
        assert keyed.asset_ids(DANDISET)[new_path] == upload["identifier"]
    # the journal is finished either way
    assert not (clone / ".dandi-compute" / "delete-journal.jsonl").exists()
