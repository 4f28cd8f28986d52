"""The ``dandi compute`` command group: thin click wrappers around the library.

Only click and dandi's CLI helpers (already loaded by ``dandi``) are imported at
module level; each command imports its library module when it runs, so that
``dandi --help`` stays cheap (no ijson, pluggy or dandi API client).  The group
and ``scan-versions``/``plugins`` live here, ``delete-version`` in
:mod:`._cli_delete`, ``index`` (and ``scan-versions --remote``) in
:mod:`._cli_manifest`, shared options in :mod:`._cli_params`.
"""

from __future__ import annotations

import click
from dandi.cli.base import instance_option, map_to_click_exceptions

from ._cli_delete import delete_version
from ._cli_manifest import index
from ._cli_params import (
    SCAN_FIELDS,
    disable_plugin_option,
    manifest_options,
    validate_dandiset_id,
    version_argument,
)
from ._formats import format_option, resolve_format, write_records


@click.group()
def compute() -> None:
    """Manage pipeline versions of DANDI compute-derivative dandisets.

    A compute-derivative dandiset (such as 001697) holds pipeline outputs under
    derivatives/dandiset-ID/sub-S/[ses-S/]pipeline-P/version-V[+suffix]/.
    "Version V" is the directory version-V and every version-V+... variant.
    """


def _dandiset_dir_or_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if ctx.params.get("remote"):
        return validate_dandiset_id(ctx, param, value)
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
        from ._cli_manifest import scan_remote

        scan_remote(
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


PLUGIN_FIELDS = ("name", "distribution", "version", "status", "hooks", "error")


@compute.command("plugins")
@disable_plugin_option("Show the hook plugin NAME as disabled (repeatable).")
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


compute.add_command(delete_version)
compute.add_command(index)
