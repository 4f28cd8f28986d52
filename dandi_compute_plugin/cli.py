"""The ``dandi compute`` command group: thin click wrappers around the library.

Only click and dandi's CLI helpers (already loaded by ``dandi``) are imported at
module level; each command imports its library module when it runs, so that
``dandi --help`` stays cheap (no ijson, pluggy or dandi API client).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click
from dandi.cli.base import instance_option, map_to_click_exceptions

from ._formats import format_option, resolve_format, write_records

T = TypeVar("T")


def _validate_version_param(
    ctx: click.Context, param: click.Parameter, value: str
) -> str:
    from .versions import InvalidVersionError, validate_version

    try:
        return validate_version(value)
    except InvalidVersionError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


dandiset_dir_argument = click.argument(
    "dandiset_dir",
    metavar="DANDISET_DIR",
    type=click.Path(exists=True, file_okay=False, dir_okay=True),
)
version_argument = click.argument(
    "version", metavar="VERSION", callback=_validate_version_param
)


@click.group()
def compute() -> None:
    """Manage pipeline versions of DANDI compute-derivative dandisets.

    A compute-derivative dandiset (such as 001697) holds pipeline outputs under
    derivatives/dandiset-ID/sub-S/[ses-S/]pipeline-P/version-V[+suffix]/.
    "Version V" is the directory version-V and every version-V+... variant.
    """


SCAN_FIELDS = ("path", "dandiset", "subject", "session", "pipeline", "version")


def _validate_dandiset_id(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    import re

    if value is None:
        return None
    if re.fullmatch(r"(?i:DANDI:)?[0-9]{6}", value) is None:
        raise click.BadParameter(
            f"{value!r} is not a dandiset id (six digits, e.g. 001697)",
            ctx=ctx,
            param=param,
        )
    return value[-6:]


def manifest_options(f: Callable) -> Callable:
    """The options choosing a manifest source and the cache."""
    f = click.option(
        "--refresh",
        is_flag=True,
        help="Download the manifest again even if the cached copy is current.",
    )(f)
    f = click.option(
        "--no-cache",
        is_flag=True,
        help="Neither use nor update the download cache.",
    )(f)
    return click.option(
        "--source",
        metavar="URL|FILE|-",
        help="Read this manifest (an http(s) URL, a file, or - for standard input) "
        "instead of the dandiset's on the instance.",
    )(f)


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


def _dandiset_dir_or_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if ctx.params.get("remote"):
        return _validate_dandiset_id(ctx, param, value)
    return click.Path(exists=True, file_okay=False, dir_okay=True).convert(
        value, param, ctx
    )


@compute.command("scan-versions")
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
    if remote:
        _scan_remote(
            dandiset_dir,
            version,
            dandiset_version,
            dandi_instance,
            source,
            not no_cache,
            refresh,
            output_format,
        )
    else:
        if source is not None or dandiset_version != "draft":
            raise click.UsageError("--source and --dandiset-version need --remote")
        _scan_local(dandiset_dir, version, output_format)


@map_to_click_exceptions
def _scan_local(dandiset_dir: str, version: str, output_format: str) -> None:
    from .versions import iter_version_directories

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


DELETE_FIELDS = (
    "path",
    "status",
    "remote_assets",
    "remote_bytes",
    "local_files",
    "reason",
)


def _delete_line(rec: dict) -> str:
    reason = f": {rec['reason']}" if rec.get("reason") else ""
    return f"{rec['status']} {rec['path']}{reason}"


@compute.command("delete-version")
@dandiset_dir_argument
@version_argument
@instance_option()
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan; change nothing (no API key needed).",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "-J",
    "--jobs",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="How many remote deletions (and listings) run at once.",
)
@click.option(
    "--include-unuploaded",
    is_flag=True,
    help="Also delete version directories holding local files that the server "
    "does not have (they are lost).",
)
@click.option(
    "--disable-plugin",
    "disable_plugins",
    metavar="NAME",
    multiple=True,
    help="Run without the hook plugin NAME (repeatable; see 'dandi compute "
    "plugins'). DANDI_COMPUTE_DISABLE_PLUGINS (comma-separated) adds to these.",
)
@format_option(
    "Output format of the report: 'auto' is a table on a terminal and one "
    "'STATUS PATH[: REASON]' line per directory in a pipe; the others are "
    "those of 'dandi ls'."
)
@map_to_click_exceptions
def delete_version(
    dandiset_dir: str,
    version: str,
    dandi_instance: str,
    dry_run: bool,
    yes: bool,
    jobs: int,
    include_unuploaded: bool,
    disable_plugins: tuple[str, ...],
    output_format: str,
) -> None:
    """Delete pipeline version VERSION from the archive, then from the clone.

    For every directory that scan-versions lists, the assets below its path on
    the draft of the dandiset named by DANDISET_DIR/dandiset.yaml are deleted
    on the server first; the local directory is removed only once all of them
    are confirmed gone. A directory holding local files that the server does
    not have is refused (see --include-unuploaded). An interrupted run leaves a
    journal in DANDISET_DIR/.dandi-compute/: running again finishes the job.
    Installed hook plugins (see 'dandi compute plugins') may veto directories;
    --dry-run shows their vetoes.

    The API key comes from {INSTANCE}_API_KEY (DANDI_API_KEY for the main
    instance) or the keyring, as for 'dandi upload'. Exit status: 0 when every
    directory was deleted (or had nothing to delete), 1 otherwise, 130 after
    Ctrl-C.
    """
    import sys

    from .deletion import run_deletion

    can_ask = sys.stdin.isatty() and sys.stderr.isatty()
    if not (dry_run or yes or can_ask):
        raise click.UsageError(
            "Not deleting without confirmation: there is no terminal to ask on. "
            "Pass --yes to confirm, or --dry-run to see the plan. Nothing was changed."
        )

    def confirm(plan) -> bool:
        if yes:
            return True
        return click.confirm(plan.summary(), default=False, err=True)

    report = run_deletion(
        dandiset_dir,
        version,
        dandi_instance=dandi_instance,
        dry_run=dry_run,
        include_unuploaded=include_unuploaded,
        jobs=jobs,
        confirm=confirm,
        disable_plugins=disable_plugins,
    )
    records = report.as_records()
    if resolve_format(output_format) == "pyout":  # the table: the main columns
        records = [{k: rec[k] for k in DELETE_FIELDS} for rec in records]
    write_records(records, output_format, DELETE_FIELDS, line=_delete_line)
    click.echo(report.summary(), err=True)
    if report.exit_code:
        sys.exit(report.exit_code)


REMOTE_SCAN_FIELDS = (*SCAN_FIELDS, "asset_count", "total_bytes")


@map_to_click_exceptions
def _scan_remote(
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


@compute.command("index")
@click.argument(
    "dandiset_id",
    metavar="[DANDISET_ID]",
    required=False,
    callback=_validate_dandiset_id,
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


PLUGIN_FIELDS = ("name", "distribution", "version", "status", "hooks", "error")


@compute.command("plugins")
@click.option(
    "--disable-plugin",
    "disable_plugins",
    metavar="NAME",
    multiple=True,
    help="Show the hook plugin NAME as disabled (repeatable).",
)
@format_option(
    "Output format: 'auto' is a table on a terminal and one 'NAME STATUS' line "
    "per plugin in a pipe; the others are those of 'dandi ls'."
)
@map_to_click_exceptions
def plugins(disable_plugins: tuple[str, ...], output_format: str) -> None:
    """List the deletion policy (hook) plugins that delete-version loads.

    Hook plugins are installed packages with an entry point in the group
    'dandi_compute'. For each: its name, distribution and version, whether it
    is loaded, disabled (--disable-plugin, DANDI_COMPUTE_DISABLE_PLUGINS) or
    failed to load (then delete-version refuses every directory until it is
    fixed or disabled), and the hooks it implements.
    """
    from .plugins import list_plugins

    infos = list_plugins(disable_plugins)
    if not infos:
        click.echo(
            "No hook plugins are installed (entry-point group 'dandi_compute').",
            err=True,
        )
    records = [i.as_record() for i in infos]
    if resolve_format(output_format) == "pyout":
        records = [dict(r, hooks=", ".join(r["hooks"])) for r in records]
    write_records(
        records,
        output_format,
        PLUGIN_FIELDS,
        line=lambda rec: f"{rec['name']} {rec['status']}",
    )
