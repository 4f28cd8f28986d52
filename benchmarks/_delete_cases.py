"""The seeded archives, the measured commands and the checks of ``bench_delete.py``.

:func:`case` seeds a fake DANDI Archive (``tests/archive``) and the matching clone
with :func:`tests.archive.clones.many_versions`; :func:`run_ours` times ``dandi
compute delete-version`` on it, :func:`run_stock_each` and :func:`run_stock_once`
the stock ``dandi delete`` baselines (then ``shutil.rmtree`` here), each a real
``dandi`` executable in a subprocess.  :func:`check` exits non-zero unless exactly
the version's assets left the server and its directories the clone.  The server's
request log is time-stamped here (:class:`Stamps`) to show where the time goes.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import time

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.archive import FakeArchive  # noqa: E402
from tests.archive.clones import DANDISET, KEY, many_versions, seed  # noqa: E402
from tests.archive.faults import LoggedRequest  # noqa: E402

VERSION = "v1.1.1"
NULL_KEYRING = "keyring.backends.null.Keyring"


@dataclass
class Stamps:
    """The server's request log with the time each answer went out."""

    entries: list[tuple[float, LoggedRequest]] = field(default_factory=list)

    def attach(self, archive: FakeArchive) -> None:
        acc = archive.accounting
        original = acc.record

        def record(entry: LoggedRequest) -> None:
            self.entries.append((time.perf_counter(), entry))
            original(entry)

        acc.record = record  # type: ignore[method-assign]

    def phases(self, start: float, end: float) -> str:
        """Start-up / planning / deleting / finishing, from the log's times."""
        deletes = [t for t, e in self.entries if e.method == "DELETE"]
        if not self.entries or not deletes:
            return "no DELETE requests"
        first = self.entries[0][0]
        gets = sum(1 for _, e in self.entries if e.method == "GET")
        return (
            f"start-up {first - start:.2f} s, to 1st DELETE {deletes[0] - first:.2f} s,"
            f" DELETEs {deletes[-1] - deletes[0]:.2f} s, after {end - deletes[-1]:.2f}"
            f" s; {gets} GET + {len(deletes)} DELETE"
        )


@dataclass
class Case:
    """A seeded archive and clone: ``dirs`` are the version's local directories."""

    archive: FakeArchive
    clone: Path
    home: Path
    paths: list[str]
    targets: list[str]
    dirs: list[Path]
    stamps: Stamps

    def env(self) -> dict[str, str]:
        """A ``dandi`` subprocess's: own HOME and caches, null keyring, the key."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DANDI_API_KEY", "DANDI_INSTANCE", "DANDI_DISABLE_PLUGINS")
        }
        for name in ("STATE", "DATA", "CONFIG", "CACHE"):
            env[f"XDG_{name}_HOME"] = str(self.home / name.lower())
        env.update(DANDI_NO_ET="1", HOME=str(self.home))
        env["PYTHON_KEYRING_BACKEND"] = NULL_KEYRING
        env[self.archive.api_key_env_var] = KEY
        return env


@contextlib.contextmanager
def case(work: Path, name: str, n_dirs: int, per_dir: int) -> Iterator[Case]:
    """Seed an archive and a clone of ``n_dirs`` x ``per_dir`` files of v1.1.1."""
    paths = many_versions(n_dirs, per_dir, VERSION)
    targets = [p for p in paths if f"/version-{VERSION}/" in p]
    with FakeArchive(tokens={KEY: "owner"}) as archive:
        clone = seed(archive, work / name / "clone", paths)
        tops = sorted({p.split(f"/version-{VERSION}/")[0] for p in targets})
        dirs = [clone / f"{top}/version-{VERSION}" for top in tops]
        home = work / name / "home"
        home.mkdir()
        stamps = Stamps()
        stamps.attach(archive)
        yield Case(archive, clone, home, paths, targets, dirs, stamps)


def dandi_exe() -> str:
    return shutil.which("dandi", path=str(Path(sys.executable).parent)) or "dandi"


def _run(c: Case, cmd: list[str], what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=c.env(), stdin=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_ours(c: Case, latency: float, *extra: str) -> float:
    """``dandi compute delete-version CLONE v1.1.1 --yes`` (+ ``extra``); seconds."""
    c.archive.latency = latency
    cmd = [dandi_exe(), "compute", "delete-version", str(c.clone), VERSION]
    cmd += ["-i", c.archive.url, "--yes", "-f", "json", *extra]
    start = time.perf_counter()
    proc = _run(c, cmd, "delete-version " + " ".join(extra))
    elapsed = time.perf_counter() - start
    records = json.loads(proc.stdout)
    deleted = sum(r["deleted_assets"] for r in records)
    if len(records) != len(c.dirs) or deleted != len(c.targets):
        raise SystemExit(
            f"delete-version: {len(records)} records, {deleted} assets deleted "
            f"(expected {len(c.dirs)}, {len(c.targets)})"
        )
    check(c, "delete-version")
    return elapsed


def _stock(c: Case, dirs: list[Path]) -> None:
    cmd = [dandi_exe(), "delete", "--force", "-i", c.archive.url]
    _run(c, [*cmd, *map(str, dirs)], "dandi delete")
    for d in dirs:
        shutil.rmtree(d)


def run_stock_each(c: Case, latency: float) -> float:
    """Baseline (a): one ``dandi delete --force DIR`` and rmtree per directory."""
    c.archive.latency = latency
    start = time.perf_counter()
    for d in c.dirs:
        _stock(c, [d])
    elapsed = time.perf_counter() - start
    check(c, "dandi delete per directory")
    return elapsed


def run_stock_once(c: Case, latency: float) -> float:
    """Baseline (b): one ``dandi delete --force DIR1 ... DIRn``, then rmtrees."""
    c.archive.latency = latency
    start = time.perf_counter()
    _stock(c, c.dirs)
    elapsed = time.perf_counter() - start
    check(c, "dandi delete of all directories")
    return elapsed


def check(c: Case, what: str) -> None:
    """Exit non-zero unless exactly the version's assets and directories are gone."""
    left = c.archive.paths(DANDISET)
    expected = sorted(set(c.paths) - set(c.targets))
    if left != expected:
        extra = sorted(set(left) - set(expected))
        lost = sorted(set(expected) - set(left))
        raise SystemExit(
            f"{what}: server wrong: {len(extra)} assets left over "
            f"(e.g. {extra[:2]}), {len(lost)} others removed (e.g. {lost[:2]})"
        )
    still = [d for d in c.dirs if d.exists()]
    kept = [p for p in expected if not (c.clone / p).is_file()]
    if still or kept:
        raise SystemExit(
            f"{what}: clone wrong: {len(still)} directories left, "
            f"{len(kept)} other files removed (e.g. {kept[:2]})"
        )
