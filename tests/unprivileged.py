"""Running a command as an ordinary user would, also when the tests run as root.

Root reads every directory whatever its permissions, so a test of an unreadable
directory would prove nothing under root (CI runs as root).  Dropping the two
capabilities that grant this from the bounding set, then exec'ing, gives a process
that honours permissions on files it does not own -- and root still owns the test's
tree, so the test can restore the permissions afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

#: run a command without the capabilities that let root read any directory
DROP_DAC = """\
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    if libc.prctl(24, cap, 0, 0, 0):  # PR_CAPBSET_DROP
        sys.exit("prctl: " + os.strerror(ctypes.get_errno()))
os.execv(sys.argv[1], sys.argv[1:])
"""


def unprivileged(cmd: list[str]) -> list[str]:
    """``cmd`` as it runs for an ordinary user: unchanged, except under root,
    where it first drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH."""
    if os.geteuid() != 0:
        return cmd
    return [sys.executable, "-c", DROP_DAC, *cmd]


def can_be_locked_out(directory: Path) -> bool:
    """Whether an :func:`unprivileged` process fails to list ``directory``
    (made unreadable by the caller)."""
    probe = subprocess.run(
        unprivileged(
            [
                sys.executable,
                "-c",
                "import os,sys; os.listdir(sys.argv[1])",
                str(directory),
            ]
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode == 0:
        return False
    assert "PermissionError" in probe.stderr, probe.stderr
    return True
