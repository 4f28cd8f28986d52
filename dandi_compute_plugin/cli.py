"""The ``dandi compute`` command group: thin click wrappers around the library.

Only click and dandi's CLI helpers (already loaded by ``dandi``) are imported at
module level; each command imports its library module when it runs, so that
``dandi --help`` stays cheap (no ijson, pluggy or dandi API client).
"""

from __future__ import annotations

import click
from dandi.cli.base import instance_option, map_to_click_exceptions

from ._formats import format_option, write_records


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


@compute.command("scan-versions")
@dandiset_dir_argument
@version_argument
@format_option()
@map_to_click_exceptions
def scan_versions(dandiset_dir: str, version: str, output_format: str) -> None:
    """List the directories of pipeline version VERSION in a local clone.

    Walks DANDISET_DIR/derivatives/dandiset-*/ without following symbolic links
    and prints every directory named version-VERSION or version-VERSION+...
    (for example version-v1.1.1+b268fd2). Glob characters in VERSION are literal.
    Paths are relative to DANDISET_DIR, except with '-f auto' in a pipe, where
    each line is a path usable from the current directory.
    """
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
    output_format: str,
) -> None:
    """Delete pipeline version VERSION from the archive, then from the clone.

    For every directory that scan-versions lists, the assets below its path on
    the draft of the dandiset named by DANDISET_DIR/dandiset.yaml are deleted
    on the server first; the local directory is removed only once all of them
    are confirmed gone. A directory holding local files that the server does
    not have is refused (see --include-unuploaded). An interrupted run leaves a
    journal in DANDISET_DIR/.dandi-compute/: running again finishes the job.

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
    )
    write_records(report.as_records(), output_format, DELETE_FIELDS, line=_delete_line)
    click.echo(report.summary(), err=True)
    if report.exit_code:
        sys.exit(report.exit_code)
