"""Benchmark ``dandi compute move``: bytes through the client, and time.

Each case seeds a fresh fake DANDI Archive of the tests (``tests/archive``, a real
HTTP server on 127.0.0.1) with two dandisets of one owner, the source holding N
assets of v1.1.1 (in directories of ``--per-dir``) of ``--size`` bytes each
(B = N x size in all) plus a few others, and the matching clone with those bytes.
The real ``dandi`` runs ``dandi compute move CLONE v1.1.1 --to TARGET --yes`` in a
subprocess, timed from outside (start-up included).  The server counts every byte
it reads from and writes to its connections: what the client sent and received,
headers included.  Moving by download-then-upload sends B and receives B at the
least (2 x B).  Every run must leave exactly the version's assets in the target
(same blobs and digests), none in the source and no directory of it in the clone,
else the script exits non-zero.

Usage: ``python benchmarks/bench_move.py [--assets 1000] [--per-dir 50]
[--size 65536] [--latency 0.0]``
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.archive import FakeArchive  # noqa: E402
from tests.archive.clones import KEY  # noqa: E402
from tests.records import asset_record, build_clone, version_files  # noqa: E402

SOURCE, TARGET, VERSION = "001697", "001873", "v1.1.1"


def _paths(n: int, per_dir: int) -> list[str]:
    names = [f"output/part-{i:04d}.bin" for i in range(per_dir)]
    paths = []
    for d in range((n + per_dir - 1) // per_dir):
        take = names[: min(per_dir, n - d * per_dir)]
        paths += version_files(f"{d % 7:06d}", f"S{d:03d}", VERSION, names=take)
    return paths


def _env(archive: FakeArchive, home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DANDI_API_KEY", "DANDI_INSTANCE", "DANDI_DISABLE_PLUGINS")
    }
    for name in ("STATE", "DATA", "CONFIG", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(home / name.lower())
    env.update(DANDI_NO_ET="1", HOME=str(home))
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env[archive.api_key_env_var] = KEY
    return env


def run_case(work: Path, n: int, per_dir: int, size: int, latency: float) -> dict:
    """Seed, move, check; return the figures."""
    paths = _paths(n, per_dir)
    others = ["README.md", *version_files("000001", "keep", "v1.1.10")]
    sizes = dict.fromkeys(paths, size)
    with FakeArchive(tokens={KEY: "owner"}, latency=latency) as archive:
        records = [asset_record(p, sizes.get(p)) for p in paths + others]
        archive.add_dandiset(SOURCE, records)
        archive.add_dandiset(TARGET, [])
        clone = build_clone(work / "clone", paths + others, SOURCE, sizes)
        home = work / "home"
        home.mkdir()
        before = {
            p: (a["blob"], a["metadata"]["digest"])
            for p, a in archive.assets(SOURCE).items()
        }
        exe = shutil.which("dandi", path=str(Path(sys.executable).parent)) or "dandi"
        cmd = [exe, "compute", "move", str(clone), VERSION, "--to", TARGET]
        cmd += ["-i", archive.url, "--yes", "-f", "json_lines"]
        start = time.monotonic()
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=_env(archive, home),
            stdin=subprocess.DEVNULL,
        )
        took = time.monotonic() - start
        if proc.returncode != 0:
            sys.exit(f"move failed ({proc.returncode}): {proc.stderr[-2000:]}")
        after = {
            p: (a["blob"], a["metadata"]["digest"])
            for p, a in archive.assets(TARGET).items()
        }
        left = [p for p in archive.paths(SOURCE) if p in set(paths)]
        if (
            sorted(after) != sorted(paths)
            or any(after[p] != before[p] for p in paths)
            or left
        ):
            sys.exit("the move did not end as it must")
        if any((clone / p).exists() for p in paths) or archive.count(
            pattern="/uploads/"
        ):
            sys.exit("the move did not end as it must (clone, or an upload)")
        traffic = dict(archive.traffic)
        requests = len(archive.log)
    return {
        "n": n,
        "bytes": n * size,
        "sent": traffic["received"],
        "received": traffic["sent"],
        "requests": requests,
        "seconds": took,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--per-dir", type=int, default=50)
    parser.add_argument("--size", type=int, default=64 * 1024)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    cases = [(args.assets, args.size), (max(args.assets // 10, 1), args.size * 10)]
    print(
        "| assets N | B (content) | client sent | client received "
        "| sent+received / 2B | requests | time |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, size in cases:
        with tempfile.TemporaryDirectory(prefix="bench-move-") as tmp:
            f = run_case(Path(tmp), n, args.per_dir, size, args.latency)
        ratio = (f["sent"] + f["received"]) / (2 * f["bytes"])
        print(
            f"| {f['n']:,} | {f['bytes']:,} | {f['sent']:,} | {f['received']:,} | "
            f"{ratio:.4f} | {f['requests']:,} | {f['seconds']:.1f} s |"
        )


if __name__ == "__main__":
    main()
