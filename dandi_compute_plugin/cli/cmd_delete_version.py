"""``dandi compute delete-version``: a thin wrapper around :mod:`..deletion`."""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click
from dandi.cli.base import map_to_click_exceptions

from .._text import escape_control
from .formats import RecordWriter, format_option, resolve_format
from .options import (
    checked_deletion_options,
    dandiset_dir_argument,
    disable_plugin_option,
    examples,
    instance_option,
    jobs_option,
    timeout_option,
    verify_option,
    version_argument,
    yes_option,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..deletion import DeletionOptions, DeletionPlan, TargetResult
    from .deletion_bars import DeletionBars

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


@click.command(
    "delete-version",
    epilog=examples(
        "dandi compute delete-version 001697 v1.1.1 --dry-run",
        "dandi compute delete-version 001697 v1.1.1 --include-remote",
        "dandi compute delete-version . v1.1.1 --yes -f json_lines > report.jsonl",
        "dandi compute delete-version 001697 v1.1.1 -i dandi-sandbox --dry-run",
    ),
)
@dandiset_dir_argument
@version_argument
@instance_option()
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan; change nothing (no API key needed).",
)
@yes_option("Do not ask for confirmation (--force: the name of stock 'dandi delete').")
@jobs_option("How many remote deletions (and listings) run at once.")
@click.option(
    "--include-unuploaded",
    is_flag=True,
    help="Also delete version directories holding local files that the server "
    "does not have (they are lost).",
)
@click.option(
    "--include-remote",
    is_flag=True,
    help="Also delete the version directories that are on the archive but not "
    "in the clone (no local data is at risk); without it they are kept and "
    "reported as remote-only.",
)
@verify_option(
    "How a local file is found to be on the server before its directory is "
    "deleted: 'digest' compares its dandi-etag (a Zarr's checksum) with the "
    "asset's, as dandi computes and caches them; 'size' only compares sizes "
    "(cheaper for terabytes of local data, and weaker)."
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
    dandiset_dir: str, version: str, yes: bool, output_format: str, **choices: Any
) -> None:
    """Delete pipeline version VERSION from the archive, then from the clone.

    For every directory that scan-versions lists, the assets below its path on
    the draft of the dandiset named by DANDISET_DIR/dandiset.yaml are deleted
    on the server first; the local directory is removed only once all of them
    are confirmed gone. A directory holding local files that the server does
    not have is refused (see --include-unuploaded). Directories of VERSION that
    are on the archive but not in the clone are listed as remote-only and kept
    (see --include-remote). An interrupted run leaves a
    journal in DANDISET_DIR/.dandi-compute/: running again finishes the job.
    Installed hook plugins (see 'dandi compute plugins') may veto directories;
    --dry-run shows their vetoes.

    The API key comes from {INSTANCE}_API_KEY (DANDI_API_KEY for the main
    instance) or the keyring, as for 'dandi upload'. Exit status: 0 when every
    directory was deleted (or had nothing to delete; remote-only ones aside), 1
    otherwise, 2 for a usage error, 130 after Ctrl-C, 143 after SIGTERM
    (which stops a run as Ctrl-C does). However a run ends, the report lists
    every directory: for those that did not end, what the journal proves.

    """
    # usage errors (exit 2) come before the error mapping, which would make them 1
    # every other option is a field of DeletionOptions, under its name
    options = checked_deletion_options("deleting", yes, **choices)
    _delete(dandiset_dir, version, options, yes, output_format)


#: above this many directories, ``-f auto`` on a terminal prints lines, not a
#: table (pyout redraws the whole table for each row)
MAX_TABLE_ROWS = 300


class _Report:
    """The report as it grows: each directory's record is written as soon as
    it ends (after the confirmation), the rest at the end."""

    def __init__(self, output_format: str, bars: DeletionBars | None) -> None:
        self.output_format, self.bars = output_format, bars
        self.rows = 0  # directories in the plan, known at the confirmation
        self.writer: RecordWriter | None = None
        #: what the table's columns are sized by: the plan's records
        self.sample: list[dict] = []

    def planned(self, records: list[dict]) -> None:
        """Know the plan's records: their number and the table's widths."""
        self.rows = len(records)
        self.sample = records

    def _open(self) -> RecordWriter:
        if self.writer is None:
            fmt = self.output_format
            if resolve_format(fmt) == "pyout" and fmt == "auto":
                fmt = "lines" if self.rows > MAX_TABLE_ROWS else "pyout"
            # a line goes above the progress bar, if there is one
            echo = self.bars.write if self.bars is not None else click.echo
            self.writer = RecordWriter(
                fmt, DELETE_FIELDS, _delete_line, echo, sample=self.sample
            )
        return self.writer

    def write(self, record: dict) -> None:
        writer = self._open()
        if writer.format == "pyout":  # the table: the main columns
            record = {k: record[k] for k in DELETE_FIELDS}
        writer.write(record)

    def close(self, complete: bool) -> None:
        # opened if nothing was written: an empty report is still a document
        self._open().close(complete)


