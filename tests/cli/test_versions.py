"""``dandi compute versions``: every pipeline version at a glance, and the hints
that a VERSION matching nothing gets."""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import tempfile

import click
from click.testing import CliRunner
from dandi.cli.command import main
from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from dandi_compute_plugin.deletion import run_deletion
from dandi_compute_plugin.versions.overview import natural_key, version_overview

from ..archive import FakeArchive
from ..archive.clones import DANDISET, seed
from ..records import asset_record, build_clone, write_manifest
from ..subprocesses import REPO, run_dandi, subprocess_env

EXAMPLE = REPO / "examples" / "dandiset-001697-mini"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["compute", *args])
    return result.exit_code, result.stdout, result.stderr


def directory(pipeline: str, version: str, flat: int | None, subject: str) -> str:
    top = f"derivatives/dandiset-000001/sub-{subject}/pipeline-{pipeline}"
    if flat is None:
        return f"{top}/version-{version}"
    return f"{top}/version-{version}_codebase-v0.3.0_params-a1_config-b2_attempt-{flat}"


dirs = st.tuples(
    st.sampled_from(["p", "q+r"]),
    st.sampled_from(["v1.1.1", "v1.1.1+abc", "v1.1.10", "v1.1.9", "v2", "v1.1.1-rc"]),
    st.one_of(st.none(), st.integers(1, 3)),
    st.sampled_from(["A", "B", "C"]),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(dirs, min_size=1, max_size=10, unique=True))
def test_the_overview_counts_every_directory_once(specs) -> None:
    root = Path(tempfile.mkdtemp(prefix="overview-"))
    try:
        paths = [f"{directory(*spec)}/logs/x.log" for spec in specs]
        build_clone(root, paths)
        rows = version_overview(root, sizes=True)
        expected: dict[tuple[str, str], int] = {}
        for pipeline, version, _flat, _sub in specs:
            key = (pipeline, version.split("+")[0])
            expected[key] = expected.get(key, 0) + 1
        assert {(r.pipeline, r.version): r.directories for r in rows} == expected
        assert sum(r.files for r in rows) == len(set(paths))
        keys = [(natural_key(r.pipeline), natural_key(r.version)) for r in rows]
        assert keys == sorted(keys)
    finally:
        shutil.rmtree(root)


def test_sizes_count_regular_files_only(tmp_path: Path) -> None:
    top = directory("p", "v1.1.1", None, "A")
    build_clone(tmp_path, [f"{top}/logs/x.log"])
    version_dir = tmp_path / top
    (version_dir / "logs" / "x.log").write_bytes(b"abc")
    os.mkfifo(version_dir / "fifo")
    (version_dir / "link").symlink_to(version_dir / "logs" / "x.log")
    (version_dir / "linked-dir").symlink_to(version_dir / "logs")
    (row,) = version_overview(tmp_path, sizes=True)
    assert (row.files, row.bytes) == (1, 3)


def test_natural_order_of_versions() -> None:
    versions = ["v1.1.10", "v1.1.9", "v1.1.1", "v1.10", "v1.2"]
    assert sorted(versions, key=natural_key) == [
        "v1.1.1",
        "v1.1.9",
        "v1.1.10",
        "v1.2",
        "v1.10",
    ]


def test_the_bundled_example(installed: Path) -> None:
    code, out, err = invoke("versions", str(EXAMPLE), "--sizes", "-f", "json")
    assert code == 0, err
    rows = {r["version"]: r for r in json.loads(out)}
    assert list(rows) == ["v1.1.0", "v1.1.1", "v1.1.1-rc", "v1.1.1.1", "v1.1.10"]
    v111 = rows["v1.1.1"]
    scanned = [
        line for line in invoke("scan-versions", str(EXAMPLE), "v1.1.1")[1].splitlines()
    ]
    assert v111["directories"] == len(scanned) == 8
    assert v111["attempts"] == 9  # one nested directory holds two attempts
    assert "v1.1.1+c0ffee1" in v111["variants"]
    files = [p for d in scanned for p in Path(d).rglob("*") if p.is_file()]
    assert v111["files"] == len(files)
    assert v111["bytes"] == sum(p.stat().st_size for p in files)


