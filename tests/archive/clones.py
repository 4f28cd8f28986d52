"""A fake archive and a real local clone made from the same records, and checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import hashlib
import os
from pathlib import Path
import stat

from ..records import asset_record, build_clone, version_files
from .server import FakeArchive

DANDISET = "001697"
KEY = "secret-key-0123"


def seed(
    archive: FakeArchive,
    root: Path,
    paths: Sequence[str],
    *,
    remote_only: Iterable[str] = (),
    local_only: Iterable[str] = (),
    local_sizes: dict[str, int] | None = None,
    published: bool = True,
) -> Path:
    """Put ``paths`` on the archive and in a clone at ``root``; return the clone.

    ``remote_only`` paths are only on the server, ``local_only`` ones only in the
    clone (not uploaded); ``local_sizes`` makes local files differ in size.
    """
    remote = [*paths, *remote_only]
    archive.add_dandiset(
        DANDISET, [asset_record(p) for p in remote], published=published
    )
    return build_clone(root, [*paths, *local_only], DANDISET, local_sizes)


def many_versions(
    n_dirs: int, files_per_dir: int, version: str = "v1.1.1"
) -> list[str]:
    """``n_dirs`` directories of ``version`` with ``files_per_dir`` files each,
    plus one directory of another version and two top-level files."""
    names = [f"output/part-{i:04d}.json" for i in range(files_per_dir)]
    paths = ["README.md", "dataset_description.json"]
    for d in range(n_dirs):
        paths += version_files(
            f"{d % 7:06d}", f"S{d:03d}", version, session=f"ses{d}", names=names
        )
    paths += version_files("000001", "keep", "v1.1.10", names=("code/run.sh",))
    return paths


#: what a run leaves on purpose: the journal's lock file (never removed, so that
#: no two runs can hold different ones) and its directory; not the journal itself
LOCK_FILE = ".dandi-compute/delete-journal.jsonl.lock"


def tree_state(root: Path, skip: Iterable[str] = ()) -> dict[str, str]:
    """``{relpath: kind and content digest}`` of everything below ``root``,
    links not followed; relpaths starting with one of ``skip`` are left out, and
    so are the journal's lock file and its directory entry."""
    skip = tuple(skip)
    state: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            if (skip and rel.startswith(skip)) or rel in (LOCK_FILE, ".dandi-compute"):
                continue
            if os.path.islink(path):
                state[rel] = "link:" + os.readlink(path)
            elif os.path.isdir(path):
                state[rel] = "dir"
            elif not os.path.isfile(path):  # a FIFO, a socket: never opened
                state[rel] = f"special:{stat.S_IFMT(os.lstat(path).st_mode):o}"
            else:
                with open(path, "rb") as f:
                    state[rel] = "file:" + hashlib.sha256(f.read()).hexdigest()
        dirnames[:] = [
            d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))
        ]
    return state


def after_removal(before: dict[str, str], removed: Iterable[str]) -> dict[str, str]:
    """What :func:`tree_state` should show once the directories ``removed`` are
    gone, with the parents they left empty, up to ``derivatives/dandiset-*``."""
    gone = tuple(r.rstrip("/") for r in removed)
    kept = {
        k: v
        for k, v in before.items()
        if not any(k == g or k.startswith(g + "/") for g in gone)
    }
    while True:
        emptied = {
            k
            for k, v in kept.items()
            if v == "dir"
            and k.startswith("derivatives/")
            and k.count("/") >= 2
            and any(g.startswith(k + "/") for g in gone)
            and not any(o.startswith(k + "/") for o in kept)
        }
        if not emptied:
            return kept
        kept = {k: v for k, v in kept.items() if k not in emptied}


def under(paths: Iterable[str], prefix: str) -> list[str]:
    """The paths below directory ``prefix``."""
    return [p for p in paths if p.startswith(prefix.rstrip("/") + "/")]
