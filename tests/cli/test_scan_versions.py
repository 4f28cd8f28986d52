"""``dandi compute scan-versions`` through dandi's real ``main`` and subprocesses."""

from __future__ import annotations

import io
import json
from pathlib import Path
import subprocess

from click.testing import CliRunner
from dandi.cli.command import main
import pytest
import ruamel.yaml

from dandi_compute_plugin import iter_version_directories
from dandi_compute_plugin.cli.formats import resolve_format

from ..records import build_clone, example_paths
from ..subprocesses import REPO, dandi_executable, run_dandi, subprocess_env

EXAMPLE = REPO / "examples" / "dandiset-001697-mini"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    return build_clone(tmp_path / "001697", example_paths())


def expected_records(clone: Path, version: str) -> list[dict]:
    return sorted(
        (d.as_record() for d in iter_version_directories(clone, version)),
        key=lambda r: r["path"],
    )


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["compute", "scan-versions", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_through_the_real_dandi_executable(clone: Path, installed: Path) -> None:
    proc = run_dandi("compute", "scan-versions", str(clone), "v1.1.1", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert records == expected_records(clone, "v1.1.1")
    assert len(records) == 5
    assert {r["version"] for r in records} == {
        "v1.1.1",
        "v1.1.1+b268fd2",
        "v1.1.1+b268fd2+b268fd2",
    }
    for rec in records:
        assert set(rec) >= {
            "path",
            "dandiset",
            "version",
            "subject",
            "session",
            "pipeline",
        }
        assert not rec["path"].startswith("/")
        assert (clone / rec["path"]).is_dir()


def test_bundled_example_as_in_the_readme(installed: Path) -> None:
    proc = run_dandi(
        "compute", "scan-versions", "examples/dandiset-001697-mini", "v1.1.1", cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 8
    assert all(Path(REPO, line).is_dir() for line in lines)
    assert any(line.endswith("version-v1.1.1+b268fd2+b268fd2") for line in lines)
    flat = [line for line in lines if "_codebase-" in line]
    assert len(flat) == 3 and not any("_codebase-v0.3.0_attempt-1" in x for x in flat)
    assert any("/sub-Chronic-Implant-2/pipeline-" in line for line in lines)


@pytest.mark.parametrize("fmt", ["json", "json_pp", "json_lines", "yaml"])
def test_structured_formats_carry_every_record(clone: Path, fmt: str) -> None:
    code, out, err = invoke(str(clone), "v1.1.1", "-f", fmt)
    assert code == 0, err
    if fmt == "json_lines":
        records = [json.loads(line) for line in out.splitlines()]
    elif fmt == "yaml":
        records = ruamel.yaml.YAML(typ="safe").load(io.StringIO(out))
    else:
        records = json.loads(out)
    assert sorted(records, key=lambda r: r["path"]) == expected_records(clone, "v1.1.1")
    no_session = [r for r in records if r["dandiset"] == "001469"]
    assert no_session and no_session[0]["session"] is None


def test_pyout_table(clone: Path) -> None:
    code, out, err = invoke(str(clone), "v1.1.1", "-f", "pyout")
    assert code == 0, err
    assert "PATH" in out and "VERSION" in out
    assert "v1.1.1+b268fd2+b268fd2" in out
    assert "None" not in out  # a missing session is an empty cell


def test_auto_in_a_pipe_prints_one_usable_path_per_line(clone: Path) -> None:
    code, out, err = invoke(str(clone), "v1.1.1")
    assert code == 0, err
    lines = out.splitlines()
    assert sorted(lines) == sorted(
        str(clone / r["path"]) for r in expected_records(clone, "v1.1.1")
    )


def test_auto_is_a_table_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert resolve_format("auto", Terminal()) == "pyout"
    assert resolve_format("auto", io.StringIO()) == "lines"
    assert resolve_format("json", Terminal()) == "json"


def test_nothing_found_prints_nothing(clone: Path) -> None:
    code, out, _ = invoke(str(clone), "v7", "-f", "json_lines")
    assert (code, out) == (0, "")


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("", "must not be empty"),
        (".", "must not be '.'"),
        ("..", "must not be '..'"),
        ("a/b", "must not contain '/'"),
        ("/", "must not contain '/'"),
        ("a\\b", "must not contain '\\\\'"),
        ("v1\x00", "NUL"),
    ],
)
def test_invalid_version_is_a_usage_error(
    clone: Path, version: str, message: str
) -> None:
    code, out, err = invoke(str(clone), version)
    assert code == 2
    assert out == ""
    assert "VERSION" in err and message in err


def test_invalid_version_exit_status_of_the_real_command(
    clone: Path, installed: Path
) -> None:
    proc = run_dandi("compute", "scan-versions", str(clone), "../x")
    assert proc.returncode == 2
    assert "must not contain '/'" in proc.stderr


def test_missing_directory_and_file_are_clear_errors(tmp_path: Path) -> None:
    code, _, err = invoke(str(tmp_path / "nope"), "v1")
    assert code == 2 and "does not exist" in err
    (tmp_path / "afile").write_text("x")
    code, _, err = invoke(str(tmp_path / "afile"), "v1")
    assert code == 2 and "is a file" in err


def test_no_derivatives_is_empty_with_a_note(tmp_path: Path, installed: Path) -> None:
    (tmp_path / "dandiset.yaml").write_text("identifier: DANDI:000001\n")
    proc = run_dandi("compute", "scan-versions", str(tmp_path), "v1")
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert "no derivatives/ directory" in proc.stderr
    for command in (
        ["scan-versions", str(tmp_path), "v1"],
        ["versions", str(tmp_path)],
    ):
        proc = run_dandi("compute", *command, "-f", "json")
        assert (proc.returncode, proc.stdout.strip()) == (0, "[]"), proc.stderr
        said = [ln for ln in proc.stderr.splitlines() if "derivatives/" in ln]
        assert len(said) == 1 and "WARNING" in said[0], proc.stderr


def test_debug_logging_reaches_stderr_and_dandis_log_file(
    clone: Path, tmp_path: Path, installed: Path
) -> None:
    state = tmp_path / "state"
    env = subprocess_env(XDG_STATE_HOME=str(state))
    proc = run_dandi(
        "-l", "DEBUG", "compute", "scan-versions", str(clone), "v1", env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "Scanning" in proc.stderr
    logs = list(state.rglob("*.log"))
    assert len(logs) == 1
    assert "Scanning" in logs[0].read_text()
    quiet = run_dandi("compute", "scan-versions", str(clone), "v1", env=env)
    assert "Scanning" not in quiet.stderr


def test_a_closed_pipe_ends_quietly(tmp_path: Path, installed: Path) -> None:
    paths = [
        f"derivatives/dandiset-000001/sub-{i:04d}/pipeline-p/version-v1/{'x' * 60}"
        for i in range(1500)
    ]
    clone = build_clone(tmp_path / "c", paths)  # ~150 kB of output, > a pipe buffer
    proc = subprocess.Popen(
        [dandi_executable(), "compute", "scan-versions", str(clone), "v1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().strip().endswith(b"version-v1")
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Broken pipe" not in err and "Traceback" not in err
