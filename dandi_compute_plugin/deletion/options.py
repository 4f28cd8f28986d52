"""What a deletion is asked to do: :class:`DeletionOptions`, checked when made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..defaults import (
    DEFAULT_JOBS,
    DEFAULT_TIMEOUT,
    DEFAULT_VERIFY,
    MAX_TIMEOUT,
    VERIFY_CHOICES,
)


@dataclass(frozen=True)
class DeletionOptions:
    """How a deletion runs: the choices of ``dandi compute delete-version``.

    Attributes
    ----------
    dandi_instance
        An instance name or URL as ``dandi -i``; None: ``$DANDI_INSTANCE`` or
        ``dandi``.
    dry_run
        Plan only; change nothing (needs no API key).
    include_unuploaded
        Do not refuse targets holding local files that the server lacks.
    include_remote
        Delete as well the version directories that are on the archive but not
        in the clone (remote-only); otherwise they are kept and reported.
    verify
        How a local file is found to be on the server: ``digest`` (the same
        dandi-etag or Zarr checksum as the asset at its path) or ``size`` (the
        same size: cheaper, and weaker).
    jobs
        How many remote requests run at once (at least 1).
    timeout
        Seconds each request may take as a whole: connection, answer, and
        dandi's retries with their waits (the command line's ``--timeout`` or
        ``$DANDI_COMPUTE_TIMEOUT``; the library does not read the variable).
    plugins
        Hook plugin objects to use besides the installed ones.
    disable_plugins
        Names of hook plugins to run without.
    keep_local
        Delete on the archive only: every local directory stays (a move's
        ``--keep-local``).
    """

    dandi_instance: Any = None
    dry_run: bool = False
    include_unuploaded: bool = False
    include_remote: bool = False
    verify: str = DEFAULT_VERIFY
    jobs: int = DEFAULT_JOBS
    timeout: float = DEFAULT_TIMEOUT
    plugins: tuple[object, ...] = ()
    disable_plugins: tuple[str, ...] = ()
    keep_local: bool = False

    def __post_init__(self) -> None:
        # any iterable is accepted, a tuple is kept: the options stay immutable
        object.__setattr__(self, "plugins", tuple(self.plugins))
        if isinstance(self.disable_plugins, str):
            raise TypeError("disable_plugins must be a list of names, not a string")
        object.__setattr__(self, "disable_plugins", tuple(self.disable_plugins))
        if self.verify not in VERIFY_CHOICES:
            raise ValueError(
                f"verify must be one of {', '.join(VERIFY_CHOICES)}, "
                f"not {self.verify!r}"
            )
        if (
            not isinstance(self.timeout, int | float)
            or not 0 < self.timeout < MAX_TIMEOUT
        ):
            raise ValueError(
                f"timeout must be a number of seconds > 0, not {self.timeout!r}"
            )
        if not isinstance(self.jobs, int) or self.jobs < 1:
            raise ValueError(f"jobs must be a whole number >= 1, not {self.jobs!r}")
