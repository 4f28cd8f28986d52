"""``dandi compute delete-version`` as users run it: the real ``dandi`` executable.

Every test runs dandi's own, unpatched client against the fake archive on
127.0.0.1 and checks the clone and the server afterwards.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

from ..archive import FakeArchive
from ..archive.clones import (
    DANDISET,
    KEY,
    after_removal,
    many_versions,
    seed,
    tree_state,
    under,
)
from ..archive.fixtures import cli_env
from ..records import asset_record, example_paths
from ..subprocesses import dandi_executable, run_dandi

V1 = (
    "derivatives/dandiset-000233/sub-CGM3/ses-CGM3/pipeline-aind+ephys/"
    "version-v1.1.1+b268fd2"
)
TARGETS = [
    V1,
    "derivatives/dandiset-000363/sub-480134/ses-20210107T120825/pipeline-aind+ephys/"
    "version-v1.1.1+b268fd2",
    "derivatives/dandiset-001469/sub-Chronic-Implant-2/pipeline-aind+ephys/"
    "version-v1.1.1+b268fd2",
    "derivatives/dandiset-001470/sub-M489/ses-2024-08-05/pipeline-aind+ephys/"
    "version-v1.1.1+b268fd2+b268fd2",
    "derivatives/dandiset-001747/sub-chip19894/ses-recording049/pipeline-aind+ephys/"
    "version-v1.1.1",
]


@pytest.fixture
def clone(archive: FakeArchive, tmp_path: Path) -> Path:
    return seed(archive, tmp_path / "clone", example_paths())


def command(archive: FakeArchive, clone: Path, *args: str) -> list[str]:
    """The ``dandi compute delete-version`` command line for ``clone``, v1.1.1."""
    return [
        dandi_executable(),
        "compute",
        "delete-version",
        str(clone),
        "v1.1.1",
        "-i",
        archive.url,
        *args,
    ]


def delete(
    archive: FakeArchive, clone: Path, *args: str, env: dict
) -> subprocess.CompletedProcess:
    return run_dandi(*command(archive, clone, *args)[1:], env=env)


def kept_paths() -> list[str]:
    return [
        p for p in example_paths() if not any(p.startswith(t + "/") for t in TARGETS)
    ]


def assert_untouched(archive: FakeArchive, clone: Path, before: dict) -> None:
    assert tree_state(clone) == before
    assert archive.paths(DANDISET) == sorted(example_paths())
    assert archive.count("DELETE") == 0


def test_dry_run_needs_no_key_and_changes_nothing(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    before = tree_state(clone)
    proc = delete(
        archive,
        clone,
        "--dry-run",
        "-f",
        "json",
        env=cli_env(archive, tmp_path, key=None),
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert [r["path"] for r in records] == TARGETS
    assert {r["status"] for r in records} == {"planned"}
    assert all(r["remote_assets"] == 3 and r["local_files"] == 3 for r in records)
    assert records[0]["remote_bytes"] == sum(
        len(f"content of {p}\n") for p in under(example_paths(), V1)
    )
    assert_untouched(archive, clone, before)
    assert archive.count("GET", r"^/api/auth/token") == 0


def test_no_key_and_no_terminal_is_an_error_before_any_change(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    before = tree_state(clone)
    # standard input stays open and silent: a prompt would wait forever
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        proc = subprocess.Popen(
            command(archive, clone, "--yes"),
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            env=cli_env(archive, tmp_path, key=None),
        )
        try:
            returncode = proc.wait(timeout=120)
        finally:
            proc.stdin.close()
            proc.kill()
    stderr = (tmp_path / "err").read_text()
    assert returncode == 1, stderr
    assert archive.api_key_env_var in stderr and "no terminal" in stderr
    assert "Nothing was changed" in stderr
    assert (tmp_path / "out").read_text() == ""
    assert_untouched(archive, clone, before)


def test_invalid_key_is_an_error_before_any_change(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    before = tree_state(clone)
    proc = delete(
        archive, clone, "--yes", env=cli_env(archive, tmp_path, key="wrong-key-89")
    )
    assert proc.returncode == 1
    assert "rejected" in proc.stderr and "HTTP 401" in proc.stderr
    assert "wrong-key-89" not in proc.stdout + proc.stderr
    assert archive.count("GET", r"^/api/auth/token/$") == 1
    assert_untouched(archive, clone, before)


def test_no_terminal_and_no_yes_refuses_without_a_request(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    before = tree_state(clone)
    proc = delete(archive, clone, env=cli_env(archive, tmp_path))
    assert proc.returncode == 2, proc.stderr  # a usage error, as click's own
    assert "--yes" in proc.stderr and "Nothing was changed" in proc.stderr
    assert tree_state(clone) == before
    assert archive.log == []


def test_deletes_remote_then_local_and_nothing_else(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    before = tree_state(clone)
    proc = delete(
        archive, clone, "--yes", "-f", "json_lines", env=cli_env(archive, tmp_path)
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    # written as each directory ends: in the order they end
    assert sorted((r["path"], r["status"], r["deleted_assets"]) for r in records) == [
        (t, "deleted", 3) for t in sorted(TARGETS)
    ]
    assert archive.paths(DANDISET) == sorted(kept_paths())
    # published assets stay: only the draft changes
    assert archive.paths(DANDISET, "published") == sorted(example_paths())
    for t in TARGETS:
        assert not (clone / t).exists()
    # the parents left empty go too, up to derivatives/dandiset-*
    kept = after_removal(before, TARGETS)
    assert tree_state(clone) == kept
    assert "derivatives/dandiset-000363" in kept  # the dandiset-* directories stay
    assert not (clone / ".dandi-compute" / "delete-journal.jsonl").exists()
    assert all(
        r.authorization == f"token {KEY}" for r in archive.log if r.method == "DELETE"
    )


def test_partial_remote_failure_keeps_the_local_directory_and_a_rerun_finishes(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    env = cli_env(archive, tmp_path)
    bad = under(example_paths(), V1)[1]
    archive.fail("DELETE", archive.asset_ids(DANDISET)[bad], status=403)
    before_v1 = tree_state(clone / V1)
    proc = delete(archive, clone, "--yes", "-f", "json", "-J", "2", env=env)
    assert proc.returncode == 1
    by_path = {r["path"]: r for r in json.loads(proc.stdout)}
    failed = by_path.pop(V1)
    assert failed["status"] == "failed" and failed["local_removed"] is False
    assert [f["path"] for f in failed["failed_assets"]] == [bad]
    assert "HTTP 403" in failed["failed_assets"][0]["error"]
    assert failed["deleted_assets"] == 2
    assert {r["status"] for r in by_path.values()} == {"deleted"}
    assert tree_state(clone / V1) == before_v1
    assert under(archive.paths(DANDISET), V1) == [bad]
    assert (clone / ".dandi-compute" / "delete-journal.jsonl").exists()

    # two of its local files are no longer on the server: the journal says we
    # deleted them, so the re-run finishes instead of refusing
    archive.clear_faults()
    proc = delete(archive, clone, "--yes", "-f", "json", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [(r["path"], r["status"]) for r in json.loads(proc.stdout)] == [
        (V1, "deleted")
    ]
    assert archive.paths(DANDISET) == sorted(kept_paths())
    assert not (clone / V1).exists()
    assert not (clone / ".dandi-compute" / "delete-journal.jsonl").exists()


def test_the_key_never_appears_in_output_or_log(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    archive.fail(
        "DELETE",
        archive.asset_ids(DANDISET)[under(example_paths(), V1)[0]],
        status=500,
        times=1,
    )
    archive.fail(
        "DELETE", archive.asset_ids(DANDISET)[under(example_paths(), V1)[2]], status=403
    )
    env = cli_env(archive, tmp_path)
    args = command(archive, clone, "--yes", "-f", "yaml")
    proc = run_dandi("-l", "DEBUG", *args[1:], env=env)
    assert proc.returncode == 1
    logs = list((tmp_path / "state").rglob("*.log"))
    assert len(logs) == 1
    text = proc.stdout + proc.stderr + logs[0].read_text()
    assert "HTTP 403" in text and "DELETE" in text  # the log is really there
    assert archive.count("DELETE") >= 15
    assert KEY not in text


@pytest.mark.parametrize(
    ("method", "pattern", "status"),
    [
        ("DELETE", r"/assets/[^/]+/$", 403),
        ("DELETE", r"/assets/[^/]+/$", 500),
        ("GET", r"/assets/$", 400),
        ("GET", r"^/api/auth/token/$", 403),
    ],
)
def test_a_server_that_echoes_the_key_cannot_leak_it(
    archive: FakeArchive,
    clone: Path,
    tmp_path: Path,
    method: str,
    pattern: str,
    status: int,
) -> None:
    echo = archive.fail(method, pattern, status=status, echo=True)
    env = dict(cli_env(archive, tmp_path), FAULTS_FAST_RETRIES="100")
    env["PYTHONPATH"] = str(Path(__file__).parents[1] / "faults" / "site")
    args = command(archive, clone, "--yes", "-f", "json")
    proc = run_dandi("-l", "DEBUG", *args[1:], env=env)
    assert proc.returncode == 1, proc.stderr
    assert echo.hits >= 1
    [log] = list((tmp_path / "state").rglob("*.log"))
    text = proc.stdout + proc.stderr + log.read_text()
    assert "Request headers: Authorization: token <redacted>" in text
    assert KEY not in text


def start(cmd: list[str], tmp_path: Path, env: dict) -> subprocess.Popen:
    """Run ``cmd`` in the background, its output in ``tmp_path/out`` and ``err``."""
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
        )


def wait_for_text(path: Path, text: str) -> None:
    """Wait until ``text`` shows up in the file ``path`` (guarded: 120 s)."""
    for _ in range(2400):
        if text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never showed up in {path}")


def _pty_run(
    archive: FakeArchive, clone: Path, env: dict, answer: bytes
) -> tuple[int, str]:
    """Run with a terminal on every standard stream; answer the confirmation."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        command(archive, clone, "-f", "json"),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    seen, answered = b"", False
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                raise AssertionError(f"no output from dandi; so far: {seen!r}")
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(master, answer)
                answered = True
        return proc.wait(timeout=120), seen.decode(errors="replace")
    finally:
        os.close(master)
        proc.kill()


