"""The ``dandi compute`` command group: thin click wrappers around the library.

Only click and dandi's CLI helpers (already loaded by ``dandi``) are imported at
module level; each command imports its library module when it runs, so that
``dandi --help`` stays cheap (no ijson, pluggy or dandi API client).
"""

from __future__ import annotations

import click
from dandi.cli.base import map_to_click_exceptions

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
