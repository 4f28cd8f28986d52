"""Benchmark ``dandi compute delete-version``: ``--jobs 1`` against ``--jobs 8``.

Seeds the fake DANDI Archive of the tests (``tests/archive``, on 127.0.0.1) with
1,000 assets in 20 version directories of v1.1.1 (50 each) plus assets of another
version, builds the matching clone, adds 20 ms to every request, and runs the real
``dandi`` executable (dandi's own client, unpatched) with ``--jobs 1`` and
``--jobs 8`` in the same run, on fresh copies.  Each run must delete all 20
directories and all 1,000 assets and leave the rest alone.

Goal: ``--jobs 8`` at least 5x faster than ``--jobs 1``.

Usage: ``python benchmarks/bench_delete.py [--dirs 20] [--per-dir 50] [--latency 0.02]``
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.archive import FakeArchive  # noqa: E402
from tests.archive.clones import KEY, many_versions, seed  # noqa: E402

GOAL = 5.0


def run(jobs: int, n_dirs: int, per_dir: int, latency: float, work: Path) -> float:
    """Seed a fresh archive and clone, delete v1.1.1 with ``jobs``; return seconds."""
    paths = many_versions(n_dirs, per_dir)
    targets = [p for p in paths if "/version-v1.1.1/" in p]
    with FakeArchive(tokens={KEY: "owner"}) as archive:
        clone = seed(archive, work / f"clone-{jobs}", paths)
        archive.latency = latency
        env = dict(os.environ, DANDI_NO_ET="1")
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
        env[archive.api_key_env_var] = KEY
        dandi = shutil.which("dandi", path=str(Path(sys.executable).parent)) or "dandi"
        cmd = [
            dandi, "compute", "delete-version", str(clone), "v1.1.1",
            "-i", archive.url, "--yes", "--jobs", str(jobs), "-f", "json",
        ]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"--jobs {jobs} failed:\n{proc.stdout}\n{proc.stderr}")
        records = json.loads(proc.stdout)
        deleted = sum(r["deleted_assets"] for r in records)
        left = archive.paths("001697")
        if (
            len(records) != n_dirs
            or deleted != len(targets)
            or left != sorted(set(paths) - set(targets))
        ):
            raise SystemExit(f"--jobs {jobs}: wrong result ({deleted} deleted)")
        requests = len(archive.log)
    print(
        f"--jobs {jobs}: {elapsed:7.2f} s  ({len(targets)} assets in {n_dirs} "
        f"directories, {requests} requests, {latency * 1000:.0f} ms added to each)"
    )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dirs", type=int, default=20)
    parser.add_argument("--per-dir", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = run(1, args.dirs, args.per_dir, args.latency, Path(tmp))
        eight = run(8, args.dirs, args.per_dir, args.latency, Path(tmp))
    ratio = one / eight
    verdict = "meets" if ratio >= GOAL else "MISSES"
    print(
        f"speed-up --jobs 8 vs --jobs 1: {ratio:.2f}x ({verdict} the goal of {GOAL}x)"
    )


if __name__ == "__main__":
    main()
