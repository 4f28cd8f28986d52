"""Two dandisets of one owner on the fake archive, and a clone of the first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..archive import FakeArchive
from ..archive.clones import tree_state
from ..records import asset_record, build_clone, version_files

SOURCE, TARGET = "001697", "001873"
CAPSULE = "version-v1.1.1_codebase-v0.3.0_params-98fd947_config-6568dda_attempt-{n}"
TOP = "derivatives/dandiset-000233/sub-CGM3/ses-CGM3/pipeline-aind+ephys"


def capsule(n: int) -> str:
    """The path of flat capsule ``n`` of v1.1.1."""
    return f"{TOP}/{CAPSULE.format(n=n)}"


NAMES = ("code/submit.sh", "logs/nextflow.log", "output/summary.json")


def world_paths() -> list[str]:
    """Two capsules and a nested directory of v1.1.1, one directory of v1.1.0."""
    paths = ["README.md"]
    paths += [f"{capsule(n)}/{name}" for n in (1, 2) for name in NAMES]
    paths += version_files("000363", "480134", "v1.1.1+b268fd2", session="s1")
    paths += version_files("000363", "480134", "v1.1.0", session="s1")
    return paths


def directory_of(path: str) -> str:
    """The version directory of an asset path of :func:`world_paths`."""
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part.startswith("version-"):
            return "/".join(parts[: i + 1])
    raise ValueError(path)


@dataclass
class World:
    archive: FakeArchive
    clone: Path
    paths: list[str]

    @classmethod
    def make(
        cls, archive: FakeArchive, root: Path, paths: list[str] | None = None
    ) -> World:
        paths = paths or world_paths()
        archive.add_dandiset(SOURCE, [asset_record(p) for p in paths], published=True)
        archive.add_dandiset(TARGET, [asset_record("README.md")])
        return cls(archive, build_clone(root / "clone", paths, SOURCE), paths)

    def of_version(self, version: str = "v1.1.1") -> list[str]:
        return [
            p
            for p in self.paths
            if "/version-" in p
            and (
                f"/version-{version}_" in p
                or f"/version-{version}/" in p
                or f"/version-{version}+" in p
            )
        ]

    def digests(self, dandiset: str) -> dict[str, tuple[str | None, dict]]:
        """``{path: (blob, digest)}`` of a draft."""
        return {
            p: (a["blob"], a["metadata"]["digest"])
            for p, a in self.archive.assets(dandiset).items()
        }

    def state(self) -> tuple:
        return (
            tree_state(self.clone, skip=[".dandi-compute"]),
            self.archive.paths(SOURCE),
            self.archive.paths(TARGET),
        )
