"""Benchmark the table on a terminal against the lines into a pipe.

Builds a clone with ``--rows`` directories of one version (for ``scan-versions``)
and ``--rows`` versions of one pipeline (for ``versions``), then runs each command
as users run it (the real ``dandi``) with its standard output on an 80-column
pseudo-terminal (``-f auto``: the table) and into a pipe (``-f auto``: one line a
record), and prints the median wall times and their ratio.

Goal: the terminal within 3x of the pipe for both commands.

Usage: ``python benchmarks/bench_terminal.py [--rows 8000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import fcntl
import os
from pathlib import Path
import pty
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time

GOAL = 3.0


def build(root: Path, rows: int) -> None:
    """``rows`` directories of v1.1.1 (nested), and ``rows`` versions of pipeline q."""
    top = root / "derivatives" / "dandiset-000001"
    for i in range(rows):
        session = top / f"sub-{i // 10:05d}" / f"ses-{i:06d}"
        (session / "pipeline-p" / "version-v1.1.1").mkdir(parents=True)
    for i in range(rows):
        (top / "sub-versions" / "pipeline-q" / f"version-v1.{i}.0").mkdir(parents=True)
    (root / "dandiset.yaml").write_text("identifier: DANDI:000001\n")


def on_a_terminal(args: list[str]) -> float:
    """Wall time of the command with standard output on an 80-column terminal
    (read as it comes), standard error discarded."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, stdout=secondary, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    os.close(secondary)
    while True:
        try:
            if not os.read(primary, 65536):
                break
        except OSError:  # EIO: the command closed the terminal
            break
    proc.wait()
    elapsed = time.perf_counter() - started
    os.close(primary)
    if proc.returncode:
        raise SystemExit(f"{args} exited {proc.returncode}")
    return elapsed


def into_a_pipe(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    dandi = str(Path(sys.executable).with_name("dandi"))
    root = Path(tempfile.mkdtemp(prefix="bench-terminal-"))
    met = True
    try:
        build(root, args.rows)
        for command in (
            ["scan-versions", str(root), "v1.1.1"],
            ["versions", str(root)],
        ):
            line = [dandi, "compute", *command]
            tty = statistics.median(on_a_terminal(line) for _ in range(args.repeat))
            pipe = statistics.median(into_a_pipe(line) for _ in range(args.repeat))
            met &= tty <= GOAL * pipe
            print(
                f"{command[0]:14} {args.rows:,} rows: terminal {tty:.2f} s, "
                f"pipe {pipe:.2f} s, {tty / pipe:.2f}x (goal <= {GOAL})"
            )
        return 0 if met else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
