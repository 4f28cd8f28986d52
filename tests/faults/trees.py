"""What the local fault and bad-input cases share: the paths of their version
directories and files, their report by directory, and the mounts some need."""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import subprocess
from typing import Any

import pytest

from ..records import version_files

#: the files of each version directory of these cases
NAMES = ("code/run.sh", "output/a.json", "output/b.json")


def vdir(sub: str, version: str = "v1.1.1", ds: str = "000001") -> str:
    """The version directory of subject ``sub`` (pipeline ``aind+ephys``)."""
    return f"derivatives/dandiset-{ds}/sub-{sub}/pipeline-aind+ephys/version-{version}"


def files(sub: str, version: str = "v1.1.1", ds: str = "000001") -> list[str]:
    """The files (:data:`NAMES`) of :func:`vdir`."""
    return version_files(ds, sub, version, names=NAMES)


def statuses(report: Any) -> dict[str, str]:
    """``{directory: status}`` of a deletion report."""
    return {r.target.relpath: r.status.value for r in report.results}


def records(report: Any) -> dict[str, dict]:
    """``{directory: record}`` of a deletion report, as the command prints them."""
    return {r["path"]: r for r in report.as_records()}


def mount(*args: str, target: Path, what: str) -> None:
    """``mount ARGS TARGET``; the test is skipped where that cannot be done
    (not root, no mount(8), a container that forbids it)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip(f"needs root and mount(8) for {what}")
    done = subprocess.run(["mount", *args, str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount {what} here: {done.stderr.decode().strip()}")


def bind_mount(source: Path, target: Path) -> None:
    """Show ``source`` at ``target`` (see :func:`mount`)."""
    mount("--bind", str(source), target=target, what="a bind mount")


def unmount(target: Path) -> None:
    subprocess.run(["umount", str(target)], check=True)
