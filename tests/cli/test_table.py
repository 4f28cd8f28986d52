"""The terminal table: one line a record, columns sized once, paths that still
tell rows apart on 80 columns, sizes humanized."""

from __future__ import annotations

import humanize
from hypothesis import given
from hypothesis import strategies as st

from dandi_compute_plugin.cli.cmd_delete_version import DELETE_FIELDS
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


#: the directories of a deletion's report, in the shapes of 001697
DELETION_ROWS = [
    ("000233", "CGM3", "CGM3", "v1.1.1+b268fd2", "refused"),
    ("000363", "480134", "20210107T120825", "v1.1.1+b268fd2", "deleted"),
    ("001469", "Chronic-Implant-2", None, "v1.1.1+b268fd2", "failed"),
    ("001470", "M489", "2024-08-05", "v1.1.1+b268fd2+b268fd2", "deleted"),
    ("001747", "chip19894", "recording049", "v1.1.1", "nothing-to-do"),
    ("001747", "chip19894", "recording050", "v1.1.1", "remote-only"),
]
DELETION_FIELDS = list(DELETE_FIELDS)  # the columns delete-version shows


def deletion_record(dandiset, subject, session, version, status) -> dict:
    levels = [f"dandiset-{dandiset}", f"sub-{subject}"]
    levels += [f"ses-{session}"] if session else []
    levels += ["pipeline-aind+ephys", f"version-{version}"]
    return {
        "path": "derivatives/" + "/".join(levels),
        "status": status,
        "remote_assets": 93,
        "remote_bytes": 77627571,
        "local_files": 1204,
        "reason": "" if status == "deleted" else f"why {dandiset} {subject} " * 9,
    }


def test_a_deletion_report_on_80_columns_shows_each_row_whole() -> None:
    """No header, status or number is cut; each path keeps its dandiset, subject,
    session and version apart from the others; the reason goes under its row."""
    records = [deletion_record(*row) for row in DELETION_ROWS]
    lines: list[str] = []
    table = TerminalTable(DELETION_FIELDS, lines.append, sample=records, width=80)
    rows = []
    for rec in records:
        before = len(lines)
        table.write(rec)
        rows.append(lines[before:])
    assert all(len(line) <= 80 for line in lines)
    assert "…" not in lines[0], lines[0]
    paths = set()
    for (dandiset, subject, session, version, status), shown in zip(
        DELETION_ROWS, rows, strict=True
    ):
        row = shown[0]
        assert f" {status} " in row and " 93 " in row and "77.6 MB" in row, row
        assert row.endswith("1204"), row
        path = row.split("  ")[0]
        paths.add(path)
        assert path.startswith(dandiset + "/"), path
        assert subject[:3] in path and version[:6] in path, path
        assert version[-3:] in path and (session or "")[-3:] in path, path
        if status != "deleted":  # the reason's start, under the row
            assert shown[1].startswith(f"    why {dandiset} {subject}"), shown
        else:
            assert len(shown) == 1
    assert len(paths) == len(DELETION_ROWS)


def test_a_wide_terminal_keeps_the_reason_in_its_column() -> None:
    records = [deletion_record(*row) for row in DELETION_ROWS]
    lines: list[str] = []
    table = TerminalTable(DELETION_FIELDS, lines.append, sample=records, width=400)
    for rec in records:
        table.write(rec)
    assert lines[0].split()[:2] == ["PATH", "STATUS"] and "REASON" in lines[0]
    assert len(lines) == 1 + len(records)
    assert records[0]["path"] in lines[1]


def test_an_asset_file_name_keeps_its_prefixes() -> None:
    """Only directory levels lose the prefixes their place tells: an asset's
    file name (sub-..._ses-....nwb) is never renamed."""
    path = (
        "derivatives/dandiset-000233/sub-CGM3/ses-CGM3/pipeline-aind+ephys/"
        "version-v1.1.1/sub-CGM3_ses-CGM3.nwb"
    )
    assert shorten_path(path, 50) == "000233/CGM3/CGM3/…/v1.1.1/sub-CGM3_ses-CGM3.nwb"


def test_a_wide_overview_on_80_columns_cuts_no_value() -> None:
    """versions --sizes --remote: eleven columns on 80: headers narrow or give
    way, an all-zero column goes, and no value (name, version, count, size,
    where) is cut."""
    fields = [
        "pipeline",
        "version",
        "directories",
        "attempts",
        "files",
        "bytes",
        "remote_directories",
        "remote_assets",
        "remote_bytes",
        "where",
        "pending",
    ]
    records = [
        {
            "pipeline": "aind+ephys",
            "version": v,
            "directories": 120 + i,
            "attempts": 131 + i,
            "files": 45678,
            "bytes": 123361830 * (i + 1),
            "remote_directories": 118,
            "remote_assets": 9120,
            "remote_bytes": 77627571 * (i + 1),
            "where": ("both", "local", "archive")[i % 3],
            "pending": 0,
        }
        for i, v in enumerate(["v1.1.0", "v1.1.1", "v1.1.1-rc", "v1.1.10"])
    ]
    lines: list[str] = []
    table = TerminalTable(fields, lines.append, sample=records, width=80)
    for rec in records:
        table.write(rec)
    assert all(len(line) <= 80 for line in lines), lines
    assert not any("…" in line for line in lines[1:]), lines
    for rec, line in zip(records, lines[1:], strict=True):
        shown = line.split()
        assert shown[:2] == [rec["pipeline"], rec["version"]]
        for f in fields[2:-1]:
            value = rec[f]
            text = humanize.naturalsize(value) if "bytes" in f else str(value)
            assert text in line, (f, text, line)


def test_on_60_columns_statuses_and_sizes_stay_whole() -> None:
    records = [deletion_record(*row) for row in DELETION_ROWS]
    lines: list[str] = []
    table = TerminalTable(DELETION_FIELDS, lines.append, sample=records, width=60)
    for rec in records:
        table.write(rec)
    rows = [line for line in lines[1:] if not line.startswith("    ")]
    assert all(len(line) <= 60 for line in lines), lines
    for (*_, status), row in zip(DELETION_ROWS, rows, strict=True):
        assert f" {status} " in row and "77.6 MB" in row, row
    assert len({row.split()[0] for row in rows}) == len(rows)


def test_a_table_shown_no_rows_first_keeps_every_status_whole() -> None:
    """A report opened before its rows are known (move's) sizes the status
    column for the longest status."""
    lines: list[str] = []
    table = TerminalTable(DELETION_FIELDS, lines.append, width=80)
    for status in ("moved", "refused", "nothing-to-do", "remote-only"):
        table.write({**deletion_record(*DELETION_ROWS[1]), "status": status})
        assert f" {status} " in lines[-1] + " ", lines[-1]


def test_names_cut_as_a_last_resort_keep_both_ends() -> None:
    """Long names and versions in a table too wide for 80 columns: the rows
    still differ where the versions do (at their end)."""
    records = [
        {
            "pipeline": "aind+ephys-long-name",
            "version": f"v1.1.1+b268fd2-rc.{i}",
            "directories": 1200,
            "attempts": 1300,
            "files": 456789,
            "bytes": 123361830,
            "remote_directories": 1,
            "remote_assets": 91200,
            "remote_bytes": 776275710,
            "where": "archive",
            "pending": 3,
        }
        for i in range(3)
    ]
    lines: list[str] = []
    table = TerminalTable(list(records[0]), lines.append, sample=records, width=80)
    for rec in records:
        table.write(rec)
    assert all(len(line) <= 80 for line in lines)
    assert len({line.split()[1] for line in lines[1:]}) == 3, lines
