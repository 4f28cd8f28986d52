"""The archive side of a deletion, through dandi's own client.

Everything that talks to the DANDI Archive goes through :mod:`dandi`:
:meth:`DandiAPIClient.for_dandi_instance` (instance names and URLs, exactly as
``dandi -i``), dandi's key lookup (``{INSTANCE}_API_KEY``, then the keyring),
the draft's asset listing below a directory's path (with the digests, checked by
:mod:`.listing`), and one ``DELETE`` per asset through the client, so that the
result of every single deletion is known (``dandi.delete.delete()`` would swallow
them).  The client is dandi's, each request bounded as a whole by the timeout,
its retries included (:mod:`.client`).

The API key never leaves this module in a message: the client registers it for
redaction before it is sent (:meth:`.client.BoundedClient.authenticate`), and
errors are redacted before they are shortened, raised or reported.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import io
import logging
import sys
from typing import Any
from urllib.parse import urlsplit

import requests

from .._http import (
    deadline,
    expired,
    mount,
    network_reason,
    read_capped,
    session_with_deadlines,
)
from .._limits import call_within
from ..defaults import DEFAULT_JOBS, DEFAULT_TIMEOUT, api_key_from_env
from ..errors import ArchiveError, AuthenticationError
from ..versions import DANDISET_PREFIX, DERIVATIVES, VERSION_PREFIX
from .client import (
    MAX_JSON_BYTES,
    QUOTED_CHARS,
    BoundedClient,
    describe_error,
    safe_text,
)
from .client import origin as _origin
from .listing import by_version_directory, checked_assets, is_uuid
from .model import PlannedAsset
from .secrets import redact

__all__ = ["ArchiveSession", "describe_error"]

lgr = logging.getLogger("dandi.compute")

#: assets per page of a listing: the archive's largest (it gives 100 unasked)
PAGE_SIZE = "1000"


def _instance_info_urls(dandi_instance: Any) -> list[str]:
    """The URLs dandi's instance lookup (``dandi.utils.get_instance``) asks, in
    its order: the second only when the first answers 404.  Empty for what is
    neither a known name nor a URL (dandi's own error says so)."""
    from dandi.consts import DandiInstance, known_instances, known_instances_rev
    from dandi.utils import joinurl

    if isinstance(dandi_instance, DandiInstance):
        return [joinurl(dandi_instance.api.rstrip("/"), "/info/")]
    name = str(dandi_instance)
    if not name.lower().startswith(("http://", "https://")):
        known = known_instances.get(name)
        return [] if known is None else [joinurl(known.api.rstrip("/"), "/info/")]
    url = name.rstrip("/")
    known_name = known_instances_rev.get(url)
    if known_name is None:  # dandi asks the origin of an unknown URL
        parts = urlsplit(url)
        url = f"{parts.scheme}://{parts.netloc}"
    elif known_instances[known_name].api.rstrip("/") == url:
        return [joinurl(url, "/info/")]
    return [joinurl(url, "/server-info"), joinurl(url, "/api/info/")]


def _check_reachable(dandi_instance: Any, timeout: float) -> None:
    """Ask the instance what dandi's client will ask it first, bounded and
    capped, before dandi does: dandi asks with a plain ``requests.get``, without
    a timeout or a size cap, and retries a dead connection for about a minute.
    An archive that cannot be reached, or whose answer does not arrive whole
    within ``timeout`` or exceeds :data:`MAX_JSON_BYTES`, ends the run at once
    (dandi's unbounded request is then never made)."""
    urls = _instance_info_urls(dandi_instance)
    name = str(getattr(dandi_instance, "name", dandi_instance))
    # a session of its own: no Authorization header on these requests
    with session_with_deadlines(timeout) as session, deadline(timeout):
        for url in urls:
            try:
                response = session.get(url, stream=True)
                read_capped(response, MAX_JSON_BYTES)
            except requests.RequestException as exc:
                reason = (
                    f"no complete answer within {timeout:g} s"
                    if expired()
                    else safe_text(network_reason(exc), 2 * QUOTED_CHARS)
                )
                raise ArchiveError(
                    f"Cannot reach DANDI instance {name} ({url}): {reason}. "
                    "Nothing was changed."
                ) from None
            if response.status_code != 404:
                return


@contextlib.contextmanager
def _no_prompts():
    """Make a stray prompt fail at once instead of waiting on standard input.

    dandi's keyring lookup may ask questions (``click.confirm`` for a new
    encrypted keyring, ``getpass`` for its password).  Without a terminal they
    must not wait for input, nor print their question to standard output, where
    the report goes.
    """
    with contextlib.redirect_stdout(sys.stderr):
        saved, sys.stdin = sys.stdin, io.StringIO("")
        try:
            yield
        finally:
            sys.stdin = saved


def _keyring_key(app_id: str) -> str | None:
    from dandi.keyring_utils import keyring_lookup

    try:
        with _no_prompts():
            _backend, key = keyring_lookup(app_id, "key")
    except Exception as exc:  # click.Abort, EOFError, a broken backend...
        lgr.debug("No API key from the keyring: %s", type(exc).__name__)
        return None
    return key or None


class ArchiveSession:
    """A dandiset on a DANDI instance, seen through dandi's client.

    Parameters
    ----------
    dandi_instance
        An instance name (``dandi``, ``dandi-sandbox``) or URL, as ``dandi -i``.
    dandiset_id
        The dandiset of the local clone (from its ``dandiset.yaml``).
    authenticate
        Find and check the API key (needed to delete; a dry run needs none).
    jobs
        How many requests may run at once (sizes the connection pool).
    timeout
        Seconds each request may take as a whole, its retries included.

    Raises
    ------
    AuthenticationError
        When ``authenticate`` and no key is found (and no terminal to ask on),
        or the server rejects the key.
    ArchiveError
        When the dandiset does not exist on the instance or the server cannot
        be reached.
    """

    def __init__(
        self,
        dandi_instance: Any,
        dandiset_id: str,
        *,
        authenticate: bool,
        jobs: int = DEFAULT_JOBS,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        from dandi.consts import DRAFT
        from dandi.exceptions import NotFoundError

        _check_reachable(dandi_instance, min(timeout, 15.0))
        try:
            # dandi asks an instance URL for its API without a timeout of its own
            self.client = call_within(
                timeout, BoundedClient.for_dandi_instance, instance=dandi_instance
            )
        except Exception as exc:
            raise ArchiveError(
                f"Cannot use DANDI instance {dandi_instance!r}: "
                + safe_text(str(exc), 2 * QUOTED_CHARS)
            ) from None
        self.client.timeout = timeout
        self.instance = self.client.dandi_instance
        mount(self.client.session, timeout, pool_connections=4, pool_maxsize=jobs + 8)
        if authenticate:
            self._authenticate()
        try:
            self.dandiset = self.client.get_dandiset(dandiset_id, DRAFT, lazy=False)
        except NotFoundError:
            raise ArchiveError(
                f"Dandiset {dandiset_id} does not exist on {self.instance.api}"
                " (or the API key has no access to it)"
            ) from None
        except requests.RequestException as exc:
            raise ArchiveError(
                self.redact(
                    f"Cannot read dandiset {dandiset_id} from {self.instance.api}: "
                    + describe_error(exc)
                )
            ) from None

    # -- authentication --------------------------------------------------------

    def _authenticate(self) -> None:
        from dandi.utils import is_interactive

        client = self.client
        env_var = client.api_key_env_var
        # the keyring service dandi documents for an instance's key
        app_id = f"dandi-api-{self.instance.name}"
        key = api_key_from_env(env_var)
        source = f"the {env_var} environment variable"
        if key is None:
            key = _keyring_key(app_id)
            source = f"the keyring (service {app_id!r})"
        if key is None:
            if not is_interactive():
                raise AuthenticationError(
                    f"No API key for {self.instance.name} ({self.instance.api}): "
                    f"set {env_var} or store a key in the keyring (service "
                    f"{app_id!r}, user 'key'). Not asking for one: no terminal. "
                    "Nothing was changed."
                )
            # a terminal: dandi's own prompt (and its saving to the keyring);
            # the client registers the key typed before it sends it
            client.key_source = "the prompt"
            self._check_key("the prompt", client.dandi_authenticate)
            return
        # the client registers the key for redaction, and checks it, before
        # it sends it: the one place every key passes, the prompt's too
        client.key_source = source
        self._check_key(source, client.authenticate, key)

    def _check_key(self, source: str, check: Any, *args: Any) -> None:
        """Run dandi's check of a key, its failures as this module's errors."""
        try:
            check(*args)
        except requests.HTTPError as exc:
            status = getattr(exc.response, "status_code", None)
            if status not in (401, 403):  # the server failed, not the key
                raise ArchiveError(
                    self.redact(
                        f"Cannot check the API key with {self.instance.api}: "
                        f"{describe_error(exc)}. Nothing was changed."
                    )
                ) from None
            raise AuthenticationError(self._rejected(source, exc)) from None
        except requests.RequestException as exc:
            raise ArchiveError(
                self.redact(
                    f"Cannot reach {self.instance.api} to check the API key: "
                    + describe_error(exc)
                )
            ) from None

    def _rejected(self, source: str, exc: Exception) -> str:
        status = getattr(getattr(exc, "response", None), "status_code", "?")
        return self.redact(
            f"The API key from {source} was rejected by {self.instance.api} "
            f"(HTTP {status}). Nothing was changed."
        )

    def redact(self, text: str) -> str:
        """Return ``text`` without the API key in it (nor any other key
        registered for redaction: the client registers every key it is given)."""
        return redact(text)

    # -- assets ----------------------------------------------------------------

    def assets_under(
        self, relpath: str, *, metadata: bool = True
    ) -> list[PlannedAsset]:
        """Return the draft's assets below a directory, checked.

        The directory's path is the one in the clone relative to its top
        directory, never one resolved through another ``dandiset.yaml`` found
        on the way.  With ``metadata``, each asset's digest comes with the same
        paginated listing (the archive's ``metadata=true``).

        Parameters
        ----------
        relpath
            The directory's POSIX path relative to the dandiset's top directory.
        metadata
            Ask for the assets' metadata (their digests).

        Returns
        -------
        list of PlannedAsset
            Sorted by path.

        Raises
        ------
        ArchiveError
            When the listing breaks a rule of :mod:`.listing`.
        requests.RequestException
            When the listing fails (after dandi's retries).
        """
        prefix = relpath.rstrip("/") + "/"
        params = {"path": prefix, "order": "path", "page_size": PAGE_SIZE}
        if metadata:
            params["metadata"] = "true"
        results = self._pages(f"{self.dandiset.version_api_path}assets/", params)
        return checked_assets(results, prefix)

    def assets_of_version(
        self, version: str, *, metadata: bool = True
    ) -> dict[str, list[Any]]:
        """Return the draft's assets in the directories of pipeline ``version``,
        from one paginated listing, by directory (unchecked: see
        :func:`~.listing.by_version_directory`).

        The archive's ``glob`` filter selects them, and the exact version rule
        then sorts them, so one request per page serves every directory.

        Raises
        ------
        ArchiveError, requests.RequestException
            As :meth:`assets_under`.
        """
        params = {
            "glob": f"{DERIVATIVES}/{DANDISET_PREFIX}*/{VERSION_PREFIX}{version}*",
            "order": "path",
            "page_size": PAGE_SIZE,
        }
        if metadata:
            params["metadata"] = "true"
        results = self._pages(f"{self.dandiset.version_api_path}assets/", params)
        return by_version_directory(results, version)

    def _pages(self, path: str, params: dict[str, str]) -> Iterator[Any]:
        """The results of a paginated listing, page after page.

        A ``next`` page on another scheme, host or port than the API's is not
        followed: the client would send the API key there.
        """
        page = self.client.get(path, params=params)
        while True:
            results = page.get("results") if isinstance(page, dict) else None
            if not isinstance(results, list):
                raise ArchiveError("the server's listing is not a page of results")
            yield from results
            link = page.get("next")
            if not link:
                return
            if _origin(str(link)) != _origin(self.instance.api):
                raise ArchiveError(
                    "the server's next page of the listing is on "
                    f"{_origin(str(link))!r}, not on the API's "
                    f"{_origin(self.instance.api)!r}: not followed (the API key "
                    "goes to the API only)"
                )
            page = self.client.get(str(link))

    def remaining(self, relpath: str) -> dict[str, str]:
        """Return ``{asset id: path}`` of the draft's assets still below ``relpath``."""
        return {a.asset_id: a.path for a in self.assets_under(relpath, metadata=False)}

    def delete_asset(self, asset: PlannedAsset) -> None:
        """Delete one asset from the draft; an asset the server does not have
        (404) is gone as well.

        Raises
        ------
        ArchiveError
            With a redacted description of the failure (after dandi's retries).
        """
        from dandi.exceptions import HTTP404Error

        if not is_uuid(asset.asset_id):  # never into a URL unchecked
            raise ArchiveError(f"not a UUID: {asset.asset_id[:80]!r}")
        try:
            self.client.delete(
                f"{self.dandiset.version_api_path}assets/{asset.asset_id}/"
            )
        except HTTP404Error:
            lgr.debug("%s was not on the server any more", asset.path)
        except requests.RequestException as exc:
            raise ArchiveError(self.redact(describe_error(exc))) from None
