"""Without the real archive's source, its suite is one skipped test saying how to
run it (the others deselected), whatever the machine holds."""

from __future__ import annotations

import re
import subprocess
import sys

from .subprocesses import REPO, subprocess_env


def test_without_the_source_one_line_says_how_to_run_the_suite(tmp_path) -> None:
    env = subprocess_env(DANDI_ARCHIVE_SRC=str(tmp_path / "absent"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs"]
        + ["tests/real_archive"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    match = re.search(r"1 skipped, (\d+) deselected", summary)
    assert match and int(match.group(1)) > 10, summary
    (reason,) = [line for line in done.stdout.splitlines() if "SKIPPED" in line]
    assert "DANDI_ARCHIVE_SRC" in reason and "tox -e integration" in reason