def test_confirmation_on_a_terminal(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    env = cli_env(archive, tmp_path)
    before = tree_state(clone)
    code, text = _pty_run(archive, clone, env, b"n\n")
    assert "Delete 5 version directories of v1.1.1" in text
    assert "15 remote assets" in text and "15 local files" in text
    assert code == 1
    assert '"not confirmed"' in text
    assert_untouched(archive, clone, before)

    code, text = _pty_run(archive, clone, env, b"y\n")
    assert code == 0, text
    assert archive.paths(DANDISET) == sorted(kept_paths())
    assert not any((clone / t).exists() for t in TARGETS)


def test_ctrl_c_stops_new_deletions_and_keeps_local_directories(
    archive: FakeArchive, tmp_path: Path
) -> None:
    paths = many_versions(3, 6)
    clone = seed(archive, tmp_path / "clone", paths)
    before = tree_state(clone)
    # the first two deletions wait until Ctrl-C has been sent; with two targets
    # in flight (two lanes) they may be either target's
    interrupt_sent = archive.fail("DELETE", hold=99, times=2, hold_timeout=60)
    env = cli_env(archive, tmp_path)
    proc = start(
        command(archive, clone, "--yes", "-J", "2", "-f", "json"), tmp_path, env
    )
    try:
        assert archive.accounting.wait_for(lambda: interrupt_sent.hits == 2, 120)
        proc.send_signal(signal.SIGINT)
        wait_for_text(tmp_path / "err", "Interrupted: starting no new deletions")
        archive.accounting.release()
        code = proc.wait(timeout=120)
    finally:
        proc.kill()
    stderr = (tmp_path / "err").read_text()
    assert code == 130, stderr
    records = json.loads((tmp_path / "out").read_text())
    assert len(records) == 3
    assert {r["status"] for r in records} == {"failed"}
    assert all("interrupted" in r["reason"] for r in records)
    # written as each directory ends: the one never started is not the last
    records.sort(key=lambda r: r["reason"] == "interrupted before it started")
    assert [r["reason"] for r in records].count("interrupted before it started") == 1
    assert records[2]["reason"] == "interrupted before it started"
    # the two requests in flight finished, nothing else was sent
    assert sum(r["deleted_assets"] for r in records) == 2
    assert archive.count("DELETE") == 2
    for rec in records:  # each report is what its directory lost on the server
        left = under(archive.paths(DANDISET), rec["path"])
        assert rec["deleted_assets"] == rec["remote_assets"] - len(left)
    for rec in records[:2]:
        assert len(rec["failed_assets"]) == 6 - rec["deleted_assets"]
        assert {f["error"] for f in rec["failed_assets"]} == {"not attempted"}
    assert tree_state(clone, skip=[".dandi-compute"]) == before

    proc = delete(archive, clone, "--yes", "-f", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert {r["status"] for r in json.loads(proc.stdout)} == {"deleted"}
    assert archive.paths(DANDISET) == sorted(
        p for p in paths if "/version-v1.1.1/" not in p
    )


def test_verify_names_content_that_differs_and_takes_only_its_choices(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    changed = clone / TARGETS[0] / "params-98fd947_config-6568dda_attempt-1"
    [victim] = [p for p in changed.rglob("*") if p.is_file()][:1]
    victim.write_bytes(victim.read_bytes()[::-1])  # same size, other bytes
    env = cli_env(archive, tmp_path, key=None)
    proc = delete(archive, clone, "--dry-run", env=env)
    assert proc.returncode == 1, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if TARGETS[0] in x)
    assert line.startswith("refused ") and "content differs from the archive's" in line
    weaker = delete(archive, clone, "--dry-run", "--verify", "size", env=env)
    assert weaker.returncode == 0, weaker.stderr
    bad = delete(archive, clone, "--dry-run", "--verify", "mtime", env=env)
    assert bad.returncode == 2 and "--verify" in bad.stderr


def test_ctrl_c_twice_does_not_wait_for_the_requests_in_flight(
    archive: FakeArchive, tmp_path: Path
) -> None:
    paths = many_versions(3, 6)
    clone = seed(archive, tmp_path / "clone", paths)
    before = tree_state(clone)
    hanging = archive.fail("DELETE", hold=99, times=2, hold_timeout=120)
    env = cli_env(archive, tmp_path)
    proc = start(
        command(archive, clone, "--yes", "-J", "2", "-f", "json"), tmp_path, env
    )
    try:
        assert archive.accounting.wait_for(lambda: hanging.hits == 2, 120)
        proc.send_signal(signal.SIGINT)
        wait_for_text(tmp_path / "err", "Interrupted: starting no new deletions")
        proc.send_signal(signal.SIGINT)
        # the held DELETEs are let go after 120 s: a run that waited for them
        # would not have ended within this wait
        code = proc.wait(timeout=60)
        answered = archive.count("DELETE")
    finally:
        proc.kill()
        archive.accounting.release()
    stderr = (tmp_path / "err").read_text()
    assert code == 130, stderr
    assert answered == 0  # the run ended with both held, unanswered
    records = json.loads((tmp_path / "out").read_text())
    assert [r["status"] for r in records] == ["failed"] * 3
    assert sum("abandoned" in r["reason"] for r in records) >= 1
    assert tree_state(clone, skip=[".dandi-compute"]) == before

    proc = delete(archive, clone, "--yes", "-f", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert archive.paths(DANDISET) == sorted(
        p for p in paths if "/version-v1.1.1/" not in p
    )


def test_ctrl_c_while_planning_exits_130_at_once(
    archive: FakeArchive, tmp_path: Path
) -> None:
    clone = seed(archive, tmp_path / "clone", many_versions(3, 2))
    before = tree_state(clone)
    listing = archive.fail("GET", r"/assets/$", hold=99, times=1, hold_timeout=120)
    env = cli_env(archive, tmp_path)
    proc = subprocess.Popen(
        command(archive, clone, "--yes", "-f", "json"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert archive.accounting.wait_for(lambda: listing.hits == 1, 120)
        proc.send_signal(signal.SIGINT)
        # "at once": it does not wait for the held listing (held 99 s, released
        # only below); the bound is generous so that a loaded machine passes
        out, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
        archive.accounting.release()
    assert proc.returncode == 130, err
    assert b"Interrupted before anything was changed" in err
    assert b"Traceback" not in err
    assert archive.count("DELETE") == 0
    assert tree_state(clone, skip=[".dandi-compute"]) == before
    assert not (clone / ".dandi-compute" / "delete-journal.jsonl").exists()


def test_control_characters_in_names_cannot_forge_report_lines(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    forged = "x\ndeleted derivatives\\dandiset-000233\\FAKE\x1b[2J"
    (clone / TARGETS[0] / forged).write_text("not uploaded")
    proc = delete(archive, clone, "--dry-run", env=cli_env(archive, tmp_path, key=None))
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(TARGETS)
    assert all(line.split(" ", 1)[0] in ("planned", "refused") for line in lines)
    assert "x\\ndeleted derivatives\\\\dandiset-000233\\\\FAKE\\x1b[2J" in proc.stdout


def test_nothing_waits_forever_for_the_server(
    archive: FakeArchive, tmp_path: Path
) -> None:
    paths = many_versions(3, 2)
    clone = seed(archive, tmp_path / "clone", paths)
    targets = sorted({p.split("/params-")[0] for p in paths if "v1.1.1/" in p})
    # one DELETE (of the first target: whichever the workers send first) and
    # one listing (the second target's check) never answered
    first = next(p for p in paths if p.startswith(targets[0] + "/"))
    held = archive.asset_ids(DANDISET)[first]
    archive.fail("DELETE", re.escape(held), hold=99, times=1, hold_timeout=120)
    archive.fail(
        "GET",
        r"/assets/$",
        query=re.escape(f"path={targets[1]}/"),
        hold=99,
        hold_timeout=120,
    )
    env = cli_env(archive, tmp_path, DANDI_COMPUTE_TIMEOUT="1")
    try:
        proc = delete(archive, clone, "--yes", "-f", "json", env=env)
        # the held requests are let go after 120 s, answered as usual: the run
        # ended before, with both still held
        held_when_done = archive.count("DELETE", re.escape(held))
    finally:
        archive.accounting.release()
    assert proc.returncode == 1, proc.stderr
    assert held_when_done == 0, "the run waited for the held DELETE"
    records = {r["path"]: r for r in json.loads(proc.stdout)}
    assert records[targets[1]]["status"] == "failed"
    assert "cannot confirm the remote deletion" in records[targets[1]]["reason"]
    assert "timed out" in records[targets[1]]["reason"]
    failed = records[targets[0]]
    assert failed["status"] == "failed"
    assert [f["path"] for f in failed["failed_assets"]] == [first]
    assert "timed out" in failed["failed_assets"][0]["error"]
    archive.clear_faults()
    again = delete(archive, clone, "--yes", "-f", "json", env=env)
    assert again.returncode == 0, again.stderr
    assert archive.paths(DANDISET) == sorted(p for p in paths if "v1.1.1/" not in p)


def _hanging_up_server() -> tuple[socket.socket, list[int]]:
    """A server on 127.0.0.1 that closes every connection unanswered; the list
    counts the connections it took."""
    server = socket.create_server(("127.0.0.1", 0))
    taken: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed: the test is over
                return
            taken.append(1)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server, taken


@pytest.mark.parametrize("how", ["nothing-listens", "hangs-up"])
def test_an_archive_that_cannot_be_reached_ends_the_run_at_once(
    archive: FakeArchive, clone: Path, tmp_path: Path, how: str
) -> None:
    """One attempt, then one Error: line (dandi's own client would retry a dead
    connection for about a minute: a dozen connections to a server that hangs up)."""
    if how == "hangs-up":
        server, taken = _hanging_up_server()
    else:
        server, taken = socket.socket(), []
        server.bind(("127.0.0.1", 0))  # bound, not listening: refused
    port = server.getsockname()[1]
    with server:
        proc = run_dandi(
            "compute", "delete-version", str(clone), "v1.1.1", "--dry-run",
            "-i", f"http://127.0.0.1:{port}",
            env=cli_env(archive, tmp_path, key=None),
        )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert len(taken) == (1 if how == "hangs-up" else 0)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and f"127.0.0.1:{port}" in errors[0]
    assert "Nothing was changed" in errors[0] and "Traceback" not in proc.stderr


def test_progress_on_a_terminal_then_the_report(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    code, text = _pty_run(archive, clone, cli_env(archive, tmp_path), b"y\n")
    assert code == 0, text
    planning, deleting = text.find("Planning:"), text.find("Deleting:")
    assert 0 <= planning < text.find("[y/N]") < deleting, text
    assert "/15 [" in text and "asset" in text and "of 5 directories" in text
    report = text.rindex('"status": "deleted"')
    assert deleting < report and text.count('"status": "deleted"') == 5


def test_records_stream_in_a_pipe_before_the_run_ends(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    last = sorted(TARGETS)[-1]
    ids = [
        i for p, i in archive.asset_ids(DANDISET).items() if p.startswith(last + "/")
    ]
    held = archive.fail("DELETE", "|".join(ids), hold=99, hold_timeout=120)
    env = cli_env(archive, tmp_path)
    proc = start(
        command(archive, clone, "--yes", "-J", "2", "-f", "json_lines"), tmp_path, env
    )
    try:
        wait_for_text(tmp_path / "out", '"status": "deleted"')
        assert proc.poll() is None  # the last directory's deletions still wait
        streamed = (tmp_path / "out").read_text().count("\n")
        archive.accounting.release()
        assert proc.wait(timeout=120) == 0, (tmp_path / "err").read_text()
    finally:
        proc.kill()
    assert held.hits == len(ids) == 3  # the last directory's were held meanwhile
    assert 1 <= streamed < 5
    records = [json.loads(x) for x in (tmp_path / "out").read_text().splitlines()]
    assert sorted(r["path"] for r in records) == sorted(TARGETS)
    err = (tmp_path / "err").read_text()
    assert "%|" not in err and "Deleting" not in err  # no bars in a pipe


def test_every_report_field_and_the_prompt_totals(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    remote = {p: asset_record(p)["contentSize"] for p in example_paths()}
    env = cli_env(archive, tmp_path)
    proc = delete(archive, clone, "--dry-run", "-f", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    for rec in json.loads(proc.stdout):
        target = rec["path"]
        local = [f for f in (clone / target).rglob("*") if f.is_file()]
        mine = {p: s for p, s in remote.items() if p.startswith(target + "/")}
        parts = target.split("/")
        assert rec["dandiset"] == parts[1].removeprefix("dandiset-")
        assert rec["version"] == parts[-1].removeprefix("version-")
        assert rec["local_files"] == len(local)
        assert rec["local_bytes"] == sum(f.stat().st_size for f in local)
        assert rec["remote_assets"] == len(mine)
        assert rec["remote_bytes"] == sum(mine.values())
        assert (rec["status"], rec["deleted_assets"], rec["local_removed"]) == (
            "planned",
            0,
            False,
        )
        assert rec["unuploaded"] == [] and rec["unuploaded_count"] == 0
    code, text = _pty_run(archive, clone, env, b"n\n")
    total_remote = sum(
        s for p, s in remote.items() if any(p.startswith(t + "/") for t in TARGETS)
    )
    total_local = sum(
        f.stat().st_size for t in TARGETS for f in (clone / t).rglob("*") if f.is_file()
    )
    remote_text = re.search(r"15 remote assets \(([^)]*)\)", text)
    local_text = re.search(r"15 local files \(([^)]*)\)", text)
    assert remote_text and remote_text.group(1).endswith(f"{total_remote} bytes")
    assert local_text and local_text.group(1).endswith(f"{total_local} bytes")
    assert code == 1


def test_lines_in_a_pipe_while_the_bars_are_on_the_terminal(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    import pty

    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            command(archive, clone, "--yes"),
            stdout=subprocess.PIPE,
            stderr=secondary,
            stdin=subprocess.DEVNULL,
            env=cli_env(archive, tmp_path),
            timeout=300,
        )
        os.close(secondary)
        secondary = -1
        tty = b""
        while select.select([primary], [], [], 1)[0]:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            tty += chunk
    finally:
        os.close(primary)
        if secondary != -1:
            os.close(secondary)
    assert proc.returncode == 0, tty
    lines = proc.stdout.decode().splitlines()
    assert sorted(lines) == sorted(f"deleted {t}" for t in TARGETS)
    assert b"Deleting:" in tty and b"deleted derivatives/" not in tty


def test_the_prompt_shows_the_plan(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    refused = TARGETS[0]
    (clone / refused / "not-uploaded.txt").write_text("only here")
    env = cli_env(archive, tmp_path)
    code, text = _pty_run(archive, clone, env, b"n\n")
    assert code == 1
    question = text.index("[y/N]")
    shown = text[:question]
    assert "To delete (4):" in shown and "Kept (1):" in shown
    for target in TARGETS[1:]:
        assert re.search(re.escape(target) + r": 3 remote assets \(\d+ Bytes\)", shown)
    assert re.search(re.escape(refused) + r": refused: 1 local file\(s\) not on", shown)
    assert "not-uploaded.txt" in shown


def test_the_table_on_an_80_column_terminal_with_the_bars(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    """-f auto on a real 80-column terminal, the bars on: one row per directory
    within 80 columns, each starting with its dandiset and showing its status
    and version; the refused one's reason under it; one summary at the end."""
    import fcntl
    import pty
    import struct
    import termios

    refused = TARGETS[0]
    (clone / refused / "not-uploaded.txt").write_text("only here")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**cli_env(archive, tmp_path), "COLUMNS": "80"}
    proc = subprocess.Popen(
        command(archive, clone), stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    seen, answered = b"", False
    try:
        while select.select([master], [], [], 120)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(master, b"y\n")
                answered = True
        assert proc.wait(timeout=120) == 1
    finally:
        os.close(master)
        proc.kill()
    text = seen.decode()
    after = text[text.index("[y/N]") :]
    lines = [
        piece
        for line in after.replace("\r\n", "\n").split("\n")
        for piece in line.split("\r")
        if piece.strip() and not piece.startswith("Deleting")
    ]
    rows = [line for line in lines if re.match(r"\d{6}/", line)]
    assert len(rows) == len(TARGETS) and all(len(r) <= 80 for r in rows), lines
    for target in TARGETS:
        dandiset = target.split("/")[1].removeprefix("dandiset-")
        version = target.rsplit("/version-", 1)[1]
        (row,) = [r for r in rows if r.startswith(dandiset + "/")]
        status = "refused" if target == refused else "deleted"
        assert f" {status} " in row and version[:6] in row, row
    under = lines[lines.index(next(r for r in rows if " refused " in r)) + 1]
    assert under.startswith("    1 local file(s) not on the server"), lines
    assert len(re.findall(r"version directories: 4 deleted, 1 refused", text)) == 1
    known = (
        r"\[y/N\]: y$",  # the answer echoed
        r"PATH +STATUS +ASSETS +SIZE +FILES$",  # the header, whole
        r"\d{6}/",  # a row
        r"    \S",  # a reason under its row
        r"5 version directories: 4 deleted, 1 refused$",  # the summary
        r"The draft's manifest",
        r"\d{4}-\d\d-\d\d [\d:,]+ \[ +INFO\] Logs saved in ",
    )
    stray = [ln for ln in lines if not any(re.match(k, ln) for k in known)]
    assert stray == [], stray  # nothing else reached the terminal


def test_the_prompt_lists_twenty_directories_of_each_kind_then_the_rest(
    archive: FakeArchive, tmp_path: Path
) -> None:
    """45 directories, 23 of them holding a file the archive lacks: the prompt
    names 20 to delete and 20 kept, each with its sizes or reason, then how many
    more of each; nothing is deleted on 'n'."""
    paths = many_versions(45, 1)
    clone = seed(archive, tmp_path / "clone", paths)
    top = "/version-v1.1.1"
    dirs = sorted({p.split(top + "/")[0] + top for p in paths if top + "/" in p})
    refused = dirs[:23]
    for d in refused:
        (clone / d / "not-uploaded.txt").write_text("only here")
    code, text = _pty_run(archive, clone, cli_env(archive, tmp_path), b"n\n")
    assert code == 1
    shown = text[: text.index("[y/N]")]
    lines = shown.replace("\r\n", "\n").split("\n")
    to_delete = [ln for ln in lines if re.match(r"  \S+: 1 remote assets \(", ln)]
    kept = [ln for ln in lines if re.match(r"  \S+: refused: 1 local file", ln)]
    assert "To delete (22):" in shown and "Kept (23):" in shown
    assert len(to_delete) == 20 and len(kept) == 20
    assert all(ln.split(":")[0].strip() in dirs[23:] for ln in to_delete)
    assert all(ln.split(":")[0].strip() in refused for ln in kept)
    assert lines.count("  ... and 2 more") == 1 and lines.count("  ... and 3 more") == 1
    assert archive.count("DELETE") == 0
