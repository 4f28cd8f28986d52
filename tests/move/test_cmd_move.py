"""The real ``dandi compute move`` (a subprocess, dandi's own client): a SIGKILL
while creating the target's assets or while deleting the source's, and a re-run
that finishes the move; exit codes and usage errors."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import time

import pytest

from ..archive import FakeArchive
from ..archive.fixtures import cli_env
from ..cli.test_hook_output_and_endings import PRINTING, hook_site
from ..subprocesses import dandi_executable
from .world import SOURCE, TARGET, World, capsule, directory_of

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def world(archive: FakeArchive, tmp_path: Path) -> World:
    (tmp_path / "home").mkdir()
    return World.make(archive, tmp_path)


def _command(w: World, *args: str) -> list[str]:
    return [
        dandi_executable(),
        "compute",
        "move",
        str(w.clone),
        "v1.1.1",
        "--to",
        TARGET,
        "-i",
        w.archive.url,
        "-f",
        "json",
        *args,
    ]


def _run(w: World, *args: str) -> tuple[int, list[dict], str]:
    env = cli_env(w.archive, w.clone.parent / "home")
    proc = subprocess.run(
        _command(w, *args),
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=240,
    )
    records = json.loads(proc.stdout) if proc.stdout.strip() else []
    return proc.returncode, records, proc.stderr


def _kill_when(w: World, ready, *args: str) -> None:
    env = cli_env(w.archive, w.clone.parent / "home")
    err = open(w.clone.parent / "home" / "err", "w")  # noqa: SIM115 - kept for the process
    proc = subprocess.Popen(
        _command(w, "--yes", *args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=err,
        env=env,
    )
    deadline = time.monotonic() + 120
    try:
        while not ready():
            assert proc.poll() is None, (w.clone.parent / "home" / "err").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait(timeout=60)
        err.close()
    assert proc.returncode == -9


def _converged(w: World, before: dict) -> None:
    moving = w.of_version("v1.1.1")
    after = w.digests(TARGET)
    assert all(after[p] == before[p] for p in moving)
    assert not set(moving) & set(w.archive.paths(SOURCE))
    assert not any((w.clone / directory_of(p)).exists() for p in moving)
    assert (w.clone / "README.md").is_file()
    assert not (w.clone / ".dandi-compute" / "delete-journal.jsonl").exists()
    assert w.archive.count(pattern="/uploads/") == 0


@pytest.mark.parametrize("k", [0, 4])
def test_sigkill_while_creating_then_a_rerun_finishes(world: World, k: int) -> None:
    w = world
    before = w.digests(SOURCE)
    held = w.archive.fail(
        "POST", after=k, times=1, hold=99, hold_timeout=120, drop=True
    )
    _kill_when(w, lambda: held.hits == 1, "-J", "1")
    # nothing of the source went: the deletion starts after every copy
    assert w.archive.paths(SOURCE) == sorted(w.paths)
    assert w.archive.count("DELETE") == 0
    assert len(w.archive.paths(TARGET)) == 1 + k
    w.archive.accounting.release()
    w.archive.clear_faults()
    code, records, err = _run(w, "--yes")
    assert code == 0, err
    assert {r["status"] for r in records} == {"moved"}
    assert sum(r["already_in_target"] for r in records) == k
    _converged(w, before)


def test_sigkill_while_deleting_then_a_rerun_finishes(world: World) -> None:
    w = world
    before = w.digests(SOURCE)
    held = w.archive.fail(
        "DELETE", after=2, times=1, hold=99, hold_timeout=120, drop=True
    )
    _kill_when(w, lambda: held.hits == 1, "-J", "1")
    assert w.archive.count("DELETE") == 2  # the third is held, then dropped
    assert (w.clone / ".dandi-compute" / "delete-journal.jsonl").exists()
    w.archive.accounting.release()
    w.archive.clear_faults()
    code, records, err = _run(w, "--yes")
    assert code == 0, err
    _converged(w, before)


def test_dry_run_and_usage_errors(world: World) -> None:
    w = world
    code, records, err = _run(w, "--dry-run")
    assert code == 0, err
    assert {r["status"] for r in records} == {"planned"}
    assert all(r["to"] == TARGET for r in records)
    code, _, err = _run(w)  # no terminal, no --yes
    assert code == 2 and "--yes" in err
    code, _, err = _run(w, "--yes", "--to", SOURCE)
    assert code == 2 and "own dandiset" in err
    assert w.archive.count("POST") == w.archive.count("DELETE") == 0
    assert w.archive.paths(TARGET) == ["README.md"]


def test_a_refused_directory_exits_1(world: World) -> None:
    from ..records import asset_record

    w = world
    taken = w.of_version("v1.1.1")[0]
    w.archive.add_assets(TARGET, [asset_record(taken, content=b"other")])
    code, records, err = _run(w, "--yes")
    assert code == 1, err
    statuses = sorted(r["status"] for r in records)
    assert statuses == ["moved", "moved", "refused"]


def test_every_directory_of_every_version_is_reported(world: World) -> None:
    """Two versions: one moved, then one all refused (never executed): the
    report has both (the second's records are not lost to the first's)."""
    from ..records import asset_record

    w = world
    nested = w.of_version("v1.1.0")
    w.archive.add_assets(TARGET, [asset_record(nested[0], content=b"other")])
    code, records, err = _run(w, "--yes", "v1.1.0", capsule(1))  # after v1.1.1
    assert code == 1, err
    by_path = {r["path"]: r["status"] for r in records}
    moved = {directory_of(p): "moved" for p in w.of_version("v1.1.1")}
    assert by_path == {**moved, directory_of(nested[0]): "refused"}


def test_ctrl_c_during_the_copy_deletes_nothing(world: World) -> None:
    import signal

    w = world
    held = w.archive.fail("POST", after=1, times=1, hold=99, hold_timeout=120)
    env = cli_env(w.archive, w.clone.parent / "home")
    proc = subprocess.Popen(
        _command(w, "--yes", "-J", "1"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert w.archive.accounting.wait_for(lambda: held.hits == 1, timeout=120)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        w.archive.accounting.release()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    # every directory reported, the run's summary too
    assert "3 failed (interrupted)" in err, err
    assert w.archive.count("DELETE") == 0
    assert w.archive.paths(SOURCE) == sorted(w.paths)
    code, records, err = _run(w, "--yes")
    assert code == 0, err
    assert {r["status"] for r in records} == {"moved"}


def test_help_stays_cheap() -> None:
    """``dandi compute move --help`` loads neither pluggy nor the move's code."""
    code = (
        "import sys; from dandi_compute_plugin.cli import compute; "
        "from click.testing import CliRunner; "
        "r = CliRunner().invoke(compute, ['move', '--help']); "
        "assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in sys.modules if m.startswith(('pluggy', "
        "'dandi_compute_plugin.move', 'dandi_compute_plugin.deletion'))))"
    )
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_what_hooks_print_never_reaches_the_moves_report(
    world: World, tmp_path: Path
) -> None:
    w = world
    env = cli_env(w.archive, w.clone.parent / "home")
    env["PYTHONPATH"] = str(hook_site(tmp_path / "hooks", PRINTING))
    proc = subprocess.run(
        _command(w, "--yes"),
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)  # the report alone: it parses
    assert records and {r["status"] for r in records} == {"moved"}
    for where in ("veto", "before", "after", "finished"):
        assert f"hook says {where}" in proc.stderr
        assert f"hook thread says {where}" in proc.stderr
    assert "raw bytes on fd 1" in proc.stderr
