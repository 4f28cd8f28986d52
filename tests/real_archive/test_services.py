"""``python -m tests.real_archive.services`` (the archive for trying ``dandi`` by
hand) stops its servers when stopped itself, by Ctrl-C or by SIGTERM."""

from __future__ import annotations

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
