"""Keeping the API key out of every output: messages, and the logs of every library.

The plugin's own messages pass through :func:`redact`.  Other libraries log too --
dandi's client writes the body of a failed response, which a server may fill with
the request's ``Authorization`` header -- so :func:`hide_in_logs` puts a filter on
every handler of the root and ``dandi`` loggers (the terminal and dandi's log
file): whatever reaches them, from any logger, is redacted first.
"""

from __future__ import annotations

from collections.abc import Iterable
import logging
import threading

PLACEHOLDER = "<redacted>"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Return ``text`` with every secret replaced by ``<redacted>``.

    Parameters
    ----------
    text
        Any message.
    secrets
        Strings that must not appear (empty and None ones are ignored).

    Returns
    -------
    str
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, PLACEHOLDER)
    return text


class _Redactor(logging.Filter):
    """Rewrites each record (message, arguments, traceback) without the secrets."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = tuple(self.secrets)
        if not secrets:
            return True
        message = record.getMessage()
        clean = redact(message, secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True

    def install(self) -> None:
        """Attach to every handler of the root and ``dandi`` loggers (once each)."""
        with self._lock:
            for name in ("", "dandi"):
                for handler in logging.getLogger(name).handlers:
                    if self not in handler.filters:
                        handler.addFilter(self)


_REDACTOR = _Redactor()


def hide_in_logs(secret: str) -> None:
    """Redact ``secret`` from everything logged from now on, by any library."""
    if secret:
        _REDACTOR.secrets.add(secret)
        _REDACTOR.install()
