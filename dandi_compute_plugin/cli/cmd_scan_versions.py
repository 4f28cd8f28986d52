"""``dandi compute scan-versions``: the directories of a version, local or remote."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from dandi.cli.base import instance_option, map_to_click_exceptions

from .formats import format_option, write_records
from .options import (
    manifest_options,
    manifest_request,
    read_manifest,
    validate_dandiset_id,
    version_argument,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..manifest import ManifestRequest

if TYPE_CHECKING:  # pragma: no cover
    from ..manifest import ManifestRequest

SCAN_FIELDS = ("path", "dandiset", "subject", "session", "pipeline", "version")
REMOTE_SCAN_FIELDS = (*SCAN_FIELDS, "asset_count", "total_bytes")


def _dandiset_dir_or_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if ctx.params.get("remote"):
        return validate_dandiset_id(ctx, param, value)
    return click.Path(exists=True, file_okay=False, dir_okay=True).convert(
        value, param, ctx
    )


@click.command("scan-versions")
@click.argument(
    "dandiset_dir", metavar="DANDISET_DIR|DANDISET_ID", callback=_dandiset_dir_or_id
)
@version_argument
@click.option(
    "--remote",
    is_flag=True,
    is_eager=True,
    help="Scan the asset paths of the dandiset's manifest on the archive instead "
    "of a local clone; the first argument is then a dandiset id.",
)
@click.option(
    "--dandiset-version",
    default="draft",
    show_default=True,
    help="With --remote: the version of the dandiset whose manifest is read.",
)
@instance_option(help="With --remote: the DANDI instance.")
@manifest_options
@format_option()
def scan_versions(
    dandiset_dir: str,
    version: str,
    remote: bool,
    dandiset_version: str,
    dandi_instance: str,
    source: str | None,
    no_cache: bool,
    refresh: bool,
    output_format: str,
) -> None:
    """List the directories of pipeline version VERSION in a local clone.

    Walks DANDISET_DIR/derivatives/dandiset-*/ without following symbolic links
    and prints every directory named version-VERSION or version-VERSION+...
    (for example version-v1.1.1+b268fd2). Glob characters in VERSION are literal.
    Paths are relative to DANDISET_DIR, except with '-f auto' in a pipe, where
    each line is a path usable from the current directory.

    With --remote, the same directories are found among the asset paths of the
    manifest (assets.jsonld) of dandiset DANDISET_ID on the archive; each record
    also has asset_count and total_bytes.
    """
    if not remote:
        if source is not None or dandiset_version != "draft":
            raise click.UsageError("--source and --dandiset-version need --remote")
        _scan_local(dandiset_dir, version, output_format)
        return
    request = manifest_request(
        dandiset_dir, dandiset_version, dandi_instance, source, no_cache, refresh
    )
    _scan_remote(request, version, output_format)


@map_to_click_exceptions
def _scan_local(dandiset_dir: str, version: str, output_format: str) -> None:
    from ..versions import iter_version_directories

    found = sorted(
        iter_version_directories(dandiset_dir, version), key=lambda d: d.relpath
    )
    paths = {d.relpath: str(d.path) for d in found}
    write_records(
        (d.as_record() for d in found),
        output_format,
        SCAN_FIELDS,
        line=lambda rec: paths[rec["path"]],
    )


@map_to_click_exceptions
def _scan_remote(request: ManifestRequest, version: str, output_format: str) -> None:
    from ..versions import remote_version_directories

    found = read_manifest(
        request,
        lambda assets: remote_version_directories(assets, version, request.dandiset_id),
    )
    write_records((d.as_record() for d in found), output_format, REMOTE_SCAN_FIELDS)
