"""How often the real archive's concurrent DELETEs in one draft deadlock.

The real server (dandi-archive, started as the tests of ``tests/real_archive`` start
it, or one already running: ``--api-url`` and ``--key``) gets a dandiset of one
uploaded blob; for each ``--jobs`` value, ``--assets`` assets are made from that
blob in one directory of the real layout, then deleted through raw ``DELETE``
requests, ``jobs`` at once, one attempt each (no retries): the answers are
counted (204, 500 "deadlock detected", other).  The assets a round could not
delete are then deleted one at a time, so that each round starts clean.

Then (unless ``--no-plugin``) the plugin itself: ``dandi compute delete-version
--yes`` at each ``--jobs`` value on a clone of the same shape, its wall time and
whether every asset went.

The archive's asset deletion updates the size and file count of every parent
path row of the asset, in one transaction per request: requests in one
directory contend for the same rows.

Usage: ``python benchmarks/bench_real_deadlock.py [--assets 1000]
[--jobs 1 2 4 8 16] [--api-url URL --key KEY --s3-port PORT] [--no-plugin]
[--no-raw]``
"""

from __future__ import annotations

import argparse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
import contextlib
import json
from pathlib import Path
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.real_archive.install import HOW_TO_RUN, find_source, install  # noqa: E402
from tests.real_archive.services import RealArchive, running  # noqa: E402
from tests.real_archive.world import (  # noqa: E402
    PARAMS,
    Api,
    dandi,
    dandi_env,
    upload,
    version_dir,
    write_files,
)

REPO = Path(__file__).resolve().parents[1]
CONTENT = b"one blob for every asset of this benchmark\n"


def make_assets(api: Api, dandiset: str, blob: str, paths: list[str]) -> None:
    """The assets at ``paths`` from one blob (4 requests at once, as the tests)."""
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda p: api.add_asset(dandiset, p, blob), paths))


def delete_round(api: Api, dandiset: str, ids: list[str], jobs: int) -> dict:
    """One DELETE per asset, ``jobs`` at once, no retry: what came back."""
    url = f"/dandisets/{dandiset}/versions/draft/assets/{{}}/"

    def one(asset_id: str) -> tuple[str, str]:
        r = api.request("DELETE", url.format(asset_id))
        if r.status_code == 204:
            return asset_id, "204"
        if r.status_code == 500 and "deadlock detected" in r.text:
            return asset_id, "deadlock"
        return asset_id, f"{r.status_code} {r.text[:80]!r}"

    started = time.monotonic()
    with ThreadPoolExecutor(jobs) as pool:
        answers = list(pool.map(one, ids))
    elapsed = time.monotonic() - started
    failed = [i for i, what in answers if what != "204"]
    for asset_id in failed:  # clean up, one at a time
        r = api.request("DELETE", url.format(asset_id))
        assert r.status_code in (204, 404), (r.status_code, r.text[:200])
    return {
        "jobs": jobs,
        "assets": len(ids),
        "answers": Counter(what for _, what in answers),
        "seconds": elapsed,
    }


def plugin_round(
    archive: RealArchive, api: Api, dandiset: str, blob: str, home: Path, jobs: int
) -> dict:
    """``dandi compute delete-version`` at ``jobs`` on a fresh version."""
    version = f"v9.{jobs}.0"
    directory = version_dir("000363", "480134", version, None)
    paths = [f"{directory}/{PARAMS}/out/{i:04d}.txt" for i in range(args.assets)]
    make_assets(api, dandiset, blob, paths)
    clone = home / "clone"
    write_files(clone, dict.fromkeys(paths, CONTENT))
    (clone / "dandiset.yaml").write_text(f"identifier: DANDI:{dandiset}\nname: x\n")
    env = dandi_env(archive, home / "home", archive.key)
    started = time.monotonic()
    done = dandi(
        env, "compute", "delete-version", str(clone), version, "-i", archive.api_url,
        "--yes", "--jobs", str(jobs), "-f", "json_lines",
    )  # fmt: skip
    elapsed = time.monotonic() - started
    records = [json.loads(line) for line in done.stdout.splitlines() if line]
    left = api.json(
        f"/dandisets/{dandiset}/versions/draft/assets/",
        path=directory + "/",
        page_size=1,
    )["count"]
    return {
        "jobs": jobs,
        "exit": done.returncode,
        "status": [r.get("status") for r in records],
        "left": left,
        "seconds": elapsed,
        "stderr": done.stderr[-300:] if done.returncode else "",
    }


@contextlib.contextmanager
def an_archive(tmp: Path):
    """The archive of ``--api-url``, else one started here."""
    if args.api_url:
        port = int(args.api_url.split(":")[2].split("/")[0])
        yield RealArchive(None, tmp, api_port=port, s3_port=args.s3_port, key=args.key)
        return
    source = find_source(REPO)
    if source is None:
        sys.exit(HOW_TO_RUN)
    with running(install(source), tmp / "server") as archive:
        yield archive


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "server").mkdir()
        with an_archive(tmp) as archive:
            api = Api(archive.api_url, archive.key)
            dandiset = api.new_dandiset("deadlock benchmark")
            clone = tmp / "clone"
            write_files(clone, {"README.md": CONTENT})
            (clone / "dandiset.yaml").write_text(
                f"identifier: DANDI:{dandiset}\nname: x\n"
            )
            upload(archive, clone, dandi_env(archive, tmp / "home", archive.key))
            (seed,) = api.assets(dandiset)
            rows = []
            for jobs in [] if args.no_raw else args.jobs:
                directory = version_dir("000363", "480134", f"v1.{jobs}.0", None)
                paths = [
                    f"{directory}/{PARAMS}/out/{i:04d}.txt" for i in range(args.assets)
                ]
                make_assets(api, dandiset, seed["blob"], paths)
                ids = [
                    a["asset_id"] for a in api.assets(dandiset) if a["path"] in paths
                ]
                row = delete_round(api, dandiset, ids, jobs)
                rows.append(row)
                print(json.dumps(row), flush=True)
            if rows:
                table(rows)
            if args.no_plugin:
                return
            print("\nthe plugin: dandi compute delete-version --yes --jobs N")
            for jobs in args.jobs:
                home = tmp / f"plugin-{jobs}"
                row = plugin_round(archive, api, dandiset, seed["blob"], home, jobs)
                print(json.dumps(row), flush=True)


def table(rows: list[dict]) -> None:
    """The raw rounds as a Markdown table."""
    print("\n| jobs | DELETEs | deadlocked (500) | rate | other failures | s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        a = r["answers"]
        other = r["assets"] - a["204"] - a["deadlock"]
        print(
            f"| {r['jobs']} | {r['assets']} | {a['deadlock']} | "
            f"{a['deadlock'] / r['assets']:.1%} | {other} | {r['seconds']:.1f} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--api-url", help="a running archive's API (.../api)")
    parser.add_argument("--key", help="its owner's API key")
    parser.add_argument("--s3-port", type=int, default=0, help="its S3 emulator's")
    parser.add_argument("--no-plugin", action="store_true", help="raw rounds only")
    parser.add_argument("--no-raw", action="store_true", help="the plugin only")
    args = parser.parse_args()
    main()
