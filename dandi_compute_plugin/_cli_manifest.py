"""``dandi compute index`` and ``scan-versions --remote``, around :mod:`.manifest`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click
from dandi.cli.base import instance_option, map_to_click_exceptions

from ._cli_params import SCAN_FIELDS, manifest_options, validate_dandiset_id
from ._formats import format_option, write_records

T = TypeVar("T")


def _read_manifest(
    consume: Callable[[Iterator[Any]], T],
    dandiset_id: str | None,
    dandiset_version: str,
    dandi_instance: str,
    source: str | None,
    cache: bool,
    refresh: bool,
) -> T:
    """Stream a manifest's assets into ``consume``; a progress line on a TTY."""
    from ._progress import terminal_progress
    from .manifest import iter_asset_metadata

    progress = terminal_progress(f"assets.jsonld of {dandiset_id or source}")
    try:
        return consume(
            iter_asset_metadata(
                dandiset_id or "",
                dandiset_version,
                dandi_instance=dandi_instance,
                source=source,
                cache=cache,
                refresh=refresh,
                progress=progress,
            )
        )
    finally:
        if progress is not None:
            progress.close()


REMOTE_SCAN_FIELDS = (*SCAN_FIELDS, "asset_count", "total_bytes")


@map_to_click_exceptions
def scan_remote(
    dandiset_id: str,
    version: str,
    dandiset_version: str,
    dandi_instance: str,
    source: str | None,
    cache: bool,
    refresh: bool,
    output_format: str,
) -> None:
    from .manifest import remote_version_directories

    found = _read_manifest(
        lambda assets: remote_version_directories(assets, version, dandiset_id),
        dandiset_id,
        dandiset_version,
        dandi_instance,
        source,
        cache,
        refresh,
    )
    write_records((d.as_record() for d in found), output_format, REMOTE_SCAN_FIELDS)


INDEX_FIELDS = ("path", "date_modified", "content_size", "content_id")


@click.command("index")
@click.argument(
    "dandiset_id",
    metavar="[DANDISET_ID]",
    required=False,
    callback=validate_dandiset_id,
)
@click.option(
    "--version",
    "dandiset_version",
    default="draft",
    show_default=True,
    help="The dandiset version: draft or a published version (0.YYMMDD.NNNN).",
)
@instance_option()
@manifest_options
@click.option(
    "--path-prefix",
    metavar="PREFIX",
    help="Only the assets whose path starts with PREFIX (a plain string prefix: "
    "end it with / for a directory).",
)
@format_option(
    "Output format: 'auto' is a table on a terminal and one path per line in "
    "a pipe; the others are those of 'dandi ls'."
)
@click.option(
    "--summary",
    is_flag=True,
    help="Print only the number of assets and their total size in bytes.",
)
def index(
    dandiset_id: str | None,
    dandiset_version: str,
    dandi_instance: str,
    source: str | None,
    no_cache: bool,
    refresh: bool,
    path_prefix: str | None,
    output_format: str,
    summary: bool,
) -> None:
    """List the assets of a dandiset version from its assets.jsonld manifest.

    The manifest of DANDISET_ID (default version: draft) on the instance is
    downloaded and parsed as it arrives, or --source names another one. Each
    record has path, date_modified, content_size and content_id (the blob or
    zarr id). Downloads are cached with their ETag/Last-Modified: an unchanged
    manifest is neither downloaded nor parsed again. Set DANDI_COMPUTE_CACHE_DIR
    to move the cache, DANDI_COMPUTE_MANIFEST_URL to a URL template with
    {dandiset_id} and {version} to read manifests from elsewhere.
    """
    if (dandiset_id is None) == (source is None):
        raise click.UsageError("Give DANDISET_ID or --source (exactly one of them)")
    _index(
        dandiset_id,
        dandiset_version,
        dandi_instance,
        source,
        not no_cache,
        refresh,
        path_prefix,
        output_format,
        summary,
    )


@map_to_click_exceptions
def _index(
    dandiset_id: str | None,
    dandiset_version: str,
    dandi_instance: str,
    source: str | None,
    cache: bool,
    refresh: bool,
    path_prefix: str | None,
    output_format: str,
    summary: bool,
) -> None:
    def keep(assets: Iterator[Any]) -> list[Any]:
        # all of it first: a failure must not leave a plausible partial listing
        if path_prefix:
            return [a for a in assets if a.path.startswith(path_prefix)]
        return list(assets)

    found = _read_manifest(
        keep, dandiset_id, dandiset_version, dandi_instance, source, cache, refresh
    )
    if summary:
        total = sum(a.content_size for a in found)
        write_records(
            [{"assets": len(found), "total_bytes": total}],
            output_format,
            ("assets", "total_bytes"),
            line=lambda rec: f"{rec['assets']} assets, {rec['total_bytes']} bytes",
        )
    else:
        write_records((a.as_record() for a in found), output_format, INDEX_FIELDS)
