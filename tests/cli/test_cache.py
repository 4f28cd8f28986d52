"""``dandi compute cache info`` and ``dandi compute cache clear``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from dandi.cli.command import main
import humanize
import pytest
import ruamel.yaml

from dandi_compute_plugin.manifest import MANIFEST_URL_ENV

from ..manifest.common import TEMPLATE_PATH, dumps
from ..manifest.server import ManifestServer
from ..records import asset_record, example_paths
from ..subprocesses import run_dandi, subprocess_env

INFO_FIELDS = {
    "dandiset_id",
    "version",
    "status",
    "size",
    "records",
    "cached",
    "last_used",
    "etag",
    "last_modified",
    "url",
    "directory",
}


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, ["compute", *args], env=env)


def manifest_path(dandiset: str, version: str = "draft") -> str:
    return TEMPLATE_PATH.format(dandiset_id=dandiset, version=version)


@pytest.fixture
def cached(server: ManifestServer) -> tuple[ManifestServer, dict[str, str], list[str]]:
    """Three manifests cached through ``dandi compute index``: two versions of
    000233 and one URL of no dandiset; the environment that names the template."""
    env = {MANIFEST_URL_ENV: server.url(TEMPLATE_PATH)}
    body = dumps([asset_record(p) for p in example_paths()])
    for version in ("draft", "0.230629.1955"):
        server.add(manifest_path("000233", version), body)
        result = invoke("index", "000233", "--version", version, "--summary", env=env)
        assert result.exit_code == 0, result.output
    server.add("/other/m.jsonld", body)
    result = invoke("index", "--source", server.url("/other/m.jsonld"), env=env)
    assert result.exit_code == 0, result.output
    urls = sorted(
        server.url(p)
        for p in (
            manifest_path("000233", "draft"),
            manifest_path("000233", "0.230629.1955"),
            "/other/m.jsonld",
        )
    )
    return server, env, urls


def info(env: dict[str, str], fmt: str = "json") -> list[dict[str, Any]]:
    result = invoke("cache", "info", "-f", fmt, env=env)
    assert result.exit_code == 0, result.output
    if fmt == "yaml":
        return ruamel.yaml.YAML(typ="safe").load(result.stdout)
    if fmt == "json_lines":
        return [json.loads(line) for line in result.stdout.splitlines()]
    return json.loads(result.stdout)


@pytest.mark.parametrize("fmt", ["json", "json_pp", "json_lines", "yaml"])
def test_info_lists_every_entry(cached: Any, fmt: str) -> None:
    server, env, urls = cached
    entries = info(env, fmt)
    assert [e["url"] for e in entries] == urls
    assert all(set(e) == INFO_FIELDS for e in entries)
    published, draft, other = entries
    assert (published["dandiset_id"], published["version"]) == (
        "000233",
        "0.230629.1955",
    )
    assert (draft["dandiset_id"], draft["version"]) == ("000233", "draft")
    assert (other["dandiset_id"], other["version"]) == (None, None)
    served = server.served[manifest_path("000233")]
    assert (draft["etag"], draft["last_modified"]) == (
        served.etag,
        served.last_modified,
    )
    assert draft["status"] == "ok" and draft["records"] == len(example_paths())
    assert draft["size"] > len(served.body)
    assert str(draft["last_used"]) >= str(draft["cached"])


def test_info_in_a_pipe_is_one_url_per_line(cached: Any) -> None:
    _, env, urls = cached
    result = invoke("cache", "info", env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == urls


def test_info_of_an_empty_cache(cache_dir: Path) -> None:
    result = invoke("cache", "info", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert f"No manifests are cached in {cache_dir}" in result.stderr


def test_clear_a_dandiset_then_a_url(cached: Any) -> None:
    server, env, urls = cached
    sizes = {e["url"]: e["size"] for e in info(env)}
    result = invoke("cache", "clear", "DANDI:000233", env=env)
    assert result.exit_code == 0, result.output
    freed = humanize.naturalsize(sizes[urls[0]] + sizes[urls[1]])
    assert f"Removed 2 cached manifest(s), {freed}." in result.stderr
    assert [e["url"] for e in info(env)] == [urls[2]]
    result = invoke("cache", "clear", urls[2], env=env)
    assert result.exit_code == 0, result.output
    assert info(env) == []
    # the next run downloads again, unconditionally
    before = len(server.requests)
    result = invoke("index", "000233", "--summary", env=env)
    assert result.exit_code == 0, result.output
    assert [r.status for r in server.requests[before:]] == [200]
    assert server.requests[-1].if_none_match is None


def test_clear_with_no_name_clears_everything(cached: Any, cache_dir: Path) -> None:
    _, env, urls = cached
    result = invoke("cache", "clear", env=env)
    assert result.exit_code == 0, result.output
    assert "Removed 3 cached manifest(s)" in result.stderr
    assert info(env) == []
    left = [p.name for p in cache_dir.rglob("*") if p.is_file()]
    assert set(left) == {"lock"}  # empty: another run may be waiting on it


def test_clear_of_an_unknown_name_removes_nothing(cached: Any) -> None:
    _, env, urls = cached
    before = info(env)
    result = invoke("cache", "clear", "000233", "001697", "http://nowhere/x", env=env)
    assert result.exit_code == 1
    assert "'001697', 'http://nowhere/x'" in result.stderr
    assert "nothing was removed" in result.stderr
    assert [e["url"] for e in info(env)] == [e["url"] for e in before]


def test_the_real_dandi_command(cached: Any, cache_dir: Path) -> None:
    _, env, urls = cached
    env = subprocess_env(DANDI_COMPUTE_CACHE_DIR=str(cache_dir), **env)
    proc = run_dandi("compute", "cache", "info", "-f", "json_lines", env=env)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["url"] for line in proc.stdout.splitlines()] == urls
    proc = run_dandi("compute", "cache", "clear", "999999", env=env)
    assert proc.returncode == 1 and "'999999'" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_dandi("compute", "cache", "clear", env=env)
    assert proc.returncode == 0, proc.stderr
    proc = run_dandi("compute", "cache", "info", env=env)
    assert proc.returncode == 0 and proc.stdout == ""


def test_a_cache_that_is_not_private_is_reported_not_touched(
    cached: Any, cache_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, env, urls = cached
    elsewhere = tmp_path / "real-cache"
    cache_dir.rename(elsewhere)
    cache_dir.symlink_to(elsewhere)  # the root may not be a link
    before = sorted(p.name for p in elsewhere.rglob("*"))
    for args in (("cache", "info"), ("cache", "clear")):
        result = invoke(*args, env=env)
        assert result.exit_code == 1, result.output
        assert "symbolic link" in result.stderr and "Traceback" not in result.output
    result = invoke("index", "000233", "--summary", env=env)
    assert result.exit_code == 0 and "Not using the manifest cache" in caplog.text
    result = invoke("index", "000233", "--summary", "--refresh", env=env)
    assert result.exit_code == 1 and "Cannot refresh" in result.stderr
    assert sorted(p.name for p in elsewhere.rglob("*")) == before


def test_an_unsafe_entry_is_listed_and_kept_by_clear(
    cached: Any, cache_dir: Path, tmp_path: Path
) -> None:
    _, env, urls = cached
    entries = sorted((cache_dir / "manifests").iterdir())
    entries[0].chmod(0o777)
    statuses = sorted(e["status"] for e in info(env))
    assert statuses == ["ok", "ok", "unsafe"]
    result = invoke("cache", "clear", env=env)
    assert result.exit_code == 1 and "writable by group or others" in result.stderr
    assert "Removed 2 cached manifest(s)" in result.stderr
    assert (entries[0] / "meta.json").exists()


def test_an_entry_names_its_dandiset_after_the_template_is_unset(
    cached: tuple[ManifestServer, dict[str, str], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MANIFEST_URL_ENV, raising=False)
    result = invoke("cache", "info", "-f", "json", env={MANIFEST_URL_ENV: ""})
    assert result.exit_code == 0, result.output
    named = sorted(
        (e["dandiset_id"], e["version"])
        for e in json.loads(result.stdout)
        if e["dandiset_id"]
    )
    assert named == [("000233", "0.230629.1955"), ("000233", "draft")]
    result = invoke("cache", "clear", "000233", env={MANIFEST_URL_ENV: ""})
    assert result.exit_code == 0, result.output
    left = json.loads(invoke("cache", "info", "-f", "json").stdout)
    assert [e["dandiset_id"] for e in left] == [None]
