"""Benchmark the version-directory scan against an rglob and GNU find.

Builds a compute-derivatives clone of at least 200,000 files (1,000 sessions x 4
nested versions, each version directory with code/, logs/ and output/ folders of
files, plus 3 flat job capsules a session: two attempts of V and one of a look-alike
version) and prints, in the same run, the median time of

(a) the approach of ``dandi_compute_code.dandiset``: for each ``dandiset-*``
    directory ``sorted(Path.rglob("version-V*"))``, then keep the directories the
    layout rule selects (the original kept only the nested names);
(b) :func:`dandi_compute_plugin.scan_version_directories`;
(c) GNU ``find`` with ``-prune`` doing the same match.

Goals: (b) at least 20x faster than (a), and no slower than (c).

Usage: ``python benchmarks/bench_scan.py [--sessions 1000] [--repeat 5] [--tree DIR]``
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from dandi_compute_plugin import scan_version_directories
from dandi_compute_plugin.versions import version_name_matches

VERSIONS = ("v1.0.0", "v1.1.1", "v1.1.1+b268fd2", "v1.1.10")
CAPSULES = tuple(
    f"{v}_codebase-v0.3.0_params-98fd947_config-6568dda_attempt-{n}"
    for v, n in (("v1.1.1", 1), ("v1.1.1", 2), ("v1.1.10", 1))
)
TARGET = "v1.1.1"
FILES = {"code": 15, "logs": 15, "output": 20}  # 50 files per version directory


def build_tree(root: Path, sessions: int) -> int:
    """Create the clone; return the number of files."""
    count = 0
    per_dandiset = 100
    for s in range(sessions):
        dandiset = f"dandiset-{s // per_dandiset:06d}"
        subject = f"sub-{s // 4:05d}"
        base = root / "derivatives" / dandiset / subject / f"ses-{s:05d}" / "pipeline-p"
        attempts = [
            base / f"version-{v}" / "params-98fd947_config-6568dda_attempt-1"
            for v in VERSIONS
        ]
        attempts += [base / f"version-{capsule}" for capsule in CAPSULES]
        for attempt in attempts:
            for folder, n in FILES.items():
                d = attempt / folder
                d.mkdir(parents=True)
                for i in range(n):
                    (d / f"file-{i:02d}.txt").touch()
                    count += 1
    (root / "dandiset.yaml").write_text("identifier: DANDI:001697\n")
    return count


def rglob_scan(root: Path, version: str) -> list[Path]:
    found: list[Path] = []
    for d in sorted((root / "derivatives").glob("dandiset-*")):
        for p in sorted(d.rglob(f"version-{version}*")):
            if p.is_dir() and version_name_matches(p.name, version):
                found.append(p)
    return found


def find_scan(root: Path, version: str) -> list[Path]:
    starts = [str(p) for p in sorted((root / "derivatives").glob("dandiset-*"))]
    out = subprocess.run(
        [
            "find",
            *starts,
            "-type",
            "d",
            "-name",
            "version-*",
            "-prune",
            "(",
            "-name",
            f"version-{version}",
            "-o",
            "-name",
            f"version-{version}+*",
            "-o",
            "-name",
            f"version-{version}_codebase-*_params-*_config-*_attempt-*",
            ")",
            "-print",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [Path(line) for line in out.splitlines()]


def median_time(fn: Callable[[], list[Path]], repeat: int) -> tuple[float, list[Path]]:
    fn()  # warm-up (page cache, imports)
    times = []
    result: list[Path] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--tree", type=Path, help="reuse/keep the tree in this directory"
    )
    args = parser.parse_args()

    tmp = None
    if args.tree is None:
        tmp = tempfile.mkdtemp(prefix="bench-scan-")
        root = Path(tmp)
    else:
        root = args.tree
    try:
        if not (root / "derivatives").is_dir():
            t0 = time.perf_counter()
            n = build_tree(root, args.sessions)
            print(f"built {n:,} files in {time.perf_counter() - t0:.1f} s under {root}")
        else:
            n = sum(1 for _ in root.rglob("file-*"))
            print(f"reusing {n:,} files under {root}")

        t_rglob, r_rglob = median_time(lambda: rglob_scan(root, TARGET), args.repeat)
        t_ours, r_ours = median_time(
            lambda: scan_version_directories(root, TARGET), args.repeat
        )
        t_find, r_find = median_time(lambda: find_scan(root, TARGET), args.repeat)
        assert sorted(r_rglob) == r_ours == sorted(r_find), "the three scans disagree"

        print(
            f"version {TARGET!r}: {len(r_ours):,} directories, median of {args.repeat}"
        )
        print(f"(a) rglob          {t_rglob * 1000:10.1f} ms")
        print(f"(b) this project   {t_ours * 1000:10.1f} ms")
        print(f"(c) GNU find       {t_find * 1000:10.1f} ms")
        speedup = t_rglob / t_ours
        vs_find = t_ours / t_find
        print(
            f"(a)/(b) = {speedup:.1f}x faster than rglob      (goal >= 20x: "
            f"{'met' if speedup >= 20 else 'NOT met'})"
        )
        print(
            f"(b)/(c) = {vs_find:.2f} of find's time          (goal <= 1.0: "
            f"{'met' if vs_find <= 1.0 else 'NOT met'})"
        )
        return 0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
