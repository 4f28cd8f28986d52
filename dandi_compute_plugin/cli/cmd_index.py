"""``dandi compute index``: the assets of a dandiset version, from its manifest."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click
from dandi.cli.base import instance_option, map_to_click_exceptions

from .formats import format_option, write_records
from .options import (
    manifest_options,
    manifest_request,
    read_manifest,
    timeout_option,
    validate_dandiset_id,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..manifest import ManifestRequest

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
@timeout_option
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
    timeout: float,
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
    request = manifest_request(
        dandiset_id,
        dandiset_version,
        dandi_instance,
        source,
        no_cache,
        refresh,
        timeout,
    )
    _index(request, path_prefix, output_format, summary)


@map_to_click_exceptions
def _index(
    request: ManifestRequest,
    path_prefix: str | None,
    output_format: str,
    summary: bool,
) -> None:
    def keep(assets: Iterator[Any]) -> list[Any]:
        # all of it first: a failure must not leave a plausible partial listing
        if path_prefix:
            return [a for a in assets if a.path.startswith(path_prefix)]
        return list(assets)

    found = read_manifest(request, keep)
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
