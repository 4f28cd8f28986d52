"""``dandi compute index`` and ``scan-versions --remote`` through the real ``dandi``."""

from __future__ import annotations

import json
import os
from pathlib import Path
import pty
import subprocess
import time
from typing import Any

from click.testing import CliRunner
from dandi.cli.command import main
import pytest
import ruamel.yaml

from dandi_compute_plugin.manifest import MANIFEST_URL_ENV
from dandi_compute_plugin.versions import iter_version_directories

from ..manifest.common import PATH, TEMPLATE_PATH, dumps
from ..manifest.server import ManifestServer
from ..records import asset_record, build_clone, example_paths
from ..subprocesses import dandi_executable, run_dandi, subprocess_env


def sized_records() -> list[dict[str, Any]]:
    return [asset_record(p, size=1000 + i) for i, p in enumerate(example_paths())]


def as_output(record: dict[str, Any]) -> dict[str, Any]:
    url = record["contentUrl"][1]
    return {
        "path": record["path"],
        "date_modified": record["dateModified"],
        "content_size": record["contentSize"],
        "content_id": url.rstrip("/").rsplit("/", 1)[-1],
    }


def invoke(*args: str, env: dict[str, str] | None = None, **kw: Any) -> Any:
    return CliRunner().invoke(main, ["compute", *args], env=env, **kw)


@pytest.fixture
def served(server: ManifestServer) -> tuple[ManifestServer, list[dict[str, Any]]]:
    recs = sized_records()
    server.add(PATH, dumps(recs))
    return server, recs


def test_index_json_lines_from_a_url(served: Any) -> None:
    server, recs = served
    result = invoke("index", "--source", server.url(PATH), "-f", "json_lines")
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        as_output(r) for r in recs
    ]
    assert "MB/s" not in result.stderr  # no progress line when not on a terminal


@pytest.mark.parametrize("fmt", ["json", "json_pp", "yaml"])
def test_index_other_formats(served: Any, fmt: str) -> None:
    server, recs = served
    result = invoke("index", "--source", server.url(PATH), "-f", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "yaml":
        got = ruamel.yaml.YAML(typ="safe").load(result.stdout)
    else:
        got = json.loads(result.stdout)
    assert got == [as_output(r) for r in recs]


def test_index_auto_in_a_pipe_is_one_path_per_line(served: Any) -> None:
    server, recs = served
    result = invoke("index", "--source", server.url(PATH))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [r["path"] for r in recs]


def test_index_of_a_dandiset_on_an_instance_with_prefix_and_summary(
    served: Any,
) -> None:
    server, recs = served
    env = {MANIFEST_URL_ENV: server.url(TEMPLATE_PATH)}
    prefix = "derivatives/dandiset-001470/"
    inside = [r for r in recs if r["path"].startswith(prefix)]
    result = invoke(
        "index", "001697", "--version", "draft", "--path-prefix", prefix,
        "-f", "json", env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [as_output(r) for r in inside]
    result = invoke("index", "DANDI:001697", "--summary", env=env)
    assert result.exit_code == 0, result.output
    total = sum(r["contentSize"] for r in recs)
    assert result.stdout == f"{len(recs)} assets, {total} bytes\n"
    result = invoke(
        "index", "001697", "--summary", "--path-prefix", prefix, "-f", "json", env=env
    )
    assert json.loads(result.stdout) == [
        {"assets": len(inside), "total_bytes": sum(r["contentSize"] for r in inside)}
    ]
    assert server.statuses(PATH) == [200, 304, 304]


def test_index_no_cache_and_refresh(served: Any) -> None:
    server, _ = served
    url = server.url(PATH)
    for args in ([], [], ["--refresh"], ["--no-cache"], []):
        result = invoke("index", "--source", url, "--summary", *args)
        assert result.exit_code == 0, result.output
    assert server.statuses(PATH) == [200, 304, 200, 200, 304]


def test_index_from_stdin(served: Any) -> None:
    _, recs = served
    result = invoke("index", "--source", "-", "-f", "json_lines", input=dumps(recs))
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == len(recs)


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ((), "Give DANDISET or --source"),
        (("001697", "--source", "x.jsonld"), "Give DANDISET or --source"),
        (("1697",), "'1697' names no dandiset"),
        (("--source", "x.jsonld", "--version", "0.1.2"), "not with --source"),
        (
            ("DANDI:001697/draft", "--dandiset-version", "0.230101.1234"),
            "names version",
        ),
        (("https://dandiarchive.org/dandiset/001697/draft/files?location=x",), "not a"),
    ],
)
def test_index_usage_errors(args: tuple[str, ...], text: str) -> None:
    result = invoke("index", *args)
    assert result.exit_code == 2
    assert text in result.stderr


