"""The targets a deletion finds besides the scan: journaled directories gone
locally, checked on a real tree."""

from __future__ import annotations

import os
from pathlib import Path

from dandi_compute_plugin.deletion.targets import journaled_and_gone

V = "derivatives/dandiset-000001/sub-{}/ses-1/pipeline-p/version-v1.1.1"


def test_a_journaled_directory_is_gone_only_when_it_is_known_not_to_exist(
    tmp_path: Path,
) -> None:
    gone, kept, hidden = V.format("gone"), V.format("kept"), V.format("loop")
    (tmp_path / kept).mkdir(parents=True)
    (tmp_path / gone).parent.mkdir(parents=True)
    # a parent that cannot be followed (ELOOP, as EACCES for a user): what is
    # below it may be there, so it is not taken for gone
    loop = tmp_path / "derivatives/dandiset-000001/sub-loop"
    os.symlink("sub-loop", loop)
    pending = {gone, kept, hidden}
    found = journaled_and_gone(tmp_path, "v1.1.1", {}, pending)
    assert [vd.relpath for vd in found] == [gone]
    assert journaled_and_gone(tmp_path, "v1.1.1", {gone: found[0]}, pending) == []
