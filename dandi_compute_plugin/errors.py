"""Every exception a caller of dandi-compute-plugin can meet.

One module, imported by the others and by nothing heavy: catching an error never
needs the module that raises it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from .deletion.model import DeletionReport
    from .move.model import MoveReport


class InvalidVersionError(ValueError):
    """A VERSION argument that cannot name a pipeline version."""


# ----------------------------------------------------------------- manifests


class ManifestError(Exception):
    """A manifest could not be read; never answered by an empty index."""


class ManifestFormatError(ManifestError, ValueError):
    """The manifest is not a JSON array of valid asset records.

    Attributes
    ----------
    source
        The URL or file the manifest came from.
    record
        The number (from 1) of the offending record, or None.
    path
        The offending record's ``path`` when known, else None.
    problem
        What is wrong, without the location.
    """

    def __init__(
        self,
        source: str,
        problem: str,
        record: int | None = None,
        path: str | None = None,
    ) -> None:
        self.source, self.problem, self.record, self.path = (
            source,
            problem,
            record,
            path,
        )
        where = ""
        if record is not None:
            where = f" record {record}"
            if path is not None:
                where += f" (path {path!r})"
            where += ":"
        super().__init__(f"Invalid manifest {source}:{where} {problem}")


class ManifestUnavailableError(ManifestError):
    """The manifest could not be fetched: network failure, HTTP 404, 403, ...

    Attributes
    ----------
    url
        The URL requested.
    status
        The HTTP status code, or None when there was no HTTP answer.
    """

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        self.url, self.status = url, status
        super().__init__(message)


class UnsafeCacheDirectoryError(ManifestError):
    """The manifest cache is not private to the user (a link, another user's,
    writable by others) and a fresh copy was asked for: it is left alone."""


class ManifestLocationError(ManifestError, ValueError):
    """A manifest location cannot be derived from the arguments."""


# ----------------------------------------------------------------- deletion


class ArchiveError(RuntimeError):
    """The archive could not be used (instance, dandiset, connection)."""


class AuthenticationError(ArchiveError):
    """No usable API key; nothing was changed."""


class JournalBusyError(RuntimeError):
    """Another run holds the deletion journal of this clone."""


class JournalError(RuntimeError):
    """The deletion journal of a clone cannot be trusted: nothing was changed.

    Attributes
    ----------
    path
        The journal file.
    """

    def __init__(self, message: str, path: str) -> None:
        self.path = path
        super().__init__(message)


class JournalMismatchError(JournalError):
    """The journal was written for another archive instance, dandiset or clone."""


class UnsafePathError(RuntimeError):
    """A path that is not a real directory inside ``derivatives/dandiset-*``."""


class UnknownPluginError(ValueError):
    """A hook plugin to disable is not installed (a typo would leave the policy
    on that the user believes off)."""


class HookFailed(RuntimeError):
    """A before-target hook raised: its target is not touched."""


class DeletionIncomplete(RuntimeError):
    """Raised by :func:`~dandi_compute_plugin.delete_dandiset_version` when some
    target was refused or failed; every other target was still processed.

    Attributes
    ----------
    report
        The full :class:`~dandi_compute_plugin.deletion.DeletionReport`.
    """

    def __init__(self, report: DeletionReport) -> None:
        self.report = report
        bad = [r for r in report.results if not r.ok]
        lines = [f"{r.target.relpath}: {r.status.value}: {r.reason}" for r in bad]
        lines += [f"cannot be read: {e}" for e in report.scan_errors]
        not_read = (
            f", {len(report.scan_errors)} directories not read"
            if report.scan_errors
            else ""
        )
        super().__init__(
            f"{len(bad)} of {len(report.results)} version directories not deleted"
            f"{not_read}:\n" + "\n".join(lines)
        )


class MoveUsageError(ValueError):
    """A move asked for something it cannot mean (a selection that is neither a
    VERSION nor a version directory, a ``--to`` naming no dandiset, the clone's
    own dandiset or another instance): nothing was changed."""


class MoveIncomplete(RuntimeError):
    """Raised by :func:`~dandi_compute_plugin.move_version_directories` when some
    directory was refused or failed; every other one was still processed.

    Attributes
    ----------
    report
        The full :class:`~dandi_compute_plugin.move.MoveReport`.
    """

    def __init__(self, report: MoveReport) -> None:
        self.report = report
        bad = [r for r in report.results if not r.ok]
        lines = [
            f"{r.result.target.relpath}: {r.status}: {r.result.reason}" for r in bad
        ]
        lines += [f"cannot be read: {e}" for e in report.scan_errors]
        super().__init__(
            f"{len(bad)} of {len(report.results)} directories not moved:\n"
            + "\n".join(lines)
        )
