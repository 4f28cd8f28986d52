"""Which manifest to read, and how: :class:`ManifestRequest`."""

from __future__ import annotations

from dataclasses import dataclass
import os
from typing import Any

from ..defaults import (
    DEFAULT_DANDISET_ID,
    DEFAULT_DANDISET_VERSION,
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
)
from ..defaults import dandi_instance as instance_from_env
from .location import Source


@dataclass(frozen=True)
class ManifestRequest:
    """Which manifest to read, and how.

    Attributes
    ----------
    dandiset_id
        Six digits, e.g. ``001697`` (``DANDI:001697`` is accepted); used when
        ``source`` is None.
    version
        ``draft`` or a published version such as ``0.240101.1234``; used when
        ``source`` is None.
    dandi_instance
        A known instance name (as ``dandi -i``), an instance URL, or a
        ``dandi.consts.DandiInstance``; used when ``source`` is None.  None
        (the default) means ``$DANDI_INSTANCE`` or ``dandi``, read when the
        request is made, as a deletion and the command line's ``-i`` take it.
    source
        An ``http(s)://`` URL, a file path, ``"-"`` (standard input) or a binary
        stream, instead of the dandiset's manifest.
    cache
        Use and update the download cache (URLs only).
    refresh
        Download again even if the cached copy is current.
    url_template
        A manifest URL template with ``{dandiset_id}`` and ``{version}`` fields,
        instead of the instance's (see
        :func:`~dandi_compute_plugin.manifest.manifest_url`).
    timeout
        Seconds for the connection, status line and headers together, and
        for each wait for more of the body, which may take longer as a whole
        only while it keeps coming at 16 KiB a second on average; also for all
        waits for the cache entry's lock together (the command line's
        ``--timeout`` or ``$DANDI_COMPUTE_TIMEOUT``; the library does not read
        the variable). More than 0 and below
        :data:`~dandi_compute_plugin.defaults.MAX_TIMEOUT` (else ``ValueError``).
    """

    dandiset_id: str = DEFAULT_DANDISET_ID
    version: str = DEFAULT_DANDISET_VERSION
    dandi_instance: Any = None
    source: Source | None = None
    cache: bool = True
    refresh: bool = False
    url_template: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        # resolved now, so that two requests made under different environments
        # are different requests (the memo keys on the request)
        if self.dandi_instance is None:
            object.__setattr__(self, "dandi_instance", instance_from_env())
        # every wait of the request is bounded by it: a wait forever (inf), no
        # wait at all (0) or NaN would only fail deep inside, or never
        timeout = self.timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise ValueError(f"timeout must be a number of seconds, not {timeout!r}")
        if not 0 < timeout < MAX_TIMEOUT:
            raise ValueError(
                f"timeout must be a number of seconds > 0 and below "
                f"{MAX_TIMEOUT:g}, not {timeout!r}"
            )

    @property
    def label(self) -> str:
        """The manifest, as messages name it."""
        source = self.source
        if source is None:
            return f"the manifest of dandiset {self.dandiset_id}@{self.version}"
        if isinstance(source, str | os.PathLike):
            return "<stdin>" if str(source) == "-" else str(source)
        return str(getattr(source, "name", None) or "<stream>")
