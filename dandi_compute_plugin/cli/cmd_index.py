"""``dandi compute index``: the assets of a dandiset version, from its manifest."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click
from dandi.cli.base import map_to_click_exceptions

from .formats import format_option, write_records
from .manifest_source import (
    DandisetRef,
    dandiset_version_option,
    manifest_options,
    manifest_request,
    parse_dandiset,
    read_manifest,
    resolve_dandiset,
    with_progress,
)
from .options import examples, instance_option, timeout_option

if TYPE_CHECKING:  # pragma: no cover
    from ..manifest import ManifestRequest

INDEX_FIELDS = ("path", "date_modified", "content_size", "content_id")
SUMMARY_FIELDS = ("assets", "total_bytes")


@click.command(
    "index",
    epilog=examples(
        "dandi compute index 001697 --summary",
        "dandi compute index DANDI:001697/draft --path-prefix derivatives/ -f yaml",
        "dandi compute index --source assets.jsonld --summary",
        "curl -s URL | dandi compute index --source -",
    ),
)
@click.argument(
    "dandiset", metavar="[DANDISET]", required=False, callback=parse_dandiset
)
@dandiset_version_option("--version")
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
@click.pass_context
def index(
    ctx: click.Context,
    dandiset: DandisetRef | None,
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

    DANDISET is what dandi accepts for a dandiset: 001697, DANDI:001697/draft,
    an archive URL or dandi://DANDI/001697@draft. Its manifest on the instance
    (default version: draft) is downloaded and parsed as it arrives, or --source
    names another one. Each record has path, date_modified, content_size and
    content_id (the blob or zarr id); records are printed as they are parsed, so
    an error further on ends the command with exit status 1 after the records
    before it (a JSON array or YAML document is then left unfinished). Downloads
    are cached with their ETag/Last-Modified: an unchanged manifest is neither
    downloaded nor parsed again. Set DANDI_COMPUTE_CACHE_DIR to move the cache,
    DANDI_COMPUTE_MANIFEST_URL to a URL template with {dandiset_id} and
    {version} to read manifests from elsewhere.

    """
    if (dandiset is None) == (source is None):
        raise click.UsageError("Give DANDISET or --source (exactly one of them)")
    if source is not None and ctx.get_parameter_source("dandiset_version") not in (
        None,
        click.core.ParameterSource.DEFAULT,
    ):
        raise click.UsageError(
            "--dandiset-version names a version of DANDISET: not with --source"
        )
    dandiset_id, version, instance = (None, dandiset_version, dandi_instance)
    if dandiset is not None:
        dandiset_id, version, instance = resolve_dandiset(
            ctx, dandiset, dandiset_version, dandi_instance
        )
    request = manifest_request(
        dandiset_id, version, instance, source, no_cache, refresh, timeout
    )
    try:
        _index(request, path_prefix, output_format, summary)
    except KeyboardInterrupt:
        click.echo("\nInterrupted.", err=True)
        sys.exit(130)


@map_to_click_exceptions
def _index(
    request: ManifestRequest,
    path_prefix: str | None,
    output_format: str,
    summary: bool,
) -> None:
    if summary:
        count, total = _summary(request, path_prefix)
        write_records(
            [{"assets": count, "total_bytes": total}],
            output_format,
            SUMMARY_FIELDS,
            line=lambda rec: f"{rec['assets']} assets, {rec['total_bytes']} bytes",
        )
        return
    read_manifest(
        request,
        lambda assets: write_records(
            (
                a.as_record()
                for a in assets
                if path_prefix is None or a.path.startswith(path_prefix)
            ),
            output_format,
            INDEX_FIELDS,
        ),
    )


def _summary(request: ManifestRequest, path_prefix: str | None) -> tuple[int, int]:
    """Counts only: from the cache when it answers, else while streaming."""
    from ..manifest import summarize

    return with_progress(
        request, lambda progress: summarize(request, progress, path_prefix)
    )
