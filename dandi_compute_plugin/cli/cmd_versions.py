"""``dandi compute versions``: every pipeline version of a clone at a glance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from dandi.cli.base import map_to_click_exceptions

from .formats import format_option, write_records
from .manifest_source import (
    dandiset_version_option,
    manifest_options,
    manifest_request,
    read_manifest,
)
from .options import (
    check_clone,
    dandiset_dir_argument,
    examples,
    instance_option,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..manifest import ManifestRequest

BASE_FIELDS = ("pipeline", "version", "directories", "attempts")
SIZE_FIELDS = ("files", "bytes")
REMOTE_FIELDS = ("remote_directories", "remote_assets", "remote_bytes", "where")


@click.command(
    "versions",
    epilog=examples(
        "dandi compute versions 001697",
        "dandi compute versions 001697 --sizes",
        "dandi compute versions 001697 --remote -f json",
    ),
)
@dandiset_dir_argument
@click.option(
    "--sizes",
    is_flag=True,
    help="Also count the files and bytes of every version (walks into each "
    "version directory: slower on a large clone).",
)
@click.option(
    "--remote",
    is_flag=True,
    help="Also show the archive's side, from the dandiset's manifest: the "
    "directories, assets and bytes there, and where each version is (local, "
    "archive or both).",
)
@dandiset_version_option()
@instance_option(help="With --remote: the DANDI instance.")
@manifest_options
@format_option()
def versions(
    dandiset_dir: str,
    sizes: bool,
    remote: bool,
    dandiset_version: str,
    dandi_instance: str,
    source: str | None,
    no_cache: bool,
    refresh: bool,
    output_format: str,
) -> None:
    """List every pipeline version of the local clone DANDISET_DIR.

    One row per pipeline and version, nested version directories and flat job
    capsules alike; a version's hash-suffixed variants (v1.1.1+b268fd2) count
    under their version (v1.1.1), the way delete-version takes them. Each row
    has the directories and attempts; 'pending' counts directories whose
    deletion an interrupted delete-version left unfinished (half-retracted).
    Rows are sorted by pipeline, then version in natural order.
    """
    dandiset_id = check_clone(dandiset_dir)
    request = None
    if remote:
        if dandiset_id is None:
            raise click.UsageError(
                f"--remote needs the dandiset id: {dandiset_dir} has no dandiset.yaml"
            )
        request = manifest_request(
            dandiset_id, dandiset_version, dandi_instance, source, no_cache, refresh
        )
    elif source is not None or dandiset_version != "draft":
        raise click.UsageError("--source and --dandiset-version need --remote")
    _overview(dandiset_dir, sizes, request, output_format)


@map_to_click_exceptions
def _overview(
    dandiset_dir: str,
    sizes: bool,
    request: ManifestRequest | None,
    output_format: str,
) -> None:
    from ..versions.overview import version_overview

    pending = _pending(dandiset_dir)

    def overview(assets: Any = None) -> list:
        return version_overview(
            dandiset_dir, sizes=sizes, assets=assets, pending=pending
        )

    rows = overview() if request is None else read_manifest(request, overview)
    fields = BASE_FIELDS + (SIZE_FIELDS if sizes else ())
    fields += (REMOTE_FIELDS if request is not None else ()) + ("pending",)
    write_records(
        (row.as_record() for row in rows),
        output_format,
        fields,
        line=lambda rec: f"{rec['pipeline']} {rec['version']}",
    )


def _pending(dandiset_dir: str) -> set[str]:
    """The directories a deletion journal of the clone keeps unfinished."""
    from ..deletion.journal import unfinished_targets

    return unfinished_targets(dandiset_dir)
