"""Every exception a caller of dandi-compute-plugin can meet.

Each one is a :class:`DandiComputeError` (``except DandiComputeError`` catches
them all) and keeps the built-in base it has always had (``ValueError``,
``RuntimeError``) as a second parent, so existing ``except ValueError`` clauses
still catch it.

This module imports nothing of the package, not even for type checkers: catching
an error never needs the module that raises it, and no module of the package is
too low to raise one.  The two errors of an incomplete run take their text from
the run's report.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Protocol

    class _Report(Protocol):
        """What an incomplete run's error needs of its report."""

        def failures_text(self) -> str: ...


class DandiComputeError(Exception):
    """The base of every error of dandi-compute-plugin.

    An error whose constructor takes more than its message rebuilds itself from
    those arguments when pickled or copied (a process pool sends it back to the
    caller that way): it says so with ``__reduce__``.
    """


class InvalidVersionError(DandiComputeError, ValueError):
    """A VERSION argument that cannot name a pipeline version."""


# ----------------------------------------------------------------- manifests


class ManifestError(DandiComputeError):
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

    def __reduce__(self) -> tuple[object, ...]:
        args = (self.source, self.problem, self.record, self.path)
        return type(self), args, self.__dict__


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

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (self.args[0], self.url, self.status), self.__dict__


class UnsafeCacheDirectoryError(ManifestError):
    """The manifest cache is not private to the user (a link, another user's,
    writable by others) and a fresh copy was asked for: it is left alone."""


class ManifestLocationError(ManifestError, ValueError):
    """A manifest location cannot be derived from the arguments."""


# ----------------------------------------------------------------- deletion


class NotADandisetError(DandiComputeError, ValueError):
    """The directory given as a dandiset's clone has no readable
    ``dandiset.yaml`` naming the dandiset: nothing was changed."""


class ArchiveError(DandiComputeError, RuntimeError):
    """The archive could not be used (instance, dandiset, connection)."""


class AuthenticationError(ArchiveError):
    """No usable API key; nothing was changed."""


class JournalBusyError(DandiComputeError, RuntimeError):
    """Another run holds the deletion journal of this clone."""


class JournalError(DandiComputeError, RuntimeError):
    """The deletion journal of a clone cannot be trusted: nothing was changed.

    Attributes
    ----------
    path
        The journal file.
    """

    def __init__(self, message: str, path: str) -> None:
        self.path = path
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (self.args[0], self.path), self.__dict__


class JournalMismatchError(JournalError):
    """The journal was written for another archive instance, dandiset or clone."""


class UnsafePathError(DandiComputeError, RuntimeError):
    """A path that is not a real directory inside ``derivatives/dandiset-*``."""


class UnknownPluginError(DandiComputeError, ValueError):
    """A hook plugin to disable is not installed (a typo would leave the policy
    on that the user believes off)."""


class DeletionIncomplete(DandiComputeError, RuntimeError):
    """Raised by :func:`~dandi_compute_plugin.delete_dandiset_version` when some
    target was refused or failed; every other target was still processed.

    Its text is the report's
    :meth:`~dandi_compute_plugin.deletion.DeletionReport.failures_text`: each
    directory not deleted, with its status and reason.

    Attributes
    ----------
    report
        The full :class:`~dandi_compute_plugin.deletion.DeletionReport`.
    """

    def __init__(self, report: _Report) -> None:
        self.report = report
        super().__init__(report.failures_text())

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (self.report,), self.__dict__


class MoveUsageError(DandiComputeError, ValueError):
    """A move asked for something it cannot mean (a selection that is neither a
    VERSION nor a version directory, a target dandiset -- ``to``, ``--to`` --
    naming no dandiset, the clone's own dandiset or another instance): nothing
    was changed."""


class MoveIncomplete(DandiComputeError, RuntimeError):
    """Raised by :func:`~dandi_compute_plugin.move_version_directories` when some
    directory was refused or failed; every other one was still processed.

    Its text is the report's
    :meth:`~dandi_compute_plugin.move.MoveReport.failures_text`.

    Attributes
    ----------
    report
        The full :class:`~dandi_compute_plugin.move.MoveReport`.
    """

    def __init__(self, report: _Report) -> None:
        self.report = report
        super().__init__(report.failures_text())

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (self.report,), self.__dict__