class _Terminated(BaseException):
    """SIGTERM outside the execution (which handles it as Ctrl-C)."""


def _raise_terminated(signum: int, frame: object) -> NoReturn:
    raise _Terminated


@map_to_click_exceptions
def _delete(
    dandiset_dir: str,
    version: str,
    options: DeletionOptions,
    yes: bool,
    output_format: str,
) -> None:
    from .report_stdout import report_only_stdout

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with report_only_stdout():
            _delete_reporting(dandiset_dir, version, options, yes, output_format)
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Started:
    """The plan once confirmed: what an abrupt end reports from."""

    def __init__(self) -> None:
        self.plan: DeletionPlan | None = None
        self.journal: object = None
        self.reported: list[str] = []


def _delete_reporting(
    dandiset_dir: str,
    version: str,
    options: DeletionOptions,
    yes: bool,
    output_format: str,
) -> None:
    from ..deletion import run_deletion
    from .deletion_bars import DeletionBars
    from .progress import on_terminal

    bars = DeletionBars() if on_terminal() else None
    report_out = _Report(output_format, bars)
    started = _Started()

    def confirm(plan: DeletionPlan) -> bool:
        if bars is not None:
            bars.close()
        report_out.planned(list(plan.report().as_records()))
        confirmed = yes or _ask(plan)
        if confirmed:
            started.plan, started.journal = plan, plan.journal
        return confirmed

    def on_result(result: TargetResult) -> None:
        started.reported.append(result.target.relpath)
        report_out.write(result.as_record())

    try:
        report = run_deletion(
            dandiset_dir,
            version,
            options,
            confirm=confirm,
            on_result=on_result,
            progress=bars,
        )
    except (KeyboardInterrupt, click.Abort, _Terminated, Exception) as exc:
        if bars is not None:
            bars.close()
        _ended_abruptly(exc, started, report_out)
        raise
    finally:
        if bars is not None:
            bars.close()
    if report_out.writer is None:  # nothing was executed: the plan's report
        records = list(report.as_records())
        report_out.planned(records)
        for record in records:
            report_out.write(record)
    report_out.close(complete=True)
    click.echo(escape_control(report.summary(), backslash=False), err=True)
    if any(r.deleted_assets for r in report.results):
        click.echo(MANIFEST_LAGS, err=True)
    if report.abandoned:  # threads of abandoned requests must not be waited for
        _exit_now(report.exit_code)
    if report.exit_code:
        sys.exit(report.exit_code)


def _ask(plan: DeletionPlan) -> bool:
    """Show the plan on standard error and ask whether to carry it out."""
    for line in plan.overview():
        click.echo(escape_control(line, backslash=False), err=True)
    text = escape_control(plan.summary(), backslash=False)
    return click.confirm(text, default=False, err=True)


#: the archive rewrites a draft's assets.jsonld periodically, not on a deletion
MANIFEST_LAGS = (
    "The draft's manifest (assets.jsonld) will show the deleted assets until the "
    "archive rewrites it: `index` and `scan-versions --remote` may list them "
    "until then"
)


def _ended_abruptly(exc: BaseException, started: _Started, report_out: _Report) -> None:
    """Say what is known of a run that an exception or a signal ended; exit
    at once (130, 143) after a signal, return for an error (raised again)."""
    from ..deletion.aftermath import unreported_results

    signalled = isinstance(exc, (KeyboardInterrupt, click.Abort, _Terminated))
    code = 143 if isinstance(exc, _Terminated) else 130
    why = "terminated" if code == 143 else "interrupted"
    if not signalled:
        why = f"ended by an error ({type(exc).__name__})"
    if started.plan is None:
        if signalled:  # not confirmed (yet): listings may be in flight
            click.echo(f"\n{why.capitalize()} before anything was changed.", err=True)
            _exit_now(code)
        return
    results = unreported_results(
        started.plan,
        started.journal,
        started.reported,
        why,  # type: ignore[arg-type]
    )
    for result in results:
        report_out.write(result.as_record())
    report_out.close(complete=True)
    click.echo(
        f"\nThe run was {why}: {len(started.reported)} of {len(started.plan.items)} "
        "directories ended as reported above; for the others, what the journal "
        "proves. Running the same command again finishes the job.",
        err=True,
    )
    if signalled:
        _exit_now(code)


def _exit_now(code: int) -> NoReturn:
    """End the process without waiting for request threads still running."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
