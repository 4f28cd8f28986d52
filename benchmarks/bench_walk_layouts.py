"""Benchmark the walk with flat capsules against the walk before them.

On the tree of ``bench_scan.py`` (per session 4 nested version directories and 3
flat job capsules), prints the median time of

(a) the walk as it was before flat capsules: its one loop over the same
    traversal helpers (``_dandiset_directories``, ``_subdirectories``),
    selecting the nested names of the version only (``version-V`` and
    ``version-V+...``);
(b) the walk of today (``versions.walk._walk``, which
    :func:`~dandi_compute_plugin.scan_version_directories` runs): nested
    directories and flat capsules, names fitting neither form counted;

the two interleaved, relative paths only (no ``Path`` built), and their ratio.

Goal: (b) / (a) at most 1.1.

Usage: ``python benchmarks/bench_walk_layouts.py [--sessions 1000] [--repeat 7]
[--tree DIR]``
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
import shutil
import statistics
import sys
import tempfile
import time

from bench_scan import TARGET, build_tree

from dandi_compute_plugin.versions.layout import (
    DERIVATIVES,
    VERSION_PREFIX,
    version_names,
)
from dandi_compute_plugin.versions.walk import (
    _dandiset_directories,
    _subdirectories,
    _walk,
)


def walk_before(root: str, version: str) -> list[str]:
    """The walk as it was before flat capsules: one loop over the same
    traversal helpers, selecting ``version-V`` and ``version-V+...`` only."""
    exact, variant, _capsule = version_names(version)

    def nested(name: str) -> bool:
        return name == exact or name.startswith(variant)

    prefix = os.path.join(root, "")
    stack = _dandiset_directories(root, prefix + DERIVATIVES, _ignore)
    start = len(prefix)
    found = []
    while stack:
        try:
            entries = _subdirectories(stack.pop(), nested)
        except OSError:
            continue
        for name, path in entries:
            if name.startswith(VERSION_PREFIX):
                if nested(name):
                    found.append(path[start:])
                continue  # never into a version directory
            stack.append(path)
    return found


def _ignore(exc: OSError) -> None:
    pass


def walk_now(root: str, version: str) -> list[str]:
    """The relative paths the walk selects today."""
    return list(_walk(root, version, _ignore))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--tree", help="reuse (or build once) the tree here")
    args = parser.parse_args()
    logging.getLogger("dandi.compute").setLevel(logging.WARNING)
    root = Path(args.tree or tempfile.mkdtemp(prefix="bench-walk-"))
    try:
        if not (root / "derivatives").is_dir():
            print(f"built {build_tree(root, args.sessions):,} files under {root}")
        before, now = [], []
        walk_before(str(root), TARGET), walk_now(str(root), TARGET)  # warm cache
        for _ in range(args.repeat):
            for fn, times in ((walk_before, before), (walk_now, now)):
                t0 = time.perf_counter()
                found = fn(str(root), TARGET)
                times.append(time.perf_counter() - t0)
        a, b = statistics.median(before), statistics.median(now)
        nested = len(walk_before(str(root), TARGET))
        print(f"(a) before flat capsules: {a:.3f} s, {nested} directories")
        print(f"(b) today:                {b:.3f} s, {len(found)} directories")
        print(f"(b) / (a) = {b / a:.2f} (goal <= 1.1)")
        return 0 if b / a <= 1.1 else 1
    finally:
        if not args.tree:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
