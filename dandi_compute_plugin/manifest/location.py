"""Where a manifest is: a dandiset version's URL on an instance, or a given source.

The archive publishes the asset metadata of each dandiset version as one
``assets.jsonld`` file.  Only the main instance's layout is known
(:data:`MANIFEST_URL_TEMPLATES`); for another instance a URL template can be given
(``url_template=`` or ``$DANDI_COMPUTE_MANIFEST_URL``), or the manifest itself as a
:data:`Source`.
"""

from __future__ import annotations

import os
import re
from typing import IO, Any

from ..defaults import (
    DEFAULT_DANDISET_ID,
    DEFAULT_DANDISET_VERSION,
    DEFAULT_INSTANCE,
    MANIFEST_URL_ENV,
    manifest_url_template,
)
from ..defaults import dandi_instance as instance_from_env
from ..errors import ManifestLocationError

#: where the manifests of the instances whose layout is known live
MANIFEST_URL_TEMPLATES = {
    "dandi": "https://dandiarchive.s3.amazonaws.com/dandisets/"
    "{dandiset_id}/{version}/assets.jsonld",
}

#: ``source``: a URL, a file path, ``"-"`` (standard input) or a binary stream
Source = str | os.PathLike | IO[bytes]


def is_url(source: object) -> bool:
    """Return True when ``source`` is an ``http://`` or ``https://`` URL."""
    return isinstance(source, str) and source.lower().startswith(
        ("http://", "https://")
    )


def _instance_name(dandi_instance: Any) -> str | None:
    """The known instance's name, None for an unknown instance URL."""
    from dandi.consts import known_instances, known_instances_rev

    name = getattr(dandi_instance, "name", None)
    if name is not None:  # a dandi.consts.DandiInstance
        return name if name in known_instances else None
    text = str(dandi_instance)
    if text.lower().startswith(("http://", "https://")):
        return known_instances_rev.get(text.rstrip("/"))
    if text == "dandi-staging":
        raise ManifestLocationError(
            "'dandi-staging' DANDI instance identifier was removed; "
            "the instance was renamed 'dandi-sandbox'"
        )
    if text not in known_instances:
        raise ManifestLocationError(
            f"Unknown DANDI instance {text!r}; known instances: "
            f"{', '.join(sorted(known_instances))}, or an URL"
        )
    return text


def manifest_url(
    dandiset_id: str = DEFAULT_DANDISET_ID,
    version: str = DEFAULT_DANDISET_VERSION,
    dandi_instance: Any = DEFAULT_INSTANCE,
    *,
    url_template: str | None = None,
) -> str:
    """Return the URL of a dandiset version's ``assets.jsonld`` manifest.

    Parameters
    ----------
    dandiset_id
        Six digits, e.g. ``001697`` (``DANDI:001697`` is accepted).
    version
        ``draft`` or a published version such as ``0.240101.1234``.
    dandi_instance
        A known instance name (as ``dandi -i``), an instance URL, or a
        ``dandi.consts.DandiInstance``; None: ``$DANDI_INSTANCE`` or ``dandi``,
        as a deletion takes it.
    url_template
        A template with ``{dandiset_id}`` and ``{version}`` fields to use instead
        of the instance's; default: ``$DANDI_COMPUTE_MANIFEST_URL`` when set.

    Returns
    -------
    str

    Raises
    ------
    ManifestLocationError
        For an invalid id or version, an unknown instance, or an instance whose
        manifest location is not known (pass a ``source`` instead).
    """
    from dandi.consts import DANDISET_ID_REGEX, VERSION_REGEX

    dandiset_id = str(dandiset_id)
    if dandiset_id.upper().startswith("DANDI:"):
        dandiset_id = dandiset_id[6:]
    if not re.fullmatch(DANDISET_ID_REGEX, dandiset_id):
        raise ManifestLocationError(
            f"Invalid dandiset id {dandiset_id!r}: expected six digits, e.g. 001697"
        )
    if not isinstance(version, str) or not re.fullmatch(VERSION_REGEX, version):
        raise ManifestLocationError(
            f"Invalid dandiset version {version!r}: expected 'draft' or a published "
            "version such as 0.240101.1234"
        )
    if dandi_instance is None:
        dandi_instance = instance_from_env()
    name = _instance_name(dandi_instance)
    template = url_template or manifest_url_template()
    if template is None:
        template = MANIFEST_URL_TEMPLATES.get(name or "")
    if template is None:
        raise ManifestLocationError(
            f"The location of the assets.jsonld manifests of DANDI instance "
            f"{str(getattr(dandi_instance, 'name', dandi_instance))!r} is not known: "
            "pass --source URL|FILE|- (source= in Python), or set "
            f"{MANIFEST_URL_ENV} to a URL template with {{dandiset_id}} and "
            "{version}"
        )
    try:
        return template.format(dandiset_id=dandiset_id, version=version)
    except (KeyError, IndexError, ValueError) as exc:
        raise ManifestLocationError(
            f"Invalid manifest URL template {template!r} ({type(exc).__name__}: "
            f"{exc}): it may hold the fields {{dandiset_id}} and {{version}} only "
            "(write a literal brace twice)"
        ) from None
