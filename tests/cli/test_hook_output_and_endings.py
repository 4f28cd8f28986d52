"""Hooks in a real ``dandi`` process: they fail closed and never write into the
report; and whatever ends a run, the report says only what is known.

The hook plugin is a real distribution found through its entry point: a
``.dist-info`` with ``entry_points.txt`` on the subprocess's ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import signal
import subprocess
import textwrap
import time

import pytest

from ..archive import FakeArchive
from ..archive.clones import seed, tree_state
from ..archive.fixtures import cli_env
from ..records import version_files
from ..subprocesses import dandi_executable, run_dandi

SUBJECTS = ("A", "B")


def paths() -> list[str]:
    return [
        p
        for sub in SUBJECTS
        for p in version_files("000001", sub, "v1.1.1", names=["out/a.json"])
    ]


def hook_site(tmp_path: Path, source: str, name: str = "testhook") -> Path:
    """A distribution whose module ``name`` is the ``dandi_compute`` plugin."""
    site = tmp_path / "site"
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(f"[dandi_compute]\n{name} = {name}\n")
    (site / f"{name}.py").write_text(textwrap.dedent(source))
    return site


def env_with(archive: FakeArchive, tmp_path: Path, site: Path | None, **extra: str):
    env = cli_env(archive, tmp_path / "home", **extra)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(site), env.get("PYTHONPATH")) if p
        )
    return env


def delete(archive: FakeArchive, clone: Path, env: dict, *args: str):
    return run_dandi(
        "compute",
        "delete-version",
        str(clone),
        "v1.1.1",
        "-i",
        archive.url,
        *args,
        env=env,
    )


PRINTING = """
    import os, sys, threading
    from dandi_compute_plugin import hookimpl

    def chatter(where):
        print("hook thread says", where)
        sys.stdout.write("{not json\\n")
        sys.stdout.flush()

    def everywhere(where):
        print("hook says", where)
        os.write(1, b"raw bytes on fd 1\\n")
        t = threading.Thread(target=chatter, args=(where,))
        t.start()
        t.join()

    @hookimpl
    def dandi_compute_veto_deletion(target):
        everywhere("veto")

    @hookimpl
    def dandi_compute_before_target(target):
        everywhere("before")

    @hookimpl
    def dandi_compute_after_target(target, result):
        everywhere("after")

    @hookimpl
    def dandi_compute_run_finished(report):
        everywhere("finished")
"""


@pytest.mark.parametrize("fmt", ["json", "json_lines"])
def test_what_hooks_print_never_reaches_the_report(
    archive: FakeArchive, tmp_path: Path, fmt: str
) -> None:
    clone = seed(archive, tmp_path / "clone", paths())
    env = env_with(archive, tmp_path, hook_site(tmp_path, PRINTING))
    proc = delete(archive, clone, env, "--yes", "-f", fmt)
    assert proc.returncode == 0, proc.stderr
    if fmt == "json":
        records = json.loads(proc.stdout)
    else:
        records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert sorted(r["status"] for r in records) == ["deleted", "deleted"]
    for where in ("veto", "before", "after", "finished"):
        assert f"hook says {where}" in proc.stderr
        assert f"hook thread says {where}" in proc.stderr
    assert "raw bytes on fd 1" in proc.stderr


MISSPELT = """
    from dandi_compute_plugin import hookimpl

    @hookimpl
    def dandi_compute_veto_delation(target):
        return "protected"
"""

UNMARKED = """
    def dandi_compute_veto_deletion(target):
        return "protected"
"""


@pytest.mark.parametrize("source", [MISSPELT, UNMARKED], ids=["misspelt", "unmarked"])
def test_a_hook_that_would_never_be_called_fails_its_plugin(
    archive: FakeArchive, tmp_path: Path, source: str
) -> None:
    clone = seed(archive, tmp_path / "clone", paths())
    before = tree_state(clone)
    env = env_with(archive, tmp_path, hook_site(tmp_path, source))

    listed = run_dandi("compute", "plugins", "-f", "json", env=env)
    [info] = [i for i in json.loads(listed.stdout) if i["name"] == "testhook"]
    assert info["status"] == "failed" and "dandi_compute_veto_de" in info["error"]

    proc = delete(archive, clone, env, "--yes", "-f", "json")
    assert proc.returncode == 1
    records = json.loads(proc.stdout)
    assert [r["status"] for r in records] == ["refused", "refused"]
    assert all("testhook" in r["reason"] for r in records)
    assert archive.count("DELETE") == 0 and tree_state(clone) == before

    # disabled explicitly, the run goes on without it
    proc = delete(
        archive, clone, env, "--yes", "-f", "json", "--disable-plugin", "testhook"
    )
    assert proc.returncode == 0, proc.stderr


HELD = """
    import os
    from pathlib import Path
    from dandi_compute_plugin import hookimpl

    @hookimpl
    def dandi_compute_after_target(target, result):
        # the first target has ended and is reported: say so, then hold on
        Path(os.environ["HOOK_FLAG"]).write_text(target.relpath)
"""


def test_sigterm_during_a_deletion_reports_every_directory_and_exits_143(
    archive: FakeArchive, tmp_path: Path
) -> None:
    """The first target deleted and reported, the second's DELETE held by the
    server: SIGTERM ends the run as Ctrl-C does, with both in the report."""
    clone = seed(archive, tmp_path / "clone", paths())
    second = [p for p in paths() if "/sub-B/" in p][0]
    second_id = archive.asset_ids("001697")[second]
    held = archive.fail("DELETE", second_id, hold=99, times=1, hold_timeout=120)
    env = env_with(archive, tmp_path, None)
    cmd = [
        dandi_executable(),
        "compute",
        "delete-version",
        str(clone),
        "v1.1.1",
        "-i",
        archive.url,
        "--yes",
        "-J",
        "1",
        "-f",
        "json_lines",
    ]
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert archive.accounting.wait_for(lambda: held.hits == 1, 120)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # not a measure: lets the signal land while it is held
        archive.accounting.release()
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        archive.accounting.release()
    assert proc.returncode == 143, err
    records = {r["path"]: r for r in map(json.loads, out.splitlines())}
    assert len(records) == 2, out
    assert sorted(r["status"] for r in records.values()) == ["deleted", "failed"]
    [failed] = [r for r in records.values() if r["status"] == "failed"]
    assert "terminated" in failed["reason"] and not failed["local_removed"]
    assert "before anything was changed" not in err


SLOW_END = """
    import os, time
    from pathlib import Path
    from dandi_compute_plugin import hookimpl

    @hookimpl
    def dandi_compute_run_finished(report):
        Path(os.environ["HOOK_FLAG"]).write_text("finishing")
        time.sleep(60)
"""


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_after_every_deletion_never_claims_nothing_changed(
    archive: FakeArchive, tmp_path: Path, sig: int, code: int
) -> None:
    """The end-of-run hook runs after the deletions: a signal then must not
    end with 'before anything was changed' and a cut report."""
    clone = seed(archive, tmp_path / "clone", paths())
    flag = tmp_path / "flag"
    site = hook_site(tmp_path, SLOW_END)
    env = env_with(archive, tmp_path, site, HOOK_FLAG=str(flag))
    cmd = [
        dandi_executable(),
        "compute",
        "delete-version",
        str(clone),
        "v1.1.1",
        "-i",
        archive.url,
        "--yes",
        "-f",
        "json",
    ]
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        for _ in range(1200):
            if flag.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert "before anything was changed" not in err
    records = json.loads(out)  # a whole document
    assert sorted(r["status"] for r in records) == ["deleted", "deleted"]
    assert archive.paths("001697") == []
