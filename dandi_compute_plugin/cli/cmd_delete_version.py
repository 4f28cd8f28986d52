"""``dandi compute delete-version``: a thin wrapper around :mod:`..deletion`."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, NoReturn

import click
from dandi.cli.base import instance_option, map_to_click_exceptions

from .formats import format_option, resolve_format, write_records
from .options import (
    dandiset_dir_argument,
    disable_plugin_option,
    timeout_option,
    version_argument,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..deletion import DeletionOptions, DeletionPlan

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


@click.command("delete-version")
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
    # the library's DEFAULT_JOBS, written out: importing it here would load the
    # deletion code (and pluggy) for every `dandi --help`; a test keeps them equal
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
    "--verify",
    type=click.Choice(["digest", "size"]),
    default="digest",
    show_default=True,
    help="How a local file is found to be on the server before its directory is "
    "deleted: 'digest' compares its dandi-etag (a Zarr's checksum) with the "
    "asset's, as dandi computes and caches them; 'size' only compares sizes "
    "(cheaper for terabytes of local data, and weaker).",
)
@timeout_option
@disable_plugin_option(
    "Run without the hook plugin NAME (repeatable; see 'dandi compute "
    "plugins'). DANDI_COMPUTE_DISABLE_PLUGINS (comma-separated) adds to these."
)
@format_option(
    "Output format of the report: 'auto' is a table on a terminal and one "
    "'STATUS PATH[: REASON]' line per directory in a pipe; the others are "
    "those of 'dandi ls'."
)
def delete_version(
    dandiset_dir: str,
    version: str,
    dandi_instance: str,
    dry_run: bool,
    yes: bool,
    jobs: int,
    include_unuploaded: bool,
    verify: str,
    timeout: float,
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
    from ..deletion import DeletionOptions

    # usage errors (exit 2) come before the error mapping, which would make them 1
    can_ask = sys.stdin.isatty() and sys.stderr.isatty()
    if not (dry_run or yes or can_ask):
        raise click.UsageError(
            "Not deleting without confirmation: there is no terminal to ask on. "
            "Pass --yes to confirm, or --dry-run to see the plan. Nothing was changed."
        )
    options = DeletionOptions(
        dandi_instance=dandi_instance,
        dry_run=dry_run,
        include_unuploaded=include_unuploaded,
        verify=verify,
        jobs=jobs,
        timeout=timeout,
        disable_plugins=disable_plugins,
    )
    _delete(dandiset_dir, version, options, yes, output_format)


@map_to_click_exceptions
def _delete(
    dandiset_dir: str,
    version: str,
    options: DeletionOptions,
    yes: bool,
    output_format: str,
) -> None:
    from ..deletion import run_deletion

    def confirm(plan: DeletionPlan) -> bool:
        return yes or click.confirm(plan.summary(), default=False, err=True)

    try:
        report = run_deletion(dandiset_dir, version, options, confirm=confirm)
    except (KeyboardInterrupt, click.Abort):
        # before the confirmation nothing was changed; listings may be in flight
        click.echo("\nInterrupted before anything was changed.", err=True)
        _exit_now(130)
    records = report.as_records()
    if resolve_format(output_format) == "pyout":  # the table: the main columns
        records = [{k: rec[k] for k in DELETE_FIELDS} for rec in records]
    write_records(records, output_format, DELETE_FIELDS, line=_delete_line)
    click.echo(report.summary(), err=True)
    if report.abandoned:  # threads of abandoned requests must not be waited for
        _exit_now(report.exit_code)
    if report.exit_code:
        sys.exit(report.exit_code)


def _exit_now(code: int) -> NoReturn:
    """End the process without waiting for request threads still running."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
