"""``dandi compute scan-versions``: the directories of a version, local or remote."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

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
)
from .options import (
    check_clone,
    examples,
    instance_option,
    version_argument,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..manifest import ManifestRequest

SCAN_FIELDS = ("path", "dandiset", "subject", "session", "pipeline", "version")
REMOTE_SCAN_FIELDS = (*SCAN_FIELDS, "asset_count", "total_bytes")


class DirectoryOrDandiset(click.Path):
    """A clone's directory, or with ``--remote`` also a dandiset as dandi names
    them; completed as click completes a directory."""

    name = "directory or dandiset"

    def __init__(self) -> None:
        super().__init__(exists=True, file_okay=False, dir_okay=True)

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> str | DandisetRef:
        if isinstance(value, DandisetRef):
            return value
        if ctx is None or not ctx.params.get("remote"):
            return super().convert(value, param, ctx)
        if os.path.isfile(os.path.join(value, "dandiset.yaml")):  # a clone: its id
            from dandi.dandiset import Dandiset

            try:
                return DandisetRef(Dandiset(value).identifier)
            except Exception as exc:
                self.fail(f"cannot read the dandiset id of {value}: {exc}", param, ctx)
        ref = parse_dandiset(ctx, param, value)  # type: ignore[arg-type]
        assert ref is not None
        return ref


@click.command(
    "scan-versions",
    epilog=examples(
        "dandi compute scan-versions 001697 v1.1.1",
        "dandi compute scan-versions 001697 v1.1.1 -f json_lines",
        "dandi compute scan-versions --remote DANDI:001697/draft v1.1.1",
        "dandi compute scan-versions 001697 v1.1.1 | xargs du -sh",
    ),
)
@click.argument(
    "dandiset_dir",
    metavar="DANDISET_DIR|DANDISET",
    type=DirectoryOrDandiset(),
)
@version_argument
@click.option(
    "--remote",
    is_flag=True,
    is_eager=True,
    help="Scan the asset paths of the dandiset's manifest on the archive instead "
    "of a local clone; the first argument may then also be a dandiset identifier "
    "(001697, DANDI:001697/draft, an archive URL).",
)
@dandiset_version_option()
@instance_option(help="With --remote: the DANDI instance.")
@manifest_options
@format_option()
@click.pass_context
def scan_versions(
    ctx: click.Context,
    dandiset_dir: str | DandisetRef,
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
    manifest (assets.jsonld) of the dandiset on the archive -- the one of the
    clone DANDISET_DIR, or DANDISET as dandi names dandisets; each record also
    has asset_count and total_bytes.

    """
    if not isinstance(dandiset_dir, DandisetRef):
        if source is not None or dandiset_version != "draft":
            raise click.UsageError("--source and --dandiset-version need --remote")
        check_clone(dandiset_dir)
        _scan_local(dandiset_dir, version, output_format)
        return
    dandiset_id, dandiset_version, dandi_instance = resolve_dandiset(
        ctx, dandiset_dir, dandiset_version, dandi_instance
    )
    request = manifest_request(
        dandiset_id, dandiset_version, dandi_instance, source, no_cache, refresh
    )
    _scan_remote(request, version, output_format)


@map_to_click_exceptions
def _scan_local(dandiset_dir: str, version: str, output_format: str) -> None:
    from ..versions import iter_version_directories

    found = sorted(
        iter_version_directories(dandiset_dir, version), key=lambda d: d.relpath
    )
    if not found:
        from ..versions.overview import known_versions

        # no second walk (and warning) of a clone without derivatives/
        walked = os.path.isdir(os.path.join(dandiset_dir, "derivatives"))
        known = known_versions(dandiset_dir) if walked else []
        _none_found(version, f"in {dandiset_dir}", known)
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
    if not found:
        _none_found(version, "in the manifest")
    write_records((d.as_record() for d in found), output_format, REMOTE_SCAN_FIELDS)


def _none_found(version: str, where: str, known: list[str] | None = None) -> None:
    """Say on standard error that nothing matched (standard output stays empty),
    with the closest ``known`` versions as hints."""
    from .._text import escape_control
    from ..versions import prefix_hint
    from ..versions.overview import close_versions

    hint = prefix_hint(version)
    if not hint and known:
        close = close_versions(version, known)
        if close:
            others = f"; also close: {', '.join(close[1:])}" if close[1:] else ""
            hint = f" (did you mean {close[0]}?{others})"
    text = f"No directory of version {version} {where}{hint}"
    click.echo(escape_control(text, backslash=False), err=True)
