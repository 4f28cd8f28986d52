"""The terminal table: one line a record, columns sized once, paths that still
tell rows apart on 80 columns, sizes humanized."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dandi_compute_plugin.cli.table import TerminalTable, shorten_path

labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-+.", min_size=1)


@given(
    st.lists(labels, min_size=1, max_size=5),
    st.integers(20, 120),
)
def test_a_shortened_path_fits_and_keeps_its_ends(parts, width) -> None:
    path = "derivatives/dandiset-000001/" + "/".join(parts) + "/version-v1.1.1"
    short = shorten_path(path, width)
    assert len(short) <= width
    if len(path) <= width:
        assert short == path
    else:
        assert short.endswith("1")  # the version directory's end survives


def test_paths_that_differ_in_subject_or_version_stay_apart_on_80_columns() -> None:
    paths = [
        f"derivatives/dandiset-{ds}/sub-{sub}/ses-{ses}/pipeline-aind+ephys/version-{v}"
        for ds in ("000233", "000363")
        for sub in ("CGM3", "CGM4")
        for ses in ("20210107T120825", "20210107T120826")
        for v in ("v1.1.1+b268fd2", "v1.1.1+b268fd2+b268fd2")
    ]
    lines: list[str] = []
    table = TerminalTable(
        ["path", "dandiset", "subject", "session", "pipeline", "version"],
        lines.append,
        sample=[{"path": p} for p in paths],
        width=80,
    )
    for p in paths:
        table.write({"path": p, "version": p.rsplit("-", 1)[-1]})
    assert all(len(line) <= 80 for line in lines)
    assert len(set(lines[1:])) == len(paths)


def test_sizes_are_humanized_and_numbers_right_aligned() -> None:
    lines: list[str] = []
    records = [
        {"version": "v1.1.1", "directories": 8, "bytes": 123361830},
        {"version": "v1.1.10", "directories": 12, "bytes": 0},
    ]
    table = TerminalTable(["version", "directories", "bytes"], lines.append, records)
    for r in records:
        table.write(r)
    assert lines[0].split() == ["VERSION", "DIRECTORIES", "BYTES"]
    assert lines[1].endswith("123.4 MB") and "77627571" not in "".join(lines)
    assert lines[2].endswith("0 Bytes")
    assert lines[1].index(" 8 ") > lines[2].index("12") - 1
