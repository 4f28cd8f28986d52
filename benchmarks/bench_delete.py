"""Benchmark ``dandi compute delete-version``: parallel requests, content checks.

Deletion: seeds the fake DANDI Archive of the tests (``tests/archive``, on
127.0.0.1) with 1,000 assets in 20 version directories of v1.1.1 (50 each) plus
assets of another version, builds the matching clone, adds 20 ms to every request,
and runs the real ``dandi`` executable (dandi's own client, unpatched) with
``--jobs 1`` and ``--jobs 8`` (the default ``--verify digest``) and ``--jobs 8
--verify size``, in the same run, on fresh copies.  Each run must delete all 20
directories and all 1,000 assets and leave the rest alone.

Goals: ``--jobs 8`` at least 5x faster than ``--jobs 1``; checking content by
digest costs at most 10% over checking sizes.

Verification (``--verify-gb``, default 1): a clone of that many GB of local data
in large files, the assets with their real dandi-etags; prints the rate of the
first ``--dry-run``'s hashing against ``sha256sum`` of the same files, and the time
of a second ``--dry-run`` (digests now in dandi's cache, a private one here).
Goal: the second at least 10x faster than the first.  The dry runs are timed in
this process (``run_deletion``), so that the interpreter's start-up and dandi's
import, the same in both, do not hide the hashing.

Usage: ``python benchmarks/bench_delete.py [--dirs 20] [--per-dir 50]
[--latency 0.02] [--verify-gb 1.0]``
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
from tests.records import asset_record, version_files  # noqa: E402

GOAL = 5.0


def run(
    jobs: int, verify: str, n_dirs: int, per_dir: int, latency: float, work: Path
) -> float:
    """Seed a fresh archive and clone, delete v1.1.1 with ``jobs`` and ``verify``;
    return seconds."""
    paths = many_versions(n_dirs, per_dir)
    targets = [p for p in paths if "/version-v1.1.1/" in p]
    with FakeArchive(tokens={KEY: "owner"}) as archive:
        clone = seed(archive, work / f"clone-{jobs}-{verify}", paths)
        archive.latency = latency
        env = dict(os.environ, DANDI_NO_ET="1")
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
        env[archive.api_key_env_var] = KEY
        dandi = shutil.which("dandi", path=str(Path(sys.executable).parent)) or "dandi"
        cmd = [
            dandi, "compute", "delete-version", str(clone), "v1.1.1",
            "-i", archive.url, "--yes", "--jobs", str(jobs), "--verify", verify,
            "-f", "json",
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
        f"--jobs {jobs} --verify {verify}: {elapsed:7.2f} s  ({len(targets)} assets "
        f"in {n_dirs} directories, {requests} requests, {latency * 1000:.0f} ms "
        "added to each)"
    )
    return elapsed


def big_clone(archive: FakeArchive, root: Path, gb: float) -> tuple[Path, int]:
    """A clone of ``gb`` GB in 64 MiB files (8 per directory), on the archive too."""
    size, per_dir = 64 << 20, 8
    count = max(1, round(gb * 1e9 / size))
    names = [f"output/part-{i}.bin" for i in range(per_dir)]
    paths = []
    for d in range((count + per_dir - 1) // per_dir):
        paths += version_files("000001", f"S{d:03d}", "v1.1.1", names=names)
    paths = paths[:count]
    records = []
    for path in paths:
        data = os.urandom(size)
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
        records.append(asset_record(path, content=data))
    (root / "dandiset.yaml").write_text("identifier: DANDI:001697\n")
    archive.add_dandiset("001697", records)
    return root, count * size


def verification(gb: float, work: Path) -> None:
    """Hashing rate against sha256sum; a second dry run against the first."""
    from dandi_compute_plugin.deletion import run_deletion

    with FakeArchive(tokens={KEY: "owner"}) as archive:
        clone, total = big_clone(archive, work / "big", gb)
        files = sorted(str(p) for p in clone.rglob("*.bin"))
        start = time.perf_counter()
        subprocess.run(["sha256sum", *files], check=True, capture_output=True)
        sha = time.perf_counter() - start
        times = []
        for _ in range(2):
            start = time.perf_counter()
            report = run_deletion(
                clone, "v1.1.1", dandi_instance=archive.url, dry_run=True
            )
            times.append(time.perf_counter() - start)
            if not all(r.status.value == "planned" for r in report.results):
                raise SystemExit(
                    f"dry run did not plan every directory: {report.summary()}"
                )
    first, second = times
    mb = total / 1e6
    print(
        f"local data: {mb:,.0f} MB in {len(files)} files; sha256sum {sha:6.2f} s "
        f"({mb / sha:,.0f} MB/s)"
    )
    print(
        f"--dry-run, first (hashing): {first:6.2f} s ({mb / first:,.0f} MB/s, "
        f"{sha / first:.2f}x sha256sum's rate); second (cached): {second:6.2f} s"
    )
    ratio = first / second
    verdict = "meets" if ratio >= 10 else "MISSES"
    print(
        f"second dry run {ratio:.1f}x faster than the first ({verdict} the goal of 10x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dirs", type=int, default=20)
    parser.add_argument("--per-dir", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--verify-gb", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # a private digest cache: the first dry run really hashes
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp, "cache"))
        one = run(1, "digest", args.dirs, args.per_dir, args.latency, Path(tmp))
        eight = run(8, "digest", args.dirs, args.per_dir, args.latency, Path(tmp))
        sizes = run(8, "size", args.dirs, args.per_dir, args.latency, Path(tmp))
        ratio = one / eight
        verdict = "meets" if ratio >= GOAL else "MISSES"
        print(
            f"speed-up --jobs 8 vs --jobs 1: {ratio:.2f}x "
            f"({verdict} the goal of {GOAL}x)"
        )
        cost = eight / sizes - 1
        verdict = "meets" if cost <= 0.10 else "MISSES"
        print(
            f"--verify digest vs size: {cost:+.1%} ({verdict} the goal of +10% at most)"
        )
        if args.verify_gb > 0:
            verification(args.verify_gb, Path(tmp))


if __name__ == "__main__":
    main()
