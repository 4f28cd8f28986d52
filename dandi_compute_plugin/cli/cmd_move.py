"""``dandi compute move``: a thin wrapper around :mod:`..move`."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click
from dandi.cli.base import map_to_click_exceptions

from .formats import RecordWriter, format_option
from .options import (
    checked_deletion_options,
    dandiset_dir_argument,
    disable_plugin_option,
    examples,
    instance_option,
    jobs_option,
    timeout_option,
    verify_option,
    yes_option,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..deletion import DeletionOptions, DeletionPlan
    from ..move import MoveResult
    from .move_bars import MoveBars

MOVE_FIELDS = ("path", "status", "remote_assets", "created_assets", "reason")


def _move_line(rec: dict) -> str:
    reason = f": {rec['reason']}" if rec.get("reason") else ""
    return f"{rec['status']} {rec['path']}{reason}"


@click.command(
    "move",
    epilog=examples(
        "dandi compute move 001697 v1.1.1 --to 001873 --dry-run",
        "dandi compute move . derivatives/dandiset-000233/sub-CGM3/ses-CGM3/"
        "pipeline-aind+ephys/version-v1.1.1_codebase-v0.3.0_params-98fd947_"
        "config-6568dda_attempt-1 --to DANDI:001873 --yes",
        "dandi compute move . v1.1.1 --to 001873 --keep-local -f json_lines",
    ),
)
@dandiset_dir_argument
@click.argument("what", metavar="VERSION|DIRECTORY...", nargs=-1, required=True)
@click.option(
    "--to",
    "to",
    required=True,
    metavar="DANDISET",
    help="The dandiset to move to, on the same instance: an id (001873), "
    "DANDI:001873, an archive URL or dandi://... (its draft).",
)
@instance_option()
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@yes_option("Do not ask for confirmation.")
@jobs_option("How many remote requests run at once.")
@click.option(
    "--keep-local",
    is_flag=True,
    help="Keep the clone's copy of every directory moved (the archive's side "
    "moves; the clone keeps its files).",
)
@click.option(
    "--include-unuploaded",
    is_flag=True,
    help="Also move directories holding local files that the server does not "
    "have (they are not moved, and are lost unless --keep-local).",
)
@click.option(
    "--include-remote",
    is_flag=True,
    help="Also move the directories that are on the archive but not in the clone.",
)
@verify_option(
    "How a local file is found to be on the server before the clone's "
    "copy is removed (as delete-version)."
)
@timeout_option
@disable_plugin_option("Run without the hook plugin NAME (repeatable).")
@format_option(
    "Output format of the report: 'auto' is a table on a terminal and one "
    "'STATUS PATH[: REASON]' line per directory in a pipe."
)
def move(
    dandiset_dir: str,
    what: tuple[str, ...],
    to: str,
    yes: bool,
    output_format: str,
    **choices: Any,
) -> None:
    """Move job capsules, or every directory of a VERSION, to dandiset --to.

    Each argument after DANDISET_DIR is a VERSION (every directory
    scan-versions lists for it) or a version directory (a job capsule),
    relative to DANDISET_DIR. For every asset below it on
    the draft of the clone's dandiset, an asset is created at the same path in
    the draft of --to from the same blob and metadata: no content is
    downloaded or uploaded. A Zarr, which belongs to one dandiset, is uploaded
    from the clone when the clone holds it with the archive's checksum; else
    its directory is refused. A target path that holds other content refuses
    its directory (nothing is overwritten); the same content counts as moved.
    Only when the target lists every asset with its digest are the source's
    assets deleted, and the clone's copy removed (unless --keep-local), exactly
    as delete-version deletes (journal, hooks, resume after a crash).

    Exit status: 0 when every directory was moved (or had nothing to move), 1
    otherwise, 2 for a usage error, 130 after Ctrl-C, 143 after SIGTERM.
    """
    # usage errors (exit 2) come before the error mapping, which would make them 1
    # every other option is a field of DeletionOptions, under its name
    options = checked_deletion_options("moving", yes, **choices)
    _move(dandiset_dir, what, to, options, yes, output_format)


def _move(
    dandiset_dir: str,
    what: tuple[str, ...],
    to: str,
    options: DeletionOptions,
    yes: bool,
    output_format: str,
) -> None:
    from .report_stdout import report_only_stdout

    # hooks run during the move as during a deletion: what they print must not
    # land among the records of standard output
    with report_only_stdout():
        usage = _run(dandiset_dir, what, to, options, yes, output_format)
    # a usage error is 2, not the 1 of every error dandi's mapping turns it into
    if usage is not None:
        raise click.UsageError(f"{usage}. Nothing was changed.")


class _Report:
    """The report as it grows: a record per directory as soon as it ends."""

    def __init__(self, output_format: str, to: str, bars: MoveBars | None) -> None:
        self.output_format, self.to, self.bars = output_format, to, bars
        self.writer: RecordWriter | None = None

    def write(self, result: MoveResult) -> None:
        record = result.as_record(self.to)
        if self.writer is None:  # opened late: a table must not precede the prompt
            echo = self.bars.write if self.bars is not None else click.echo
            self.writer = RecordWriter(
                self.output_format, MOVE_FIELDS, _move_line, echo
            )
        if self.writer.format == "pyout":
            record = {k: record[k] for k in MOVE_FIELDS}
        self.writer.write(record)

    def close(self) -> None:
        if self.writer is None:  # an empty report is still a document
            self.writer = RecordWriter(self.output_format, MOVE_FIELDS, _move_line)
        self.writer.close(True)


@map_to_click_exceptions
def _run(
    dandiset_dir: str,
    what: tuple[str, ...],
    to: str,
    options: DeletionOptions,
    yes: bool,
    output_format: str,
) -> str | None:
    """Run the move and write the report; return a usage error's message."""
    from ..errors import MoveUsageError
    from ..move import run_move
    from ..move.target import parse_target
    from .move_bars import MoveBars
    from .progress import on_terminal

    try:  # once, within the timeout: the forms of known instances ask nobody
        target = parse_target(to, options.timeout)
    except MoveUsageError as exc:
        return str(exc)
    out = _Report(output_format, target.dandiset_id, None)
    bars = out.bars = MoveBars() if on_terminal() else None

    def confirm(plan: DeletionPlan, summary: str) -> bool:
        if bars is not None:
            bars.close()
        return yes or click.confirm(summary, default=False, err=True)

    try:
        report = run_move(
            dandiset_dir,
            what,
            target,
            options,
            confirm=confirm,
            on_result=out.write,
            progress=bars,
        )
    except MoveUsageError as exc:
        return str(exc)
    except (KeyboardInterrupt, click.Abort):
        click.echo(
            "\nInterrupted while planning or copying: the directories whose "
            "deletion had not started keep their source assets (those already "
            "created in the target count as moved on a re-run).",
            err=True,
        )
        _exit_now(130)
    finally:
        if bars is not None:
            bars.close()
    out.close()
    click.echo(report.summary(), err=True)
    if report.abandoned or report.interrupted:  # creations in flight: not waited for
        _exit_now(report.exit_code)
    if report.exit_code:
        sys.exit(report.exit_code)
    return None


def _exit_now(code: int) -> NoReturn:
    """End the process without waiting for request threads still running."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
