"""A fake DANDI Archive REST API on 127.0.0.1, for dandi's own, unpatched client.

``FakeArchive`` serves the endpoints dandi's client calls to resolve an instance,
check an API key, look up a dandiset and list and delete its assets, in the shapes of
dandi-archive's serializers, seeded from asset records in the ``assets.jsonld`` shape
(``tests.records.asset_record``).  Faults (status codes, delays, dropped connections,
held requests) are injected per request pattern; every request is logged.
"""

from .faults import Fault, LoggedRequest
from .server import FakeArchive

__all__ = ["FakeArchive", "Fault", "LoggedRequest"]
