"""Benchmark ``dandi compute versions`` against ``scan-versions`` with a VERSION.

On the tree of ``bench_scan.py`` (nested version directories and flat capsules),
prints in the same run the median wall time of the two commands, as users run
them (the real ``dandi``, output into a pipe), and of the library calls alone.

Goal: ``versions`` within 1.5x of ``scan-versions V``.

Usage: ``python benchmarks/bench_versions.py [--sessions N] [--repeat N] [--tree DIR]``
"""

from __future__ import annotations

import argparse
from pathlib import Path
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench_scan import TARGET, build_tree

from dandi_compute_plugin import scan_version_directories
from dandi_compute_plugin.versions.overview import version_overview


def median(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def command(*args: str):
    dandi = str(Path(sys.executable).with_name("dandi"))
    return lambda: subprocess.run(
        [dandi, "compute", *args],
        check=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tree", type=Path, help="reuse/keep the tree here")
    args = parser.parse_args()
    tmp = None
    root = args.tree or Path(tmp := tempfile.mkdtemp(prefix="bench-versions-"))
    try:
        if not (root / "derivatives").is_dir():
            print(f"built {build_tree(root, args.sessions):,} files under {root}")
        scan_cli = median(command("scan-versions", str(root), TARGET), args.repeat)
        overview_cli = median(command("versions", str(root)), args.repeat)
        scan_api = median(lambda: scan_version_directories(root, TARGET), args.repeat)
        overview_api = median(lambda: version_overview(root), args.repeat)
        ratio = overview_cli / scan_cli
        print(f"dandi compute scan-versions {TARGET}  {scan_cli * 1000:8.1f} ms")
        print(f"dandi compute versions         {overview_cli * 1000:8.1f} ms")
        print(
            f"  library: scan {scan_api * 1000:.1f} ms, overview "
            f"{overview_api * 1000:.1f} ms ({overview_api / scan_api:.2f}x)"
        )
        print(
            f"versions / scan-versions = {ratio:.2f}x (goal <= 1.5: "
            f"{'met' if ratio <= 1.5 else 'NOT met'})"
        )
        return 0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
