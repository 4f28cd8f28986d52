"""Benchmark indexing ``assets.jsonld`` manifests of several sizes, against json.load.

For each size of ``--sizes-gb`` (default 0.1 0.4 1.0) it generates a compact
manifest shaped like 001697's (``_index_cases.py``), serves it from a separate
``http.server`` process on 127.0.0.1 (``Last-Modified``, 304 on
``If-Modified-Since``) and measures, each program in a fresh process, best of
``--repeat`` (the machine's noise only adds time):

1. API load: (a) as ``dandi_compute_code.dandiset`` does, ``json.load(urlopen(url))``
   then the index with full dicts, against (b)
   :func:`~dandi_compute_plugin.load_assets_jsonld_metadata` on the URL, empty
   cache: time until the index is returned (imports included) and peak RSS.
   Goal: time (b)/(a) <= 0.6.
2. API memory with use: then 1,000 lookups ``content_id_to_asset[cid]`` of random
   content ids (fixed seed), each record hashed (``json.dumps(sort_keys=True)``)
   and dropped.  Goal: peak RSS (b)/(a) <= 1/8.  (b)'s and (c)'s records must
   equal (a)'s: a mismatch ends the benchmark with exit status 1.
3. API cached re-run: (c) = (b) again, the server answers 304 and the cached index
   is reused.  Goal: time (c)/(b) <= 0.10.  (d) :func:`iter_asset_metadata` over
   HTTP without cache is shown for information.
4. Parse throughput of the local manifest file: ijson's C backend
   ``basic_parse(f, buf_size=65536)`` consuming every event, against
   ``iter_asset_metadata(source=path)`` consuming every asset (the package's whole
   parse, checks included); imports not timed.  Goal: MB/s ours/ijson >= 0.85.
5. CLI, whole processes (interpreter start included; peak RSS of the child from
   ``getrusage(RUSAGE_CHILDREN)`` in a small wrapper process):
   ``dandi compute index --source URL --summary --no-cache`` against the original
   approach as a program (``json.load(urlopen)``, sum of ``contentSize``).
   Goal: time <= 0.6x.  Constant memory: peak RSS of ``--summary`` and of
   ``-f json_lines --no-cache`` (output to /dev/null) at each size over the
   smallest size run (0.04 GB is added, for these two only, when no size is that
   small).  Goal: <= 1.25x.  Cached re-run: ``--summary`` answered by a 304 from a
   fresh cache, against ``dandi compute --help``, best of 5 each.  Goal: <= 1.25x.

6. Cached re-runs, whole processes, best of 5, every file of the cache entry
   checked against its SHA-256 on the way: ``index --summary``, ``index -f
   json_lines`` (output to /dev/null; its peak RSS too: constant memory on the
   304 path) and the API load of the index (``load_assets_jsonld_metadata``, the
   index by content id: index, offsets and manifest checked).  ``--only-cached``
   runs this measure alone; run it once with ``PYTHONPATH`` set to a checkout of
   another commit to compare (the table shows the ratios to
   ``--help`` and the figures to compare by hand).

It ends with a Markdown table of every measure, size and goal.

Usage: ``python benchmarks/bench_index.py [--sizes-gb 0.1 0.4 1.0] [--repeat 1]
[--dir DIR] [--keep]`` (``--size-gb X`` is ``--sizes-gb X``)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import random
import shutil
import subprocess
import sys
import tempfile
import time

import _index_cases as cases

BASE_GB = 0.04  # the smallest size of the constant-memory ratios
LOOKUPS = 1000
SEED = 1697
CLI_RUNS = 5  # best of, for the cached re-run and --help
DANDI = str(Path(sys.executable).with_name("dandi"))
CACHE_ENV = "DANDI_COMPUTE_CACHE_DIR"


@dataclass
class Case:
    """One size's manifest, served, and what it must give."""

    size_gb: float
    work: Path
    path: Path
    count: int
    total: int
    cids_file: Path
    env: dict[str, str]
    url: str = ""  # once served
    problems: list[str] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return self.path.stat().st_size

    def cache(self, name: str) -> dict[str, str]:
        """The environment with an empty cache directory ``name``."""
        directory = self.work / name
        shutil.rmtree(directory, ignore_errors=True)
        return {**self.env, CACHE_ENV: str(directory)}