def test_index_failures_exit_non_zero_with_the_reason(
    server: ManifestServer, tmp_path: Path
) -> None:
    env = {MANIFEST_URL_ENV: server.url(TEMPLATE_PATH)}
    result = invoke("index", "000001", env=env)
    assert result.exit_code == 1
    assert "dandiset 000001 version draft" in result.stderr
    assert "404" in result.stderr and result.stdout == ""
    bad = [asset_record("a.txt"), asset_record("b.txt")]
    del bad[1]["contentSize"]
    (tmp_path / "bad.jsonld").write_bytes(dumps(bad))
    result = invoke("index", "--source", str(tmp_path / "bad.jsonld"), "-f", "json")
    # streamed: record 1 was printed, the array is left unfinished (not valid
    # JSON, so no shorter listing passes for the whole), and the error names 2
    assert result.exit_code == 1
    assert '"path": "a.txt"' in result.stdout and "b.txt" not in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)
    assert "record 2 (path 'b.txt'): 'contentSize' is missing" in result.stderr
    result = invoke("index", "001697", "-i", "dandi-sandbox")
    assert result.exit_code == 1 and "--source" in result.stderr


# ------------------------------------------------------------ remote scan


def test_scan_versions_remote_matches_the_local_scan(
    served: Any, tmp_path: Path
) -> None:
    server, recs = served
    clone = build_clone(tmp_path / "001697", example_paths())
    env = {MANIFEST_URL_ENV: server.url(TEMPLATE_PATH)}
    result = invoke(
        "scan-versions", "--remote", "001697", "v1.1.1", "-f", "json_lines", env=env
    )
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in result.stdout.splitlines()]
    local = sorted(
        (d.as_record() for d in iter_version_directories(clone, "v1.1.1")),
        key=lambda r: r["path"],
    )
    assert [{k: r[k] for k in local[0]} for r in got] == local
    for rec in got:
        inside = [r for r in recs if r["path"].startswith(rec["path"] + "/")]
        assert rec["asset_count"] == len(inside) == 3
        assert rec["total_bytes"] == sum(r["contentSize"] for r in inside)
    # the option may come after the arguments too
    again = invoke("scan-versions", "001697", "v1.1.1", "--remote", env=env)
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == [r["path"] for r in got]


def test_scan_versions_remote_from_a_source_file(served: Any, tmp_path: Path) -> None:
    _, recs = served
    (tmp_path / "m.jsonld").write_bytes(dumps(recs))
    result = invoke(
        "scan-versions", "--remote", "001697", "v1.1.0",
        "--source", str(tmp_path / "m.jsonld"), "-f", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r["version"] for r in json.loads(result.stdout)] == ["v1.1.0"]


def test_scan_versions_remote_usage_errors(tmp_path: Path) -> None:
    result = invoke("scan-versions", "--remote", "not-an-id", "v1")
    assert result.exit_code == 2 and "names no dandiset" in result.stderr
    result = invoke("scan-versions", "--remote", "001697", "a/b")
    assert result.exit_code == 2
    clone = build_clone(tmp_path / "c", example_paths())
    result = invoke("scan-versions", str(clone), "v1.1.1", "--source", "x")
    assert result.exit_code == 2 and "need --remote" in result.stderr


# ------------------------------------------------------ the real executable


def test_real_dandi_executable(served: Any, installed: Path, cache_dir: Path) -> None:
    server, recs = served
    env = subprocess_env(
        DANDI_COMPUTE_CACHE_DIR=str(cache_dir),
        **{MANIFEST_URL_ENV: server.url(TEMPLATE_PATH)},
    )
    proc = run_dandi("compute", "index", "001697", "-f", "json_lines", env=env)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(x) for x in proc.stdout.splitlines()] == [
        as_output(r) for r in recs
    ]
    assert "MB/s" not in proc.stderr
    proc = run_dandi(
        "compute", "scan-versions", "--remote", "001697", "v1.1.1", env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 5
    proc = run_dandi("compute", "index", "--source", server.url("/missing"), env=env)
    assert proc.returncode == 1 and "404" in proc.stderr
    assert server.statuses(PATH) == [200, 304]


def test_progress_line_on_a_terminal(
    server: ManifestServer, installed: Path, cache_dir: Path
) -> None:
    recs = [asset_record(f"tty/{i}.txt") for i in range(300)]
    server.add(PATH, dumps(recs), mode="slow")
    env = subprocess_env(DANDI_COMPUTE_CACHE_DIR=str(cache_dir))
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [dandi_executable(), "compute", "index", "--source", server.url(PATH),
             "--summary"],
            stdout=subprocess.PIPE,
            stderr=secondary,
            stdin=subprocess.DEVNULL,
            env=env,
            timeout=300,
        )  # fmt: skip
        os.close(secondary)
        secondary = -1
        chunks = []
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(primary)
        if secondary != -1:
            os.close(secondary)
    tty_text = b"".join(chunks).decode()
    assert proc.returncode == 0, tty_text
    assert (
        proc.stdout.decode()
        == f"300 assets, {sum(r['contentSize'] for r in recs)} bytes\n"
    )
    # tqdm's bar: the bytes so far of the whole, and the rate
    assert "Downloading assets.jsonld:" in tty_text and "%|" in tty_text
    assert "B/s]" in tty_text and f"/{len(dumps(recs)) / 1000:.0f}k" in tty_text


