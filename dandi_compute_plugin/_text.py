"""Text from outside (file names, server answers) made safe to show."""

from __future__ import annotations

import re

#: characters shown escaped on a terminal or in line output: C0 and C1 controls,
#: DEL, line and paragraph separators, the marks and overrides of bidirectional
#: text (which make a terminal show a line's characters in another order than
#: they are), lone surrogates (valid in JSON, not encodable) -- and the
#: backslash that starts an escape
_CONTROL_CLASS = (
    r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff"
)
_UNSAFE = re.compile(f"[{_CONTROL_CLASS}\\\\]")
_CONTROLS = re.compile(f"[{_CONTROL_CLASS}]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\"}


def escape_control(text: str, backslash: bool = True) -> str:
    """Escape control characters as ``ls -b`` does (``\\n``, ``\\x1b``, ``\\\\``).

    A file name holding a newline then cannot print a line that looks like a
    line of the report, nor a terminal escape sequence act on the terminal.
    Without ``backslash`` a backslash stays as it is (for messages that quote
    values with ``repr()``, already escaped).
    """
    pattern = _UNSAFE if backslash else _CONTROLS
    return pattern.sub(
        lambda m: (
            _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}")
            if ord(m.group()) < 0x100
            else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


def shorten(text: str, limit: int) -> str:
    """``text`` with its runs of white space made one space, cut to ``limit``
    characters (an ellipsis marks the cut).  Redact *before* this: a secret cut
    in two is no longer found."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