def run_code(code: str, *args: str, env: dict[str, str]) -> dict:
    """Run ``code`` in a fresh interpreter; return its report plus wall time."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"benchmark process failed:\n{proc.stderr}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["wall"] = wall
    return report


def run_child(cmd: list[str], env: dict[str, str], stdout: str = "pipe") -> dict:
    """Run ``cmd`` under the wrapper: its wall time, peak RSS and output."""
    report = run_code(cases.CHILD, stdout, *cmd, env=env)
    if report["rc"]:
        sys.exit(f"{' '.join(cmd)} failed ({report['rc']}):\n{report['stderr']}")
    return report


def fastest(runs: list[dict], key: str = "seconds") -> dict:
    return min(runs, key=lambda r: r[key])


def serve(directory: Path) -> tuple[subprocess.Popen, int]:
    """Start ``python -m http.server`` on 127.0.0.1 on a free port."""
    proc = subprocess.Popen(
        [sys.executable, "-c", cases.SERVER, str(directory)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def make_case(work: Path, size_gb: float) -> Case:
    """Generate the manifest of ``size_gb`` and the content ids to look up."""
    www = work / "www"
    www.mkdir(parents=True)
    path = www / "assets.jsonld"
    start = time.perf_counter()
    count = cases.generate(path, int(size_gb * 1e9))
    nbytes = path.stat().st_size
    print(
        f"\n== {size_gb:g} GB: manifest {nbytes / 1e9:.3f} GB, {count} records "
        f"({nbytes / count:.0f} B each), written in "
        f"{time.perf_counter() - start:.1f} s ==",
        flush=True,
    )
    rows = random.Random(SEED).sample(range(count), min(LOOKUPS, count))
    cids_file = work / "cids.json"
    cids_file.write_text(json.dumps([cases.content_id(n) for n in rows]))
    env = {**os.environ, "DANDI_NO_ET": "1", CACHE_ENV: str(work / "cache")}
    total = cases.total_size(count)
    return Case(size_gb, work, path, count, total, cids_file, env)


def check_api(case: Case, name: str, run: dict, reference: list[str]) -> None:
    """(name)'s count, bytes and looked-up records must be the expected ones."""
    if (run["count"], run["bytes"]) != (case.count, case.total):
        case.problems.append(
            f"{case.size_gb:g} GB ({name}): {run['count']} assets, {run['bytes']} "
            f"bytes; expected {case.count}, {case.total}"
        )
    if name in ("b", "c") and run["hashes"] != reference:
        bad = sum(x != y for x, y in zip(run["hashes"], reference, strict=False))
        case.problems.append(
            f"{case.size_gb:g} GB ({name}): {bad} of {len(reference)} records from "
            "content_id_to_asset differ from json.load's (a)"
        )


def bench_api(case: Case, repeat: int) -> list[cases.Row]:
    """Measures 1-3: (a), (b), (c), (d) over HTTP."""
    runs: dict[str, list[dict]] = {k: [] for k in "abcd"}
    url, cids = case.url, str(case.cids_file)
    for i in range(repeat):
        env = case.cache(f"cache-{i}")
        runs["a"].append(run_code(cases.JSON_LOAD, url, cids, env=env))
        runs["b"].append(run_code(cases.OURS, url, cids, "index", env=env))
        runs["c"].append(run_code(cases.OURS, url, cids, "index", env=env))
        runs["d"].append(run_code(cases.OURS, url, cids, "iter", env=env))
        shutil.rmtree(env[CACHE_ENV], ignore_errors=True)
    reference = runs["a"][0]["hashes"]
    for name, name_runs in runs.items():
        for run in name_runs:
            check_api(case, name, run, reference)
    a, b, c, d = (fastest(runs[k]) for k in "abcd")
    print_api(a, b, c, d, repeat)
    size, sec, ms = case.size_gb, cases.seconds, cases.megabytes
    return [
        cases.ratio_row("API load time (b)/(a)", size, b, a, "seconds", sec, "<= 0.6"),
        cases.ratio_row("API peak RSS after load (b)/(a)", size, b, a, "rss", ms),
        cases.ratio_row(
            f"API peak RSS, load + {LOOKUPS} lookups (b)/(a)",
            *(size, b, a, "rss_use", ms, "<= 0.125"),
        ),
        cases.ratio_row(
            "API 304 re-run time (c)/(b)", size, c, b, "seconds", sec, "<= 0.10"
        ),
        cases.ratio_row(
            "API 304 re-run, whole process (c)/(b)", size, c, b, "wall", sec
        ),
    ]


