"""Keeping the API key out of every output: messages, exceptions, and every log.

A key is registered (:func:`hide_in_logs`) before the first request that carries
it.  From then on :func:`redact` replaces it -- in every rendering a message may
hold: raw, ``repr()``-escaped (``'token KEY\\r'``), JSON-escaped, URL-encoded,
HTML-escaped -- by ``<redacted>``.  Redaction always comes first, before text is
shortened or formatted: a key cut in two is no longer found.

Other libraries log too (dandi's client writes the body of a failed response,
which a server may fill with the request's ``Authorization`` header), so
registering a key also installs a log record factory (:mod:`logging`'s public
hook, chained to the one before): every record created from then on, by any
logger, reaches every handler -- the terminal, dandi's log file, one added later
-- with its message, traceback and stack redacted.  A traceback becomes text
there (``exc_text``), so that no handler formats the exception itself again.

A key is also checked (:func:`key_problem`) before it is sent: one with white
space or a control character is refused with a message saying what is wrong
with it, without it.
"""

from __future__ import annotations

from collections.abc import Iterable
import html
import json
import logging
import re
import threading
import traceback
from typing import Any
from urllib.parse import quote, quote_plus

PLACEHOLDER = "<redacted>"

_HEX_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def renderings(secret: str) -> set[str]:
    """The spellings of ``secret`` that a message may hold.

    Raw; as ``repr()`` escapes it in a ``str`` (either quote) or in ``bytes``;
    as JSON escapes it (ASCII or not, ``/`` as ``\\/`` or not, every character
    as ``\\uXXXX``); URL-encoded (``quote``, ``quote_plus``, every byte as
    ``%XX``; upper- or lower-case hex); HTML-escaped.
    """
    found = {secret, repr(secret)[1:-1], repr("'\"" + secret)[4:-1]}
    found.add(repr(secret.encode("utf-8", "surrogateescape"))[2:-1])
    found.add(secret.encode("unicode_escape").decode("ascii"))
    for ascii_only in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        found |= {escaped, escaped.replace("/", "\\/")}
    every_byte = "".join(f"%{b:02X}" for b in secret.encode("utf-8", "replace"))
    for encoded in (quote(secret, safe=""), quote(secret), quote_plus(secret)):
        found |= {encoded, _HEX_ESCAPE.sub(lambda m: m.group().lower(), encoded)}
    found |= {every_byte, every_byte.lower()}
    every_char = "".join(f"\\u{ord(c):04x}" for c in secret if ord(c) < 0x10000)
    if len(every_char) == 6 * len(secret):  # JSON with every character escaped
        found |= {every_char, every_char.upper().replace("\\U", "\\u")}
    found |= {html.escape(secret), html.escape(secret, quote=False)}
    return {text for text in found if text}


class _Registry:
    """The registered secrets and one pattern matching all their renderings."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.secrets: frozenset[str] = frozenset()
        self.pattern: re.Pattern[str] | None = None

    def add(self, secret: str) -> None:
        with self._lock:
            if secret in self.secrets:
                return
            self.secrets = self.secrets | {secret}
            self.pattern = _pattern(self.secrets)


def _pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    texts = set().union(*(renderings(s) for s in secrets if s))
    if not texts:
        return None
    # the longest first: a rendering that contains another is replaced whole
    return re.compile("|".join(map(re.escape, sorted(texts, key=len, reverse=True))))


_REGISTRY = _Registry()


def redact(text: str, secrets: Iterable[str | None] | None = None) -> str:
    """Return ``text`` with every rendering of a secret replaced by ``<redacted>``.

    Parameters
    ----------
    text
        Any message.
    secrets
        Strings that must not appear (empty and None ones are ignored) besides
        those registered with :func:`hide_in_logs`, which are always redacted.

    Returns
    -------
    str
    """
    extra = [s for s in secrets or () if s and s not in _REGISTRY.secrets]
    for pattern in (_REGISTRY.pattern, _pattern(extra) if extra else None):
        if pattern is not None:
            text = pattern.sub(PLACEHOLDER, text)
    return text


def key_problem(key: str) -> str | None:
    """What makes ``key`` unfit for an ``Authorization`` header, or None.

    Only printable ASCII other than the space is accepted (a DANDI key is 40
    hexadecimal digits): a key read from a file with Windows line ends, or
    pasted with a space, is refused before it is sent.  The answer names the
    character and its position, never the key.
    """
    if not key:
        return "is empty"
    for position, char in enumerate(key, 1):
        if "!" <= char <= "~":
            continue
        if char in "\r\n":
            kind = "a line end (\\r or \\n)"
        elif char.isspace():
            kind = "white space"
        elif char.isprintable():
            kind = "a character that is not ASCII"
        else:
            kind = "a control character"
        return f"holds {kind} at character {position} of {len(key)}"
    return None


def _scrubbed(record: logging.LogRecord, pattern: re.Pattern[str]) -> None:
    """Redact one record in place: message, traceback (as text), stack."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format: the handler reports it, unredacted
        message = None  # args are not shown then, the format string is
    if message is not None and pattern.search(message):
        record.msg, record.args = pattern.sub(PLACEHOLDER, message), None
    if record.exc_info:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_text, record.exc_info = text, None
    if record.exc_text:
        record.exc_text = pattern.sub(PLACEHOLDER, record.exc_text)
    if record.stack_info:
        record.stack_info = pattern.sub(PLACEHOLDER, record.stack_info)


class _RedactingFactory:
    """A log record factory: the previous one's records, redacted."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        pattern = _REGISTRY.pattern
        if pattern is not None:
            _scrubbed(record, pattern)
        return record


_INSTALL_LOCK = threading.Lock()


def _install() -> None:
    with _INSTALL_LOCK:
        factory = logging.getLogRecordFactory()
        if not isinstance(factory, _RedactingFactory):
            logging.setLogRecordFactory(_RedactingFactory(factory))


def hide_in_logs(secret: str) -> None:
    """Redact ``secret`` from every message, exception text of this package and
    log record from now on, by any library, in every rendering."""
    if secret:
        _install()
        _REGISTRY.add(secret)
