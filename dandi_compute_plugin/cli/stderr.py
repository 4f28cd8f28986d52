"""What the ``dandi compute`` commands print on standard error: escaped, redacted.

Standard output is escaped by :mod:`.formats`; this module does the same for
standard error.  :func:`escape_terminal_logs` puts a filter on the terminal's
log handlers (the stream handlers of the root and ``dandi`` loggers, which
dandi's ``main`` sets up): every message reaches them with its control
characters escaped (a file name holding an escape sequence or a newline cannot
act on the terminal or forge a line), and a traceback only at ``-l DEBUG``.
:class:`ComputeGroup` rewrites the message of a :class:`click.ClickException`
(the ``Error:`` line) the same way, the API key redacted first.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from .._text import escape_control


class _EscapeForTerminal(logging.Filter):
    """Escapes each record's message (the record itself: the log file gets the
    escaped message too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format: the handler reports it
            return True
        escaped = escape_control(message, backslash=False)
        if escaped != message:
            record.msg, record.args = escaped, None
        return True


def _terminal_handlers() -> list[logging.Handler]:
    found = []
    for name in ("", "dandi"):
        for handler in logging.getLogger(name).handlers:
            is_stream = isinstance(handler, logging.StreamHandler)
            if is_stream and not isinstance(handler, logging.FileHandler):
                found.append(handler)
    return found


class _WithoutTraceback(logging.Formatter):
    """A handler's formatter, without the record's traceback and stack (which
    stay on the record for the other handlers: dandi's log file keeps them)."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:  # noqa: D102
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def escape_terminal_logs() -> None:
    """Escape the messages of every log handler writing to a stream, and drop
    their tracebacks unless the handler shows DEBUG (once each)."""
    for handler in _terminal_handlers():
        if not any(isinstance(f, _EscapeForTerminal) for f in handler.filters):
            handler.addFilter(_EscapeForTerminal())
        quiet = handler.level > logging.DEBUG or handler.level == logging.NOTSET
        if quiet and not isinstance(handler.formatter, _WithoutTraceback):
            handler.setFormatter(_WithoutTraceback(handler.formatter))


def safe_message(text: str) -> str:
    """An error message for the terminal: the API key redacted, then escaped."""
    # a key was registered only if the module that registers keys was loaded
    secrets = sys.modules.get("dandi_compute_plugin.deletion.secrets")
    if secrets is not None:
        text = secrets.redact(text)
    return escape_control(text, backslash=False)


class ComputeGroup(click.Group):
    """A click group whose commands' errors and log lines are printed escaped."""

    def invoke(self, ctx: click.Context) -> Any:  # noqa: D102
        escape_terminal_logs()
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            exc.message = safe_message(exc.message)
            raise