def print_api(a: dict, b: dict, c: dict, d: dict, repeat: int) -> None:
    print(
        f"{'API, best of ' + str(repeat):46} {'load s':>7} {'lookups s':>10} "
        f"{'process s':>10} {'RSS MB':>7} {'+lookups':>9}"
    )
    for label, r in (
        ("(a) json.load + full-dict index", a),
        ("(b) load_assets_jsonld_metadata, first run", b),
        ("(c) load_assets_jsonld_metadata, 304 re-run", c),
        ("(d) iter_asset_metadata, no cache, no index", d),
    ):
        print(
            f"{label:46} {r['seconds']:7.2f} {r['lookup']:10.3f} {r['wall']:10.2f} "
            f"{r['rss'] / 1e6:7.0f} {r['rss_use'] / 1e6:9.0f}"
        )
    print(
        f"load: until the index is returned, imports included; lookups: {LOOKUPS} "
        "content_id_to_asset[cid]; process: the whole process; RSS: peak after "
        "load, +lookups: peak after the lookups",
        flush=True,
    )


def bench_parse(case: Case, repeat: int) -> list[cases.Row]:
    """Measure 4: parse throughput of the local file, ours against ijson's."""
    ijson_runs, our_runs = [], []
    for _ in range(repeat):
        ijson_runs.append(run_code(cases.PARSE_IJSON, str(case.path), env=case.env))
        our_runs.append(run_code(cases.PARSE_OURS, str(case.path), env=case.env))
    for run in our_runs:
        if run["count"] != case.count:
            case.problems.append(
                f"{case.size_gb:g} GB: iter_asset_metadata(source=path) gave "
                f"{run['count']} assets, expected {case.count}"
            )
    ijson = {"rate": case.nbytes / 1e6 / fastest(ijson_runs)["seconds"]}
    ours = {"rate": case.nbytes / 1e6 / fastest(our_runs)["seconds"]}
    print(f"{'parse of the local file, best of ' + str(repeat):46} {'MB/s':>7}")
    print(f"{'ijson yajl2_c basic_parse, all events':46} {ijson['rate']:7.1f}")
    print(f"{'iter_asset_metadata(source=path), all assets':46} {ours['rate']:7.1f}")
    return [
        cases.ratio_row(
            "Parse throughput, ours/ijson basic_parse",
            *(case.size_gb, ours, ijson, "rate", lambda r: f"{r:.1f} MB/s", ">= 0.85"),
        )
    ]


def check_summary(case: Case, label: str, run: dict) -> None:
    expected = f"{case.count} assets, {case.total} bytes"
    if run["stdout"].strip() != expected:
        case.problems.append(
            f"{case.size_gb:g} GB {label}: printed {run['stdout'].strip()!r}, "
            f"expected {expected!r}"
        )


