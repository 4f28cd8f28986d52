"""The real archive's server installed from its source snapshot, once per snapshot.

The install (a venv of its own, a few hundred packages) is kept in a cache directory
keyed by the snapshot's digest, so that only the first run pays for it.
"""

from __future__ import annotations

from collections.abc import Iterator
import hashlib
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tarfile

import fasteners
import platformdirs

SOURCE_ENV = "DANDI_ARCHIVE_SRC"
CACHE_ENV = "DANDI_ARCHIVE_CACHE"
PYTHON_ENV = "DANDI_ARCHIVE_PYTHON"
SNAPSHOT_GLOB = "dandi-archive-*.tar.gz"
HOW_TO_RUN = (
    f"the real archive's source is absent: set {SOURCE_ENV} to dandi-archive's "
    "source or snapshot tarball (or put it in ../shared/dandi-archive/) and run "
    "`tox -e integration`"
)
# Only what the development configuration imports, not the whole [dev] extra
# (type stubs, ipython, memray, tox ...), and the S3 emulator.
EXTRA_REQUIREMENTS = (
    "django-composed-configuration[dev]>=0.25.0",
    "django-debug-toolbar",
    "django-s3-file-field[minio]",
    "moto[server]",
)
DONE = "installed.ok"


def find_source(repo: Path) -> Path | None:
    """The archive's source: ``DANDI_ARCHIVE_SRC``, else ``shared/dandi-archive``
    beside the checkout or one of its parents.

    Parameters
    ----------
    repo : Path
        The checkout of this project.

    Returns
    -------
    Path or None
        A source directory or snapshot tarball, ``None`` when there is none.
    """
    given = os.environ.get(SOURCE_ENV)
    if given:
        path = Path(given).expanduser()
        if path.is_dir():
            found = sorted(path.glob(SNAPSHOT_GLOB))
            return found[-1] if found and not (path / "manage.py").exists() else path
        return path if path.is_file() else None
    for parent in repo.resolve().parents:
        shared = parent / "shared" / "dandi-archive"
        found = sorted(shared.glob(SNAPSHOT_GLOB))
        if found:
            return found[-1]
        if (shared / "manage.py").is_file():
            return shared
    return None


def _source_files(source: Path) -> Iterator[Path]:
    for path in sorted(source.rglob("*")):
        if path.is_file() and ".git" not in path.parts and ".tox" not in path.parts:
            yield path


def source_digest(source: Path) -> str:
    """The SHA-256 of a snapshot tarball, or of a source tree's paths and contents."""
    digest = hashlib.sha256()
    if source.is_file():
        with source.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    for path in _source_files(source):
        digest.update(str(path.relative_to(source)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_root() -> Path:
    """``DANDI_ARCHIVE_CACHE``, else the user's cache directory."""
    given = os.environ.get(CACHE_ENV)
    if given:
        return Path(given).expanduser()
    return Path(platformdirs.user_cache_dir("dandi-compute-plugin")) / "dandi-archive"


class Installation:
    """An installed server: its source tree and the venv that runs it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.source = root / "src"
        self.venv = root / "venv"
        self.python = self.venv / "bin" / "python"
        self.log = root / "install.log"

    @property
    def complete(self) -> bool:
        return (self.root / DONE).is_file() and self.python.exists()

    def executable(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def _unpack(source: Path, into: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, into, ignore=shutil.ignore_patterns(".git", ".tox"))
        return
    with tarfile.open(source) as tar:
        tar.extractall(into, filter="data")
    entries = list(into.iterdir())
    if len(entries) == 1 and entries[0].is_dir():  # a snapshot with a top folder
        top = entries[0]
        for entry in list(top.iterdir()):
            entry.rename(into / entry.name)
        top.rmdir()


def _build(installation: Installation, source: Path) -> None:
    if installation.root.exists():
        shutil.rmtree(installation.root)
    installation.root.mkdir(parents=True)
    _unpack(source, installation.source)
    python = os.environ.get(PYTHON_ENV, sys.executable)
    env = dict(os.environ, SETUPTOOLS_SCM_PRETEND_VERSION="0.0.0")
    env.pop("PYTHONPATH", None)
    with installation.log.open("w") as log:
        steps = (
            [python, "-m", "venv", str(installation.venv)],
            [
                str(installation.python),
                *("-m", "pip", "install", "--no-input"),
                "-e",
                str(installation.source),
                *EXTRA_REQUIREMENTS,
            ],
        )
        for step in steps:
            done = subprocess.run(step, stdout=log, stderr=subprocess.STDOUT, env=env)
            if done.returncode:
                raise RuntimeError(
                    f"installing the archive failed ({step[:4]}...): see "
                    f"{installation.log}"
                )
    (installation.root / DONE).write_text(str(source) + "\n")


def install(source: Path) -> Installation:
    """The server of ``source`` installed in the cache (built on first use).

    Parameters
    ----------
    source : Path
        The archive's source directory or snapshot tarball.

    Returns
    -------
    Installation
        Its source tree and venv; concurrent callers wait for one build.
    """
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    key = source_digest(source)[:16]
    installation = Installation(root / key)
    with fasteners.InterProcessLock(str(root / f"{key}.lock")):
        if not installation.complete:
            _build(installation, source)
    return installation


# build the cache ahead of a run: python -m tests.real_archive.install
if __name__ == "__main__":
    repo = Path(__file__).resolve().parents[2]
    found = find_source(repo)
    if found is None:
        sys.exit(HOW_TO_RUN)
    print(install(found).root)
