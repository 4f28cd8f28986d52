"""Benchmark ``dandi compute delete-version`` against stock ``dandi delete``.

Every measure seeds a fresh fake DANDI Archive of the tests (``tests/archive``, a
real HTTP server on 127.0.0.1) and the matching clone (``_delete_cases.py``): by
default 1,000 assets of v1.1.1 in 20 version directories (50 each), plus files of
another version and two top-level files; every request gets 20 ms added.  The
real ``dandi`` executable runs in a subprocess and is timed from outside (wall
time, start-up included); every run must remove exactly the version's assets from
the server and its directories from the clone, else the script exits non-zero.

1. Ours against stock dandi, at the default ``--jobs`` (no ``-J`` given):
   ``dandi compute delete-version CLONE v1.1.1 --yes`` against (a) the original
   approach, one ``dandi delete --force DIR`` per version directory then
   ``shutil.rmtree(DIR)``, goal <= 0.15x; (b) one ``dandi delete --force DIR1 ...
   DIR20`` then the rmtrees, goal <= 0.25x.  Stock dandi maps a local directory
   to the dandiset through the ``dandiset.yaml`` above it; ``-i URL`` points
   both at the fake server (resolved through its ``/server-info``) and
   ``{INSTANCE}_API_KEY`` carries the key.
2. ``--jobs 1`` against the default: goal at least 5x slower; ``--verify digest``
   (default) against ``--verify size``: goal at most +10%.
3. Scaling at the default jobs: 5, 20 and 80 directories of 50 assets against the
   model ``T0 + N x latency / jobs`` (T0: a run on 1 directory of 1 asset; N: the
   assets deleted; jobs: 16, the default); goal measured/model <= 1.2.
4. Verification (``--verify-gb``, default 0: skipped): a clone of that many GB in
   64 MiB files; the first ``--dry-run``'s hashing rate against ``sha256sum``, and
   a second ``--dry-run`` (digests in dandi's cache): goal >= 10x faster.  Timed
   in this process (``run_deletion``) so that start-up does not hide the hashing.

For our default run, the server's request times split it into start-up (to the
first request), planning (to the first DELETE), deleting and finishing.  The
output ends with a Markdown table of every goal.

Usage: ``python benchmarks/bench_delete.py [--dirs 20] [--per-dir 50]
[--latency 0.02] [--verify-gb 0] [--no-scaling]``
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _delete_cases as cases  # noqa: E402

from dandi_compute_plugin.defaults import DEFAULT_JOBS  # noqa: E402
from tests.archive import FakeArchive  # noqa: E402
from tests.archive.clones import KEY  # noqa: E402
from tests.records import asset_record, version_files  # noqa: E402

SCALES = (5, 20, 80)  # directories of --per-dir assets


@dataclass
class Row:
    """One goal: ``ratio = ours / baseline``, met when ``ratio <= goal`` (or
    ``>=`` with ``at_least``)."""

    measure: str
    ours: float
    baseline: float
    goal: float
    at_least: bool = False
    unit: str = "s"

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline

    @property
    def met(self) -> bool:
        return self.ratio >= self.goal if self.at_least else self.ratio <= self.goal

    def goal_text(self) -> str:
        return f"{'≥' if self.at_least else '≤'} {self.goal:g}x"

    def line(self) -> str:
        verdict = "met" if self.met else "MISSED"
        return (
            f"{self.measure}: {self.ours:.2f} {self.unit} vs {self.baseline:.2f} "
            f"{self.unit} = {self.ratio:.3f}x (goal {self.goal_text()}: {verdict})"
        )


def markdown(rows: list[Row]) -> str:
    lines = [
        "| measure | ours | baseline | ratio | goal | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.measure} | {r.ours:.2f} {r.unit} | {r.baseline:.2f} {r.unit} "
            f"| {r.ratio:.3f}x | {r.goal_text()} | {'yes' if r.met else '**no**'} |"
        )
    return "\n".join(lines)


def ours(
    work: Path, name: str, n_dirs: int, per_dir: int, latency: float, *extra: str
) -> float:
    """Time delete-version on a fresh case; print it with its phases."""
    with cases.case(work, name, n_dirs, per_dir) as c:
        start = time.perf_counter()
        elapsed = cases.run_ours(c, latency, *extra)
        phases = c.stamps.phases(start, start + elapsed)
    flags = " ".join(extra) or "(defaults)"
    print(
        f"delete-version {flags}: {elapsed:7.2f} s  ({len(c.targets)} assets in "
        f"{n_dirs} dirs; {phases})"
    )
    return elapsed


def stock(work: Path, name: str, n_dirs: int, per_dir: int, latency: float) -> float:
    """Time a stock baseline (``name``: ``each`` or ``once``) on a fresh case."""
    run = cases.run_stock_each if name == "each" else cases.run_stock_once
    with cases.case(work, f"stock-{name}", n_dirs, per_dir) as c:
        start = time.perf_counter()
        elapsed = run(c, latency)
        phases = c.stamps.phases(start, start + elapsed)
    label = "per directory" if name == "each" else "all directories at once"
    print(f"stock dandi delete, {label}: {elapsed:7.2f} s  ({phases})")
    return elapsed


def comparisons(args: argparse.Namespace, work: Path) -> list[Row]:
    """Measures 1 and 2."""
    size = (args.dirs, args.per_dir, args.latency)
    default = ours(work, "default", *size)
    each = stock(work, "each", *size)
    once = stock(work, "once", *size)
    one = ours(work, "jobs1", *size, "--jobs", "1")
    by_size = ours(work, "size", *size, "--verify", "size")
    n = f"{args.dirs} dirs x {args.per_dir}"
    return [
        Row(f"ours vs per-directory `dandi delete` ({n})", default, each, 0.15),
        Row(f"ours vs one `dandi delete` of all dirs ({n})", default, once, 0.25),
        Row("`--jobs 1` vs default jobs (slow-down)", one, default, 5.0, True),
        Row("`--verify digest` vs `--verify size`", default, by_size, 1.10),
    ]


def scaling(args: argparse.Namespace, work: Path) -> list[Row]:
    """Measure 3: wall time against ``T0 + N x latency / jobs``."""
    t0 = ours(work, "t0", 1, 1, args.latency)
    print(f"T0 (1 directory of 1 asset): {t0:.2f} s")
    rows = []
    for n_dirs in SCALES:
        n = n_dirs * args.per_dir
        measured = ours(work, f"scale-{n_dirs}", n_dirs, args.per_dir, args.latency)
        model = t0 + n * args.latency / DEFAULT_JOBS
        label = f"scaling, {n} assets ({n_dirs} dirs): measured / model"
        row = Row(label, measured, model, 1.2)
        print(f"  {n:5d} assets: measured {measured:6.2f} s, model {model:6.2f} s")
        rows.append(row)
    return rows


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


def verification(gb: float, work: Path) -> Row:
    """Measure 4: hashing rate against sha256sum; a second dry run against the
    first."""
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
                raise SystemExit(f"dry run did not plan everything: {report.summary()}")
    first, second = times
    mb = total / 1e6
    print(
        f"local data: {mb:,.0f} MB in {len(files)} files; sha256sum {sha:6.2f} s "
        f"({mb / sha:,.0f} MB/s); first --dry-run (hashing) {first:6.2f} s "
        f"({mb / first:,.0f} MB/s), second (cached) {second:6.2f} s"
    )
    return Row("first `--dry-run` vs second (digest cache)", first, second, 10, True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dirs", type=int, default=20)
    parser.add_argument("--per-dir", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--verify-gb", type=float, default=0.0, help="0: skip")
    parser.add_argument("--no-scaling", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # a private digest cache: the first dry run really hashes
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")
        rows = comparisons(args, work)
        if not args.no_scaling:
            rows += scaling(args, work)
        if args.verify_gb > 0:
            rows.append(verification(args.verify_gb, work))
    print()
    for row in rows:
        print(row.line())
    print()
    print(markdown(rows))


if __name__ == "__main__":
    main()