def bench_cli_memory(case: Case, repeat: int) -> dict[str, dict]:
    """Measure 5, first part: --summary and -f json_lines, no cache."""
    index = [DANDI, "compute", "index", "--source", case.url, "--no-cache"]
    commands: dict[str, tuple[list[str], str]] = {
        "summary": ([*index, "--summary"], "pipe"),
        "json_lines": ([*index, "-f", "json_lines"], "devnull"),
    }
    runs: dict[str, list[dict]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, (cmd, stdout) in commands.items():
            runs[name].append(run_child(cmd, case.env, stdout))
    for run in runs["summary"]:
        check_summary(case, "--summary", run)
    return {name: fastest(name_runs, "wall") for name, name_runs in runs.items()}


def bench_cli_time(case: Case, repeat: int) -> dict[str, dict]:
    """Measure 5: the original program, and the cached re-run against --help."""
    original_cmd = [sys.executable, "-c", cases.ORIGINAL_SUMMARY, case.url]
    original = [run_child(original_cmd, case.env) for _ in range(repeat)]
    for run in original:
        check_summary(case, "original program", run)
    env = case.cache("cache-cli")
    summary = [DANDI, "compute", "index", "--source", case.url, "--summary"]
    check_summary(case, "--summary, first run", run_child(summary, env))
    reruns, helps = [], []
    for _ in range(CLI_RUNS):
        reruns.append(run_child(summary, env))
        helps.append(run_child([DANDI, "compute", "--help"], env, "devnull"))
    for run in reruns:
        check_summary(case, "--summary, 304 re-run", run)
    shutil.rmtree(env[CACHE_ENV], ignore_errors=True)
    return {
        "original": fastest(original, "wall"),
        "rerun": fastest(reruns, "wall"),
        "help": fastest(helps, "wall"),
    }


API_CACHED = r"""
import json, sys, time
t0 = time.perf_counter()
from dandi_compute_plugin import load_assets_jsonld_metadata
index = load_assets_jsonld_metadata(source=sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "count": len(index.path_to_asset_metadata)}))
"""


def bench_cached(case: Case) -> dict[str, dict]:
    """Measure 6: cached re-runs (HTTP 304) of --summary, a listing, the API."""
    env = case.cache("cache-rerun")
    index = [DANDI, "compute", "index", "--source", case.url]
    run_child([*index, "--summary"], env)  # fills the cache
    runs: dict[str, list[dict]] = {"summary": [], "listing": [], "api": [], "help": []}
    for _ in range(CLI_RUNS):
        runs["summary"].append(run_child([*index, "--summary"], env))
        runs["listing"].append(run_child([*index, "-f", "json_lines"], env, "devnull"))
        runs["api"].append(run_code(API_CACHED, case.url, env=env))
        runs["help"].append(run_child([DANDI, "compute", "--help"], env, "devnull"))
    for run in runs["summary"]:
        check_summary(case, "--summary, 304 re-run", run)
    for run in runs["api"]:
        if run["count"] != case.count:
            case.problems.append(f"API 304 re-run: {run['count']} assets")
    shutil.rmtree(env[CACHE_ENV], ignore_errors=True)
    found = {name: fastest(r, "wall") for name, r in runs.items()}
    print(f"{'Cached re-run (304), best of 5':56} {'s':>7} {'peak RSS MB':>12}")
    for name in ("summary", "listing", "api", "help"):
        run = found[name]
        rss = f"{run['rss'] / 1e6:12.0f}" if "rss" in run else f"{'':12}"
        print(f"{name:56} {run['wall']:7.2f} {rss}", flush=True)
    return found


def cached_rows(case: Case, runs: dict[str, dict]) -> list[cases.Row]:
    """The rows of measure 6."""
    return [
        cases.ratio_row(
            f"304 re-run {name} / dandi compute --help",
            *(case.size_gb, runs[name], runs["help"], "wall", cases.seconds),
        )
        for name in ("summary", "listing", "api")
    ]


def print_cli(runs: dict[str, dict], repeat: int) -> None:
    print(f"{'CLI, whole process':56} {'s':>7} {'peak RSS MB':>12}")
    for key, label in (
        ("original", f"original: json.load(urlopen) + sum, best of {repeat}"),
        ("summary", f"index --summary --no-cache, best of {repeat}"),
        ("json_lines", f"index -f json_lines --no-cache, best of {repeat}"),
        ("rerun", f"index --summary, 304 re-run, best of {CLI_RUNS}"),
        ("help", f"dandi compute --help, best of {CLI_RUNS}"),
    ):
        run = runs.get(key)
        if run is None:
            continue
        print(f"{label:56} {run['wall']:7.2f} {run['rss'] / 1e6:12.0f}")
    sys.stdout.flush()


def cli_rows(
    case: Case, runs: dict[str, dict], base_gb: float, base_runs: dict[str, dict]
) -> list[cases.Row]:
    """The rows of measure 5 (``base_runs``: those of the smallest size)."""
    size, orig, wall, ms = case.size_gb, runs["original"], "wall", cases.megabytes
    rows = [
        cases.ratio_row(
            "CLI --summary --no-cache time / original program",
            *(size, runs["summary"], orig, wall, cases.seconds, "<= 0.6"),
        ),
        cases.ratio_row(
            "CLI -f json_lines --no-cache time / original program",
            *(size, runs["json_lines"], orig, wall, cases.seconds),
        ),
    ]
    for name in ("summary", "json_lines"):
        rows.append(
            cases.ratio_row(
                f"CLI {name} peak RSS / at {base_gb:g} GB",
                *(size, runs[name], base_runs[name], "rss", ms, "<= 1.25"),
            )
        )
    rows.append(
        cases.ratio_row(
            "CLI --summary 304 re-run / dandi compute --help",
            *(size, runs["rerun"], runs["help"], wall, cases.seconds, "<= 1.25"),
        )
    )
    return rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--sizes-gb", type=float, nargs="+", default=[0.1, 0.4, 1.0])
    sizes.add_argument("--size-gb", type=float, help="one size: --sizes-gb X")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs each")
    parser.add_argument("--dir", type=Path, help="where to write (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the manifests")
    parser.add_argument(
        "--only-cached", action="store_true", help="only measure 6, cached re-runs"
    )
    args = parser.parse_args()
    if args.size_gb is not None:
        args.sizes_gb = [args.size_gb]
    return args


def run_size(
    work: Path,
    size_gb: float,
    repeat: int,
    full: bool | str,
    base: tuple[float, dict[str, dict]] | None,
) -> tuple[Case, list[cases.Row], dict[str, dict]]:
    """Generate, serve and measure one size (``full``: every measure,
    ``"cached"``: measure 6 only, else the CLI's memory only); ``base``: the
    smallest size and its CLI runs."""
    case = make_case(work, size_gb)
    server, port = serve(case.path.parent)
    case.url = f"http://127.0.0.1:{port}/assets.jsonld"
    rows: list[cases.Row] = []
    try:
        if full == "cached":
            rows = cached_rows(case, bench_cached(case))
            cases.print_goals(rows)
            return case, rows, {}
        runs = bench_cli_memory(case, repeat)
        if full:
            rows = bench_api(case, repeat) + bench_parse(case, repeat)
            runs.update(bench_cli_time(case, repeat))
        print_cli(runs, repeat)
        if full:
            rows += cli_rows(case, runs, *(base or (size_gb, runs)))
            rows += cached_rows(case, bench_cached(case))
    finally:
        server.terminate()
        server.wait()
    cases.print_goals(rows)
    for problem in case.problems:
        print(f"PROBLEM: {problem}", flush=True)
    return case, rows, runs


def main() -> None:
    args = parse_args()
    sizes = sorted(set(args.sizes_gb))
    base_gb = min([*sizes, BASE_GB])
    work = Path(tempfile.mkdtemp(prefix="bench-index-", dir=args.dir))
    rows: list[cases.Row] = []
    problems: list[str] = []
    base: tuple[float, dict[str, dict]] | None = None
    try:
        for size in sizes if args.only_cached else sorted({*sizes, base_gb}):
            full = "cached" if args.only_cached else size in sizes
            case, found, runs = run_size(
                work / f"{size:g}gb", size, args.repeat, full, base
            )
            base = base or (size, runs)
            rows += found
            problems += case.problems
            if not args.keep:
                shutil.rmtree(case.work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\n" + cases.markdown(rows))
    print(
        f"\nbest of {args.repeat} (CLI 304 re-run and --help: best of {CLI_RUNS}); "
        "s: seconds, MB: 10^6 bytes of peak RSS, MB/s: manifest MB parsed per "
        "second; ratio: ours / baseline"
    )
    if args.keep:
        print(f"\nmanifests kept in {work}")
    if problems:
        print("\nPROBLEMS:\n" + "\n".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
