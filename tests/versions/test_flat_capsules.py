"""Flat job capsules beside nested version directories: the rule, the scans, the
deletion.

A capsule ``version-{V}_codebase-{C}_params-{P}_config-{K}_attempt-{N}`` belongs to
version V when its version part equals V or starts with ``V+``; a ``version-`` name
that fits neither form is never selected.
"""

from __future__ import annotations

import logging
from pathlib import Path
import shutil
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from dandi_compute_plugin import scan_version_directories
from dandi_compute_plugin.versions import (
    iter_version_directories,
    parse_version_name,
    remote_version_directories,
    version_directory_of,
    version_name_matches,
)

PIPE = "derivatives/dandiset-000001/sub-A/ses-1/pipeline-p"

# versions and parts built from the characters that make look-alikes
versions = st.text(alphabet="v1.+-_a", min_size=1, max_size=8).filter(
    lambda v: v not in (".", "..")
)
parts = st.text(alphabet="0123456789abcdefv.", min_size=1, max_size=7)


@st.composite
def names(draw: st.DrawFn) -> tuple[str, str | None, str]:
    """A directory name, the version it holds (None: fits neither form), and
    how it was built."""
    version = draw(versions)
    form = draw(st.sampled_from(["nested", "flat", "broken-flat"]))
    if form == "nested":
        if "_codebase-" in version:
            return f"version-{version}", None, form
        return f"version-{version}", version, form
    c, p, k = draw(parts), draw(parts), draw(parts)
    n = draw(st.integers(0, 99))
    if form == "flat" and "_" not in c + p + k:
        name = f"version-{version}_codebase-{c}_params-{p}_config-{k}_attempt-{n}"
        # the version part is the text before the first "_codebase-"
        return name, name[len("version-") : name.index("_codebase-")], form
    return f"version-{version}_codebase-{c}_attempt-{n}", None, "broken-flat"


@settings(max_examples=300)
@given(built=names(), wanted=versions)
def test_the_rule_on_generated_names(built, wanted: str) -> None:
    name, holds, _form = built
    expected = holds is not None and (holds == wanted or holds.startswith(wanted + "+"))
    assert version_name_matches(name, wanted) is expected
    parsed = parse_version_name(name)
    assert (parsed.version if parsed else None) == holds
    # the remote rule is the same rule over asset paths
    rel = version_directory_of(f"{PIPE}/{name}/out/x.json", wanted)
    assert (rel == f"{PIPE}/{name}") is expected


def test_a_capsule_records_its_name_parts(tmp_path: Path) -> None:
    name = "version-v1.1.1+abc_codebase-v0.3.0_params-98fd947_config-6568dda_attempt-12"
    (tmp_path / PIPE / name).mkdir(parents=True)
    (found,) = iter_version_directories(tmp_path, "v1.1.1")
    assert found.as_record() == {
        "path": f"{PIPE}/{name}",
        "dandiset": "000001",
        "subject": "A",
        "session": "1",
        "pipeline": "p",
        "version": "v1.1.1+abc",
        "layout": "flat",
        "codebase": "v0.3.0",
        "params": "98fd947",
        "config": "6568dda",
        "attempt": 12,
    }


@settings(max_examples=40, deadline=None)
@given(st.lists(names(), min_size=1, max_size=12, unique_by=lambda b: b[0]), versions)
def test_local_and_remote_scans_agree_on_both_forms(built, wanted: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="flat-"))
    try:
        assets = []
        for name, _holds, _form in built:
            (root / PIPE / name).mkdir(parents=True)
            assets.append(_Asset(f"{PIPE}/{name}/out/x.json", 1))
        local = [p.relative_to(root).as_posix() for p in scan(root, wanted)]
        remote = [
            d.directory.relpath for d in remote_version_directories(assets, wanted)
        ]
        assert local == sorted(remote)
        assert local == sorted(
            f"{PIPE}/{n}"
            for n, holds, _ in built
            if holds is not None and (holds == wanted or holds.startswith(wanted + "+"))
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def scan(root: Path, version: str) -> list[Path]:
    return scan_version_directories(root, version)


class _Asset:
    def __init__(self, path: str, size: int) -> None:
        self.path = path
        self.content_size = size


def test_names_that_fit_neither_form_are_counted_at_info(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name in (
        "version-v1.1.1_codebase-v0.3.0_attempt-1",
        "version-v1.1.1_codebase-v0.3.0_params-1_config-2_attempt-x",
        "version-v2_codebase-a_params-b_config-c_attempt-1",
        "version-v1.1.1",
    ):
        (tmp_path / PIPE / name).mkdir(parents=True)
    with caplog.at_level(logging.INFO, logger="dandi.compute"):
        found = scan_version_directories(tmp_path, "v1.1.1")
    assert [p.name for p in found] == ["version-v1.1.1"]
    assert "Skipped 2 directories named version-*" in caplog.text


def test_the_version_part_ends_at_the_first_codebase() -> None:
    """A name with ``_codebase-`` twice is no capsule of the version before the
    first one (its other parts cannot hold an underscore): never selected."""
    name = "version-v1_codebase-a_codebase-b_params-p_config-k_attempt-1"
    assert parse_version_name(name) is None
    assert not version_name_matches(name, "v1")
    assert not version_name_matches(name, "v1_codebase-a")


def test_the_remote_scan_counts_names_that_fit_neither_form_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As the local walk: the asset paths below a misfit of the version are
    skipped, and the directories counted once each."""
    misfits = (
        "version-v1.1.1_codebase-v0.3.0_attempt-1",
        "version-v1.1.1+x_codebase-v0.3.0_params-1_config-2_attempt-y",
    )
    names = (*misfits, "version-v1.1.1", "version-v2_codebase-a_attempt-1")
    assets = [
        _Asset(f"{PIPE}/{name}/{leaf}", 1) for name in names for leaf in ("a", "b/c")
    ]
    with caplog.at_level(logging.INFO, logger="dandi.compute"):
        found = remote_version_directories(assets, "v1.1.1")
    assert [d.directory.relpath for d in found] == [f"{PIPE}/version-v1.1.1"]
    (record,) = [r for r in caplog.records if "Skipped" in r.getMessage()]
    assert record.levelno == logging.INFO
    assert "Skipped 2 directories named version-*" in record.getMessage()
    assert min(f"{PIPE}/{m}" for m in misfits) in record.getMessage()
