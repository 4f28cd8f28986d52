"""Moves in generated worlds (hypothesis): random capsules whose target paths are
free, hold the same content or other content, with creations the target refuses
or whose answers are lost, and ``keep_local`` or not.  After every run:

- M1: a source asset is gone only if the target lists its path with its blob and
  digest;
- M2: nothing the target held before changed (same asset id, blob, digest);
- M3: a directory with a target path holding other content is refused and keeps
  every source asset and its local copy;
- M4: the report is the final state: ``moved`` exactly when every asset of the
  directory is gone from the source and in the target, and its local directory is
  gone (or kept, with ``keep_local``); any other status keeps the local directory.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import shutil
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from dandi_compute_plugin.move import run_move

from ..archive import FakeArchive
from ..archive.clones import KEY
from ..records import asset_record, build_clone
from .world import SOURCE, TARGET, capsule

EXAMPLES = int(os.environ.get("DANDI_COMPUTE_TEST_EXAMPLES", "30")) // 2
NAMES = ("code/run.sh", "logs/out.log", "output/a.json", "output/b.json")
FREE, SAME, OTHER, REFUSE, LOST = "free", "same", "other", "refuse", "lost"


@dataclass
class Spec:
    #: per capsule, per file: what the target holds there, or how its creation fails
    capsules: list[list[str]]
    keep_local: bool


@st.composite
def specs(draw) -> Spec:
    kinds = st.sampled_from([FREE, FREE, FREE, SAME, OTHER, REFUSE, LOST])
    n = draw(st.integers(1, 4))
    capsules = [
        draw(st.lists(kinds, min_size=1, max_size=len(NAMES))) for _ in range(n)
    ]
    return Spec(capsules, draw(st.booleans()))


def _seed(archive: FakeArchive, root: Path, spec: Spec) -> tuple[Path, dict]:
    paths, kinds = ["README.md"], {}
    for i, files in enumerate(spec.capsules, start=1):
        for name, kind in zip(NAMES, files, strict=False):
            path = f"{capsule(i)}/{name}"
            paths.append(path)
            kinds[path] = kind
    archive.add_dandiset(SOURCE, [asset_record(p) for p in paths])
    held = [asset_record("README.md")]
    for path, kind in kinds.items():
        if kind == SAME:
            held.append(asset_record(path, asset_id=None))
        elif kind == OTHER:
            held.append(asset_record(path, content=b"other " + path.encode()))
    archive.add_dandiset(TARGET, held)
    return build_clone(root / "clone", paths, SOURCE), kinds


def _faults(archive: FakeArchive, kinds: dict) -> None:
    """Some creations fail: refused (403), or made with the answer lost.  Each
    fault fires once, at about the position of its path among the creations
    (a fault that fires hides its request from the later faults, and dandi may
    repeat a request whose answer was lost): which path it hits does not matter
    to the invariants, only that creations fail here and there."""
    order = [p for p in sorted(kinds) if kinds[p] in (FREE, REFUSE, LOST)]
    for n, path in enumerate(order):
        if kinds[path] == REFUSE:
            archive.fail("POST", r"/assets/$", after=n, times=1, status=403)
        elif kinds[path] == LOST:
            archive.fail(
                "POST", r"/assets/$", after=n, times=1, drop_after_serving=True
            )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(spec=specs())
def test_generated_moves_keep_the_invariants(
    spec: Spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(tempfile.mkdtemp(prefix="move-world-"))
    try:
        with FakeArchive(tokens={KEY: "owner"}) as archive:
            clone, kinds = _seed(archive, root, spec)
            source_before = archive.assets(SOURCE)
            target_before = archive.assets(TARGET)
            _faults(archive, kinds)
            monkeypatch.setenv(archive.api_key_env_var, KEY)
            report = run_move(
                clone,
                "v1.1.1",
                TARGET,
                dandi_instance=archive.url,
                keep_local=spec.keep_local,
                jobs=1,
            )
            _check(archive, clone, spec, kinds, report, source_before, target_before)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _check(archive, clone, spec, kinds, report, source_before, target_before) -> None:
    source, target = archive.assets(SOURCE), archive.assets(TARGET)
    for path, asset in source_before.items():
        if path not in source:  # M1
            assert path in target, f"M1: {path} gone from both"
            assert target[path]["blob"] == asset["blob"], f"M1: {path}"
            assert target[path]["metadata"]["digest"] == asset["metadata"]["digest"]
    for path, asset in target_before.items():  # M2
        assert target[path]["asset_id"] == asset["asset_id"], f"M2: {path}"
        assert target[path]["blob"] == asset["blob"], f"M2: {path}"
    by_dir = {r.result.target.relpath: r for r in report.results}
    for i in range(1, len(spec.capsules) + 1):
        d = capsule(i)
        mine = [p for p in kinds if p.startswith(d + "/")]
        status = by_dir[d].status
        if any(kinds[p] == OTHER for p in mine):  # M3
            assert status == "refused", f"M3: {d} {status}"
            assert all(p in source for p in mine), f"M3: {d}"
        moved = all(p not in source and p in target for p in mine)
        assert (status == "moved") == moved, f"M4: {d} {status}"
        local = (clone / d).is_dir()
        if status == "moved":
            assert local == spec.keep_local, f"M4: {d} local"
        else:
            assert local, f"M4: {d} {status} lost its local copy"
    assert report.ok == all(r.status == "moved" for r in report.results)
