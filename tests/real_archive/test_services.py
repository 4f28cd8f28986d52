"""The archive's servers stop with what started them: ``python -m
tests.real_archive.services`` (for trying ``dandi`` by hand) stopped by Ctrl-C or
SIGTERM, and a test run terminated (SIGTERM) while it uses them."""

from __future__ import annotations

import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest

from ..subprocesses import REPO
from .install import find_source


def refused(url: str) -> bool:
    """Nothing listens at the URL's host and port any more."""
    parts = urlsplit(url)
    with socket.socket() as s:
        s.settimeout(5)
        return s.connect_ex((parts.hostname, parts.port)) != 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_the_servers_stop_with_the_command(signum: int, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONUNBUFFERED"] = "1"
    run = subprocess.Popen(
        [sys.executable, "-m", "tests.real_archive.services"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "stderr").open("wb"),
        text=True,
    )
    try:
        said = {}
        for line in run.stdout:
            name, _, value = line.strip().partition(": ")
            said[name] = value
            if name == "logs":
                break
        assert "api" in said, (tmp_path / "stderr").read_text()[-2000:]
        assert not refused(said["api"]) and not refused(said["manifests"])
        run.send_signal(signum)
        assert run.wait(timeout=120) == 0, (tmp_path / "stderr").read_text()[-2000:]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (
        refused(said["api"]) and refused(said["manifests"])
    ):
        time.sleep(0.2)
    assert refused(said["api"]) and refused(said["manifests"])


HOLDER = """
import json, os, time
from pathlib import Path

def test_hold(real_archive):
    urls = [real_archive.api_url, real_archive.manifest_url_template]
    Path(os.environ["HOLD_FILE"]).write_text(json.dumps(urls))
    time.sleep(300)
"""


def test_a_terminated_test_run_stops_the_servers(tmp_path: Path) -> None:
    """SIGTERM to a test run using the archive (a CI time limit) goes through
    the fixture's teardown: the servers stop with it."""
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "conftest.py").write_text(
        "from tests.real_archive.conftest import real_archive  # noqa: F401\n"
    )
    (inner / "test_hold.py").write_text(HOLDER)
    hold = tmp_path / "urls.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(REPO), HOLD_FILE=str(hold))
    env.setdefault("DANDI_ARCHIVE_SRC", str(find_source(REPO)))
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
        + ["test_hold.py"],
        cwd=inner,
        env=env,
        stdout=(tmp_path / "out").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        while not hold.exists():
            assert run.poll() is None, (tmp_path / "out").read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(0.2)  # the file's whole text
        api, manifests = json.loads(hold.read_text())
        assert not refused(api) and not refused(manifests)
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert refused(api) and refused(manifests), (tmp_path / "out").read_text()[-3000:]
