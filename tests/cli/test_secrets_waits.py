"""The real ``dandi compute`` against a fake archive that echoes the key, drips,
asks to wait a day or fails: the key in no output and no log file, every run
within its bound, one line per failure, standard error escaped."""

from __future__ import annotations

from collections import Counter
import os
from pathlib import Path
import select
import subprocess
import sys
import termios

from dandi.consts import REQUEST_RETRIES
import pytest

from ..archive import FakeArchive
from ..archive.clones import KEY, seed
from ..archive.faults import Fault
from ..archive.fixtures import cli_env
from ..records import example_paths
from ..subprocesses import dandi_executable, run_dandi

pytestmark = pytest.mark.timeout(300)

V = "v1.1.1"


@pytest.fixture
def clone(archive: FakeArchive, tmp_path: Path) -> Path:
    return seed(archive, tmp_path / "clone", example_paths())


def delete(archive: FakeArchive, clone: Path, *args: str) -> list[str]:
    return ["compute", "delete-version", str(clone), V, "-i", archive.url, *args]


def log_text(home: Path) -> str:
    """dandi's log file of the one run whose HOME is ``home``."""
    [log] = list((home / "state").rglob("*.log"))
    return log.read_text()


def assert_given_up(archive: FakeArchive, fault: Fault) -> None:
    """Every answer ``fault`` held back (delayed, dripped) was given up by the
    client: it hung up before the answer was whole, and the run ended (a run
    that waited for them would meet ``run_dandi``'s timeout first)."""
    assert fault.hits >= 1
    assert archive.accounting.wait_for(lambda: fault.cut == fault.hits, 60), (
        f"{fault.hits} answers held back, {fault.cut} given up by the client"
    )