def test_index_timeout_from_the_option_and_the_environment(
    server: ManifestServer,
) -> None:
    # a stall of 250 s: a client that waited it out would meet the test's timeout
    server.stall_seconds = 250
    server.add(PATH, dumps([asset_record(p) for p in example_paths()]), mode="stall")
    for args, env in (
        (["--timeout", "0.5"], {}),
        ([], {"DANDI_COMPUTE_TIMEOUT": "0.5"}),
    ):
        result = invoke("index", "--source", server.url(PATH), *args, env=env)
        assert result.exit_code == 1 and "failed after" in result.output
        # the client gave up on the stalled body: the server sees it hang up
        # (guarded: 60 s; it is seen within a twentieth of a second)
        last = server.requests[-1]
        for _ in range(1200):
            if last.hung_up:
                break
            time.sleep(0.05)
        assert last.hung_up
    bad = invoke("index", "--source", server.url(PATH), "--timeout", "0")
    assert bad.exit_code == 2


@pytest.mark.parametrize(
    "identifier",
    [
        "001697",
        "DANDI:001697",
        "DANDI:001697/draft",
        "dandi://DANDI/001697@draft",
        "https://dandiarchive.org/dandiset/001697/draft",
    ],
)
def test_dandisets_are_named_as_dandi_names_them(served: Any, identifier: str) -> None:
    server, recs = served
    env = {MANIFEST_URL_ENV: server.url(TEMPLATE_PATH)}
    result = invoke("index", identifier, "-f", "json_lines", env=env)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == len(recs)
    remote = invoke(
        "scan-versions", "--remote", identifier, "v1.1.1", "-f", "json_lines", env=env
    )
    assert remote.exit_code == 0, remote.output
    assert remote.stdout.splitlines()
    assert all(r.path.startswith("/dandisets/001697/draft/") for r in server.requests)


def test_a_published_version_from_the_identifier(served: Any) -> None:
    server, recs = served
    server.add(
        TEMPLATE_PATH.format(dandiset_id="001697", version="0.230101.1234"),
        dumps(recs[:2]),
    )
    env = {MANIFEST_URL_ENV: server.url(TEMPLATE_PATH)}
    result = invoke("index", "DANDI:001697/0.230101.1234", "--summary", env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 assets")


def test_scan_versions_remote_reads_the_id_of_a_clone(
    served: Any, tmp_path: Path
) -> None:
    server, _ = served
    clone = build_clone(tmp_path / "clone", example_paths())
    env = {MANIFEST_URL_ENV: server.url(TEMPLATE_PATH)}
    result = invoke("scan-versions", "--remote", str(clone), "v1.1.1", env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()
    assert server.requests[-1].path.startswith("/dandisets/001697/draft/")


def test_index_names_what_is_wrong_with_a_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    packed = tmp_path / "assets.jsonld.gz"
    packed.write_bytes(gzip.compress(dumps([asset_record("a.txt")])))
    cases = [
        (["--source", str(packed)], "gzip-compressed data"),
        (["--source", "ftp://example.org/assets.jsonld"], "ftp:// is not supported"),
        (["--source", str(tmp_path)], "is a directory, not a manifest file"),
    ]
    for args, text in cases:
        result = invoke("index", *args)
        assert result.exit_code == 1 and text in result.stderr, result.output
    monkeypatch.setenv(MANIFEST_URL_ENV, "http://127.0.0.1:9/{dandiset}/x")
    result = invoke("index", "001697")
    assert result.exit_code == 1
    assert "Invalid manifest URL template" in result.stderr
    assert "{dandiset_id} and {version}" in result.stderr


@pytest.mark.parametrize("fmt", ["json_lines", "auto"])
def test_index_into_a_closed_pipe_ends_quietly(
    tmp_path: Path, installed: Path, fmt: str
) -> None:
    # records written a buffer at a time: the reader going away is still
    # found where it is handled, not by the interpreter's last flush
    manifest = tmp_path / "assets.jsonld"
    manifest.write_bytes(dumps([asset_record(f"p/{i:05}.nwb") for i in range(3000)]))
    proc = subprocess.Popen(
        [dandi_executable(), "compute", "index", "--source", str(manifest),
         "-f", fmt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    assert b"p/00000.nwb" in proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Broken pipe" not in err and "Traceback" not in err
    whole = subprocess.run(
        [dandi_executable(), "compute", "index", "--source", str(manifest),
         "-f", fmt],
        capture_output=True,
        env=subprocess_env(),
        check=True,
    )  # fmt: skip
    assert len(whole.stdout.splitlines()) == 3000


def test_a_lone_surrogate_in_a_path_is_printed_escaped(tmp_path: Path) -> None:
    record = {
        "path": "a\ud800b",
        "contentSize": 5,
        "dateModified": "2026-01-01T00:00:00",
        "contentUrl": ["https://h/blobs/abc"],
    }
    (tmp_path / "m.jsonld").write_text(json.dumps([record]))
    source = str(tmp_path / "m.jsonld")
    result = CliRunner().invoke(main, ["compute", "index", "--source", source])
    assert result.exit_code == 0, result.output
    assert result.stdout == "a\\ud800b\n"
    result = CliRunner().invoke(
        main, ["compute", "index", "--source", source, "-f", "json_lines"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["path"] == "a\ud800b"
