"""The ``dandi compute`` group, with one command per ``cmd_*`` module.

Only click and dandi's CLI helpers (already loaded by ``dandi``) are imported at
module level; each command imports its library module when it runs, so that
``dandi --help`` stays cheap (no pluggy or dandi API client, no manifest parser).
"""

from __future__ import annotations

import click

from .._version import __version__
from .cmd_cache import cache
from .cmd_delete_version import delete_version
from .cmd_index import index
from .cmd_move import move
from .cmd_plugins import plugins
from .cmd_scan_versions import scan_versions
from .cmd_versions import versions
from .stderr import ComputeGroup


@click.group(cls=ComputeGroup)
@click.version_option(
    __version__,
    "--version",
    prog_name="dandi-compute-plugin",
    message="%(prog)s %(version)s",
)
def compute() -> None:
    """Manage pipeline versions of DANDI compute-derivative dandisets.

    A compute-derivative dandiset (such as 001697) holds pipeline outputs under
    derivatives/dandiset-ID/sub-S/[ses-S/]pipeline-P/version-V[+suffix]/ (nested)
    or .../pipeline-P/version-V_codebase-C_params-P_config-K_attempt-N/ (flat).
    "Version V" is every such directory whose version is V or starts with V+.
    """


for _command in (
    versions,
    scan_versions,
    delete_version,
    move,
    index,
    plugins,
    cache,
):
    compute.add_command(_command)
