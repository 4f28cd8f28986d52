"""Every default and every environment variable of the package, in one place.

The command line takes its option defaults from here, the library its keyword
defaults, and the ``.pth`` start-up hook (:mod:`._host`) its switch: this module
imports nothing but :mod:`os`, which every Python start has loaded already, so
that reading a default never loads the library (nor click, pluggy or dandi).

The environment is read when a function below is called, never at import: a
variable set later (by a test, or in a long-lived process) counts.
"""

import os

# -- requests to the archive -------------------------------------------------

#: seconds a request to the archive may take as a whole (connection, answer,
#: retries and their waits); for a manifest, its connection and headers, and
#: each wait for more of its body, which may take longer only while it keeps
#: coming (``_http.MIN_BODY_RATE``)
DEFAULT_TIMEOUT = 60.0
#: a timeout must be below this many seconds: longer than any real wait, and a
#: round ceiling under :data:`threading.TIMEOUT_MAX`, which no wait may exceed
MAX_TIMEOUT = 1e9
#: the environment variable of the command line's ``--timeout`` (click reads
#: it; the Python API takes ``timeout=``)
TIMEOUT_ENV = "DANDI_COMPUTE_TIMEOUT"
#: how many remote requests run at once (``--jobs``, ``jobs=``)
DEFAULT_JOBS = 16
#: the most ``--jobs`` the command line accepts
MAX_JOBS = 64
#: how a local file is found to be on the server (``--verify``, ``verify=``):
#: the same dandi-etag or Zarr checksum, or only the same size
VERIFY_CHOICES = ("digest", "size")
#: the stronger of the two, by default
DEFAULT_VERIFY = "digest"

# -- the archive instance and its key ----------------------------------------

#: dandi's variable naming the instance, as for ``dandi -i``
INSTANCE_ENV = "DANDI_INSTANCE"
#: the instance when neither ``-i`` nor :data:`INSTANCE_ENV` names one
DEFAULT_INSTANCE = "dandi"


def dandi_instance() -> str:
    """The instance that ``$DANDI_INSTANCE`` names, else :data:`DEFAULT_INSTANCE`.

    Returns
    -------
    str
        An instance name or URL, as ``dandi -i`` takes it (an empty variable
        names none, as for click's ``envvar``).
    """
    return os.environ.get(INSTANCE_ENV) or DEFAULT_INSTANCE


def api_key_from_env(variable: str) -> "str | None":
    """The API key in the environment variable that dandi names for an instance.

    Parameters
    ----------
    variable
        dandi's name for it (``DandiAPIClient.api_key_env_var``):
        ``DANDI_API_KEY`` for the main instance, ``{INSTANCE}_API_KEY`` for
        another.

    Returns
    -------
    str or None
        The key; None when the variable is unset or empty.
    """
    return os.environ.get(variable) or None


# -- manifests ---------------------------------------------------------------

#: the dandiset whose manifest is read when none is named
DEFAULT_DANDISET_ID = "001697"
#: the version of a dandiset whose manifest is read when none is named
DEFAULT_DANDISET_VERSION = "draft"
#: a manifest URL template used for every instance (``url_template=``)
MANIFEST_URL_ENV = "DANDI_COMPUTE_MANIFEST_URL"
#: the cache's top directory, instead of the platform's user cache directory
CACHE_DIR_ENV = "DANDI_COMPUTE_CACHE_DIR"
#: seconds ``dandi compute cache clear`` waits at most for a run using an entry
CACHE_CLEAR_LOCK_TIMEOUT = 60.0


def manifest_url_template() -> "str | None":
    """The manifest URL template in ``$DANDI_COMPUTE_MANIFEST_URL`` (None: unset
    or empty)."""
    return os.environ.get(MANIFEST_URL_ENV) or None


def cache_directory_from_env() -> "str | None":
    """The cache directory in ``$DANDI_COMPUTE_CACHE_DIR`` (None: unset or empty)."""
    return os.environ.get(CACHE_DIR_ENV) or None


# -- hook plugins (pluggy, entry-point group ``dandi_compute``) ---------------

#: the entry-point group of deletion policy plugins (see :mod:`.hookspecs`)
HOOK_ENTRY_POINT_GROUP = "dandi_compute"
#: comma-separated names of hook plugins to run without
HOOK_DISABLE_ENV = "DANDI_COMPUTE_DISABLE_PLUGINS"
#: seconds one hook call may take, a generator hook's iteration included
HOOK_TIMEOUT_ENV = "DANDI_COMPUTE_HOOK_TIMEOUT"
#: the limit of one hook call when :data:`HOOK_TIMEOUT_ENV` is unset
DEFAULT_HOOK_TIMEOUT = 60.0


def hook_timeout() -> float:
    """The time limit of one hook call: ``$DANDI_COMPUTE_HOOK_TIMEOUT`` or
    :data:`DEFAULT_HOOK_TIMEOUT`.

    Raises
    ------
    ValueError
        When the variable is set to anything but a positive number of seconds.
    """
    text = os.environ.get(HOOK_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_HOOK_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < MAX_TIMEOUT:
        raise ValueError(
            f"{HOOK_TIMEOUT_ENV} must be a number of seconds > 0 and below "
            f"{MAX_TIMEOUT:g}: {text!r}"
        )
    return value


def disabled_hook_plugins() -> "set[str]":
    """The hook plugin names listed in ``$DANDI_COMPUTE_DISABLE_PLUGINS``."""
    listed = os.environ.get(HOOK_DISABLE_ENV, "").split(",")
    return {name.strip() for name in listed if name.strip()}


# -- the commands in the stock ``dandi`` (the ``.pth`` start-up hook) ---------

#: the entry-point group of click commands added to ``dandi``'s ``main`` group
COMMAND_ENTRY_POINT_GROUP = "dandi.commands"
#: turns the adding of those commands off
HOST_DISABLE_ENV = "DANDI_DISABLE_PLUGINS"


def host_plugins_disabled() -> bool:
    """Tell whether ``$DANDI_DISABLE_PLUGINS`` turns the adding of commands off.

    Returns
    -------
    bool
        True when the variable is set to anything but an empty string, ``0``,
        ``false``, ``no`` or ``off`` (case-insensitive).
    """
    value = os.environ.get(HOST_DISABLE_ENV, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")