def test_persistent_500_is_quiet_and_bounded(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    """A directory whose deletions all get 500: no retry lines, no traceback,
    no ERROR from dandi on the terminal; the retries in dandi's log file."""
    archive.fail("DELETE", status=500)
    env = cli_env(archive, tmp_path)
    proc = run_dandi(*delete(archive, clone, "--yes", "--timeout", "3"), env=env)
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr
    assert "Will retry" not in err and "Traceback" not in err, err
    assert "again in" not in err and "[   ERROR]" not in err, err
    # the summary, dandi's "Logs saved in", nothing per request
    assert len(err.strip().splitlines()) <= 3, err
    assert "again in" in log_text(tmp_path)  # the retries, in the log file
    failed = [ln for ln in proc.stdout.splitlines() if ln.startswith("failed ")]
    assert len(failed) == 5 and all("could not be deleted" in ln for ln in failed)
    # each deletion within its 3 s: dandi's back-off leaves room for three
    # attempts (1.25 s, then 1.56 s of waits); dandi's own loop makes a dozen
    attempts = Counter(r.path for r in archive.log if r.method == "DELETE")
    assert len(attempts) == 15 and max(attempts.values()) <= 3 < REQUEST_RETRIES


def test_a_hanging_listing_fails_each_directory_without_a_traceback(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    hanging = archive.fail("GET", r"/assets/$", delay=250)
    env = cli_env(archive, tmp_path)
    proc = run_dandi(*delete(archive, clone, "--dry-run", "--timeout", "3"), env=env)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "HTTP connection failed" not in (
        proc.stderr
    )
    failed = [ln for ln in proc.stdout.splitlines() if ln.startswith("failed ")]
    assert len(failed) == 5 and all("3 s timeout" in ln for ln in failed), failed
    assert_given_up(archive, hanging)


def test_a_retry_after_of_a_day_fails_at_once_naming_it(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    archive.fail("GET", r"/assets/$", status=429, retry_after="86400")
    env = cli_env(archive, tmp_path)
    # a day to wait, or the 1000 s of the timeout: either meets the 300 s of
    # run_dandi's timeout
    proc = run_dandi(*delete(archive, clone, "--dry-run", "--timeout", "1000"), env=env)
    assert proc.returncode == 1, proc.stderr
    assert "Retry-After: 86400" in proc.stdout, proc.stdout
    assert archive.count("GET", r"/assets/$") == 1


def test_dripping_headers_end_within_the_timeout(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    # 2,000 s for the headers: run_dandi's timeout would come first
    dripping = archive.fail("GET", r"/assets/$", drip_head=0.2)
    env = cli_env(archive, tmp_path)
    proc = run_dandi(*delete(archive, clone, "--dry-run", "--timeout", "3"), env=env)
    assert proc.returncode == 1, proc.stderr
    assert "3 s timeout" in proc.stdout
    assert_given_up(archive, dripping)


@pytest.mark.parametrize("ending", ["\r", "\n", " ", "\t"])
def test_a_key_with_a_line_end_or_space_is_refused_unsent(
    archive: FakeArchive, clone: Path, tmp_path: Path, ending: str
) -> None:
    env = cli_env(archive, tmp_path, key=KEY + ending)
    proc = run_dandi("-l", "DEBUG", *delete(archive, clone, "--yes"), env=env)
    assert proc.returncode == 1, proc.stderr
    assert "Error: The API key from the" in proc.stderr
    assert f"at character {len(KEY) + 1} of {len(KEY) + 1}" in proc.stderr
    text = proc.stdout + proc.stderr + log_text(tmp_path)
    assert KEY not in text
    assert all(r.authorization is None for r in archive.log)
    assert archive.count("DELETE") == 0


@pytest.mark.parametrize("pad", [0, 150, 170, 190, 230])
def test_an_echo_straddling_any_cut_stays_out_of_the_report_and_log(
    archive: FakeArchive, clone: Path, tmp_path: Path, pad: int
) -> None:
    """The key around character 200 of the server's answer, where the quote is
    cut: not a character of it in the report (JSON) or the log file."""
    archive.fail("DELETE", status=403, echo=True, echo_pad=pad)
    env = cli_env(archive, tmp_path)
    proc = run_dandi(*delete(archive, clone, "--yes", "-f", "json"), env=env)
    assert proc.returncode == 1
    text = proc.stdout + proc.stderr + log_text(tmp_path)
    assert KEY not in text
    assert KEY[: len(KEY) // 2] not in text and KEY[len(KEY) // 2 :] not in text


#: a real keyring backend (a file under XDG_DATA_HOME), installed with dandi
PLAINTEXT_KEYRING = "keyrings.alt.file.PlaintextKeyring"


@pytest.mark.parametrize("ending", ["", "\r"])
def test_a_key_from_the_keyring_is_redacted_before_it_is_sent(
    archive: FakeArchive, clone: Path, tmp_path: Path, ending: str
) -> None:
    """A key found in the keyring (no variable): the server rejects it with a
    401 echoing it -- or, with a line end, it is refused unsent; not a
    character of it in the output or the log file."""
    stored = "kr-7f3e9a2b5150d4c6" + ending
    env = cli_env(archive, tmp_path, key=None)
    env["PYTHON_KEYRING_BACKEND"] = PLAINTEXT_KEYRING
    service = f"dandi-api-{archive.instance_name}"
    code = f"import keyring; keyring.set_password({service!r}, 'key', {stored!r})"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    echo = archive.fail("GET", r"^/api/auth/token/$", status=401, echo=True)
    proc = run_dandi("-l", "DEBUG", *delete(archive, clone, "--yes"), env=env)
    assert proc.returncode == 1, proc.stderr
    text = proc.stdout + proc.stderr + log_text(tmp_path)
    if ending:
        assert "from the keyring" in proc.stderr and "a line end" in proc.stderr
        assert all(r.authorization is None for r in archive.log)
    else:
        assert "was rejected" in proc.stderr and echo.hits == 1, proc.stderr
        assert "<redacted>" in text  # the echo arrived, and was logged redacted
    assert stored.strip() not in text and stored.strip()[3:] not in text
    assert archive.count("DELETE") == 0


FORGED = "version-v1.1.1+link\x1b[31m\nFORGED-WARNING"


@pytest.mark.parametrize("fmt", ["auto", "json", "json_lines", "yaml"])
@pytest.mark.parametrize("command", ["scan-versions", "delete-version"])
def test_a_forged_link_name_reaches_standard_error_escaped(
    archive: FakeArchive, clone: Path, tmp_path: Path, fmt: str, command: str
) -> None:
    parent = clone / (
        "derivatives/dandiset-000233/sub-CGM3/ses-CGM3/pipeline-aind+ephys"
    )
    (parent / FORGED).symlink_to("version-v1.1.1+b268fd2")
    args = ["compute", command, str(clone), V, "-f", fmt]
    if command == "delete-version":
        args += ["-i", archive.url, "--dry-run"]
    proc = run_dandi(*args, env=cli_env(archive, tmp_path))
    assert "Not following the symbolic link" in proc.stderr, proc.stderr
    assert "\x1b" not in proc.stderr
    assert not any(ln.startswith("FORGED") for ln in proc.stderr.splitlines())
    assert "\\x1b[31m\\nFORGED-WARNING" in proc.stderr


def test_bidirectional_overrides_in_names_reach_no_output_raw(
    archive: FakeArchive, clone: Path, tmp_path: Path
) -> None:
    """A right-to-left override (U+202E) or isolate (U+2066) in a name would
    make the terminal show the line's characters in another order: escaped on
    standard output (a version directory) and standard error (a link)."""
    parent = clone / (
        "derivatives/dandiset-000233/sub-CGM3/ses-CGM3/pipeline-aind+ephys"
    )
    (parent / "version-v1.1.1+\u202egnp.exe").mkdir()
    (parent / "version-v1.1.1+link\u2066x").symlink_to("version-v1.1.1+b268fd2")
    proc = run_dandi(
        "compute", "scan-versions", str(clone), V, env=cli_env(archive, tmp_path)
    )
    assert proc.returncode == 0, proc.stderr
    assert "\u202e" not in proc.stdout and "\u2066" not in proc.stderr
    assert "version-v1.1.1+\\u202egnp.exe" in proc.stdout, proc.stdout
    assert "version-v1.1.1+link\\u2066x" in proc.stderr, proc.stderr


def _no_echo(fd: int) -> None:
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~termios.ECHO  # lflag: the typed key is not shown back
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


@pytest.mark.parametrize("typed", ["zq9w7v-5150", "zq9 w7v-5150"])
def test_a_key_typed_at_the_prompt_is_redacted_before_it_is_sent(
    archive: FakeArchive, clone: Path, tmp_path: Path, typed: str
) -> None:
    """dandi's own prompt on a terminal (no variable, no keyring): the server
    rejects the typed key with a 401 echoing it -- or, with a space, the key is
    refused unsent; not a character of it on the terminal or in the log file."""
    import pty

    echo = archive.fail("GET", r"^/api/auth/token/$", status=401, echo=True)
    env = cli_env(archive, tmp_path, key=None)
    primary, secondary = pty.openpty()
    _no_echo(secondary)
    proc = subprocess.Popen(
        [dandi_executable(), "-l", "DEBUG", *delete(archive, clone)],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        close_fds=True,
    )
    os.close(secondary)
    seen, answers = b"", [(b"API Key", typed.encode()), (b"enter another", b"n")]
    try:
        while True:
            ready, _, _ = select.select([primary], [], [], 60)
            if not ready:
                raise AssertionError(f"no output from dandi; so far: {seen!r}")
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if answers and answers[0][0] in seen:
                os.write(primary, answers.pop(0)[1] + b"\n")
        code = proc.wait(timeout=60)
    finally:
        os.close(primary)
        proc.kill()
    terminal = seen.decode(errors="replace")
    log = log_text(tmp_path)
    assert code == 1, terminal
    if " " in typed:
        assert "holds white space at character 4 of 12" in terminal, terminal
        assert all(r.authorization is None for r in archive.log)
    else:
        assert not answers, terminal  # both questions were asked
        assert "was rejected" in terminal and echo.hits >= 1, terminal
        assert "<redacted>" in log  # the echo arrived, and was logged redacted
    for part in typed.split():
        assert part not in terminal + log
    assert typed not in terminal + log
    assert archive.count("DELETE") == 0


def test_a_manifest_whose_headers_drip_in_ends_within_the_timeout(
    archive: FakeArchive, tmp_path: Path
) -> None:
    dripping = archive.fail("GET", r"^/assets\.jsonld$", drip_head=0.2)
    env = cli_env(archive, tmp_path, DANDI_COMPUTE_CACHE_DIR=str(tmp_path / "cache"))
    args = ["compute", "index", "--source", archive.url + "/assets.jsonld"]
    proc = run_dandi(*args, "--timeout", "2", "--no-cache", env=env)
    assert proc.returncode == 1, proc.stderr
    assert "no status line and headers within 2 s" in proc.stderr, proc.stderr
    assert_given_up(archive, dripping)
