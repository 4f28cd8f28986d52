"""The ``dandi compute`` group, with one command per ``cmd_*`` module.

Only click and dandi's CLI helpers (already loaded by ``dandi``) are imported at
module level; each command imports its library module when it runs, so that
``dandi --help`` stays cheap (no pluggy or dandi API client, no manifest parser).
"""

from __future__ import annotations

import click

from .cmd_cache import cache
from .cmd_delete_version import delete_version
from .cmd_index import index
from .cmd_plugins import plugins
from .cmd_scan_versions import scan_versions
from .stderr import ComputeGroup


@click.group(cls=ComputeGroup)
def compute() -> None:
    """Manage pipeline versions of DANDI compute-derivative dandisets.

    A compute-derivative dandiset (such as 001697) holds pipeline outputs under
    derivatives/dandiset-ID/sub-S/[ses-S/]pipeline-P/version-V[+suffix]/.
    "Version V" is the directory version-V and every version-V+... variant.
    """


for _command in (scan_versions, delete_version, index, plugins, cache):
    compute.add_command(_command)