def test_the_archive_side_from_the_manifest(tmp_path: Path) -> None:
    local = [
        f"{directory('p', 'v1.1.1', None, 'A')}/x.log",
        f"{directory('p', 'v1.1.2', 1, 'A')}/x.log",
    ]
    remote = [local[0], f"{directory('p', 'v1.1.3', 2, 'B')}/y.log"]
    clone = build_clone(tmp_path / "clone", local)
    manifest = write_manifest(
        [asset_record(p, 10) for p in remote], tmp_path / "assets.jsonld"
    )
    code, out, err = invoke(
        "versions", str(clone), "--remote", "--source", str(manifest), "-f", "json"
    )
    assert code == 0, err
    where = {r["version"]: (r["where"], r["remote_assets"]) for r in json.loads(out)}
    assert where == {
        "v1.1.1": ("both", 1),
        "v1.1.2": ("local", 0),
        "v1.1.3": ("archive", 1),
    }


def test_a_half_retracted_version_is_pending(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    paths = [f"{directory('p', 'v1.1.1', None, s)}/x.log" for s in "AB"]
    clone = seed(keyed, tmp_path / "clone", paths)
    asset_id = keyed.asset_ids(DANDISET)[paths[1]]
    keyed.fail("DELETE", asset_id, status=403)
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url)
    assert sorted(r.status.value for r in report.results) == ["deleted", "failed"]
    code, out, err = invoke("versions", str(clone), "-f", "json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert (row["version"], row["directories"], row["pending"]) == ("v1.1.1", 1, 1)


@pytest.mark.parametrize(
    ("typo", "hint"),
    [
        ("1.1.1", "did you mean v1.1.1?"),
        ("V1.1.1", "did you mean v1.1.1?"),
        ("v1.1", "did you mean v1.1.1?"),
        ("version-v1.1.1", "did you mean 'v1.1.1'?"),
    ],
)
def test_a_version_matching_nothing_names_the_closest(typo: str, hint: str) -> None:
    code, out, err = invoke("scan-versions", str(EXAMPLE), typo)
    assert (code, out) == (0, "")
    assert f"No directory of version {typo}" in err and hint in err


def test_a_directory_that_is_no_clone_is_a_usage_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for command in (["scan-versions"], ["versions"]):
        args = [*command, str(tmp_path)] + (["v1"] if command[0] != "versions" else [])
        code, out, err = invoke(*args)
        assert code == 2 and "neither dandiset.yaml nor derivatives/" in err
    (tmp_path / "dandiset.yaml").write_text("identifier: DANDI:000001\n")
    code, out, err = invoke("scan-versions", str(tmp_path), "v1")
    assert code == 0 and "No directory of version v1" in err
    assert "has no derivatives/ directory: it holds no version" in caplog.text


def test_the_plugin_tells_its_version() -> None:
    from dandi_compute_plugin import __version__

    code, out, _ = invoke("--version")
    assert (code, out) == (0, f"dandi-compute-plugin {__version__}\n")


def test_the_shell_completes_versions_of_the_clone(installed: Path) -> None:
    words = f"dandi compute scan-versions {EXAMPLE} v1.1.1+"
    proc = run_dandi(
        env=subprocess_env(
            COMP_WORDS=words, COMP_CWORD="4", _DANDI_COMPLETE="bash_complete"
        )
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "plain,v1.1.1+b268fd2",
        "plain,v1.1.1+b268fd2+b268fd2",
        "plain,v1.1.1+c0ffee1",
    ]
    words = f"dandi compute scan-versions {EXAMPLE.parent}/dand"
    proc = run_dandi(
        env=subprocess_env(
            COMP_WORDS=words, COMP_CWORD="3", _DANDI_COMPLETE="bash_complete"
        )
    )
    assert proc.stdout.splitlines() == [f"dir,{EXAMPLE.parent}/dand"]


def test_a_dandiset_version_that_cannot_be_one_is_a_usage_error() -> None:
    code, _, err = invoke("index", "001697", "--dandiset-version", "1.0")
    assert code == 2 and "neither 'draft' nor a published version" in err


def test_a_file_that_is_no_manifest_is_named_once(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# a title\n")
    code, _, err = invoke("index", "--source", str(tmp_path / "README.md"))
    assert code == 1
    assert "not a JSON array of asset records" in err
    assert "not a JSON array, not" not in err


@pytest.mark.parametrize(
    "ref",
    [
        "DANDI:001697",
        "DANDI:001697/draft",
        "https://dandiarchive.org/dandiset/001697/draft",
        "https://dandiarchive.org/dandiset/001697/0.250101.1234",
        "https://api.dandiarchive.org/api/dandisets/001697/versions/draft/",
        "https://api.sandbox.dandiarchive.org/api/dandisets/000123/",
        "dandi://DANDI/001697@draft",
        "dandi://dandi-sandbox/000123",
    ],
)
def test_dandisets_of_known_instances_are_named_without_asking_them(ref) -> None:
    """dandi's own parser gives the same answer, after asking the instance."""
    from dandi.dandiarchive import parse_dandi_url

    from dandi_compute_plugin.cli.manifest_source import (
        DandisetRef,
        _known_instance_ref,
    )

    parsed = parse_dandi_url(ref)
    expected = DandisetRef(parsed.dandiset_id, parsed.version_id, parsed.instance.name)
    assert _known_instance_ref(ref) == expected


@pytest.mark.parametrize("command", ["scan-versions", "versions", "delete-version"])
def test_dandiset_dir_completes_as_click_completes_a_directory(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DANDISET_DIR's completion is click.Path's own (not a copy of it): what
    click.Path offers is what the shell gets, for every command taking one."""
    from click.shell_completion import BashComplete, CompletionItem

    offered = [CompletionItem(str(tmp_path / "clone-a"), type="dir")]
    calls: list[str] = []

    def path_completion(self, ctx, param, incomplete):  # noqa: ANN001
        calls.append(incomplete)
        return offered

    monkeypatch.setattr(click.Path, "shell_complete", path_completion)
    completer = BashComplete(main, {}, "dandi", "_DANDI_COMPLETE")
    got = completer.get_completions(["compute", command], str(tmp_path / "clo"))
    assert calls == [str(tmp_path / "clo")]
    assert [(c.value, c.type) for c in got] == [(str(tmp_path / "clone-a"), "dir")]


@pytest.mark.parametrize("fmt", ["json_pp", "json_lines", "yaml", "pyout"])
def test_every_format_carries_the_same_rows(fmt: str) -> None:
    """The overview in each format holds the rows of ``-f json``; sizes exact in
    the structured formats, humanized in the table."""
    import humanize
    import ruamel.yaml

    code, out, err = invoke("versions", str(EXAMPLE), "--sizes", "-f", "json")
    assert code == 0, err
    rows = json.loads(out)
    code, out, err = invoke("versions", str(EXAMPLE), "--sizes", "-f", fmt)
    assert code == 0, err
    if fmt == "json_pp":
        assert json.loads(out) == rows
    elif fmt == "json_lines":
        assert [json.loads(line) for line in out.splitlines()] == rows
    elif fmt == "yaml":
        assert ruamel.yaml.YAML(typ="safe").load(out) == rows
    else:
        header, *lines = out.splitlines()
        assert header.split()[:2] == ["PIPELINE", "VERSION"] and "BYTES" in header
        assert len(lines) == len(rows)
        for line, row in zip(lines, rows, strict=True):
            assert line.split()[:2] == [row["pipeline"], row["version"]]
            assert line.endswith(humanize.naturalsize(row["bytes"]) + "        0")


def test_the_operators_cases_through_the_real_dandi(
    installed: Path, tmp_path: Path
) -> None:
    """What a user types, through the installed ``dandi``: the typos get a hint
    (exit 0, nothing on standard output), a directory that is no clone and a
    version that cannot be a dandiset's are usage errors, --version answers."""
    for typo in ("1.1.1", "V1.1.1", "v1.1"):
        proc = run_dandi("compute", "scan-versions", str(EXAMPLE), typo)
        assert (proc.returncode, proc.stdout) == (0, ""), proc.stderr
        assert "did you mean v1.1.1?" in proc.stderr
    for args in (
        ["scan-versions", str(tmp_path), "v1.1.1"],
        ["scan-versions", str(EXAMPLE / "derivatives"), "v1.1.1"],
        ["versions", str(tmp_path)],
        ["index", "001697", "--dandiset-version", "1.0"],
    ):
        proc = run_dandi("compute", *args)
        assert proc.returncode == 2 and "Error:" in proc.stderr, (args, proc.stderr)
    from dandi_compute_plugin import __version__

    proc = run_dandi("compute", "--version")
    assert (proc.returncode, proc.stdout) == (
        0,
        f"dandi-compute-plugin {__version__}\n",
    )
