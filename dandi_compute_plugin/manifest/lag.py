"""Whether a draft's manifest is older than the draft's last change.

The archive rewrites a draft's ``assets.jsonld`` from a periodic task, not on every
change: right after an upload or a deletion the manifest still shows the assets as
they were.  The manifest's ``Last-Modified`` (from the cache entry the read just
wrote or confirmed, else a HEAD request) is compared with the ``modified`` time of
the version's summary in the archive's API (one request).  Nothing is said when
either cannot be had: the check must never stop a read that succeeded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
import logging
from typing import Any

from ..defaults import manifest_url_template
from .cache.listing import entry_info_of
from .location import manifest_url
from .request import ManifestRequest

lgr = logging.getLogger("dandi.compute")


def _api_url(dandi_instance: Any) -> str | None:
    """The instance's API URL without a request when it can be told, else dandi's."""
    from dandi.consts import known_instances
    from dandi.utils import get_instance

    api = getattr(dandi_instance, "api", None)
    if api is None and str(dandi_instance) in known_instances:
        api = known_instances[str(dandi_instance)].api
    text = str(dandi_instance).rstrip("/")
    if api is None and text.lower().startswith(("http://", "https://")):
        api = text if text.endswith("/api") else get_instance(text).api
    return api


def _manifest_last_modified(url: str, request: ManifestRequest) -> datetime | None:
    import requests

    text = None
    if request.cache:
        info = entry_info_of(url)
        text = info.last_modified if info is not None and info.status == "ok" else None
    if text is None:
        with requests.head(url, timeout=request.timeout, allow_redirects=True) as r:
            text = r.headers.get("Last-Modified") if r.ok else None
    return parsedate_to_datetime(text) if text else None


def _draft_modified(request: ManifestRequest) -> datetime | None:
    import requests

    api = _api_url(request.dandi_instance)
    if api is None:
        return None
    url = f"{api}/dandisets/{request.dandiset_id}/versions/{request.version}/info/"
    with requests.get(url, timeout=request.timeout) as r:
        modified = r.json().get("modified") if r.ok else None
    return datetime.fromisoformat(modified) if isinstance(modified, str) else None


def _elsewhere(request: ManifestRequest) -> bool:
    """A manifest location given for a known instance is another server's (a
    mirror, a test's): its times say nothing of that instance's draft."""
    from dandi.consts import known_instances

    given = request.url_template or manifest_url_template()
    name = getattr(request.dandi_instance, "name", request.dandi_instance)
    return bool(given) and str(name) in known_instances


def manifest_lag(request: ManifestRequest) -> timedelta | None:
    """How much older the draft's manifest is than the draft's last change.

    Parameters
    ----------
    request : ManifestRequest
        The manifest just read; only a dandiset's draft is checked (not a
        ``source``, not a published version, whose manifest is written once).

    Returns
    -------
    timedelta or None
        The lag, None when the manifest is current or either time is unknown
        (the archive cannot be reached, say).
    """
    if request.source is not None or request.version != "draft":
        return None
    if _elsewhere(request):
        return None
    try:
        url = manifest_url(
            request.dandiset_id,
            request.version,
            request.dandi_instance,
            url_template=request.url_template,
        )
        written = _manifest_last_modified(url, request)
        changed = _draft_modified(request) if written is not None else None
    except Exception as exc:  # offline, an odd answer: no warning, no failure
        lgr.debug("Could not tell whether the manifest is current: %s", exc)
        return None
    if written is None or changed is None:
        return None
    if written.tzinfo is None or changed.tzinfo is None:  # no zone: no comparison
        return None
    # Last-Modified has whole seconds: a change within its second is not a lag
    lag = changed.replace(microsecond=0) - written
    return lag if lag > timedelta(0) else None


def warn_if_lagging(request: ManifestRequest) -> None:
    """Warn (standard error, every output format) when the manifest lags."""
    import humanize

    lag = manifest_lag(request)
    if lag is not None:
        lgr.warning(
            "The manifest of dandiset %s version draft is older than the draft's "
            "last change, by %s: it may still list assets deleted since and lack "
            "those added since, until the archive rewrites it",
            request.dandiset_id,
            humanize.precisedelta(lag, minimum_unit="seconds", format="%0.0f"),
        )
