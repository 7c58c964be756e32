"""Making untrusted text safe to show: control characters escaped, formulas kept as text.

Enterprise names, summaries and ids come from users. Printed raw, an ESC sequence can rewrite a
terminal, a carriage return can hide a line, U+202E can reverse what a reader sees; written to
a spreadsheet, a cell starting with ``=`` can run as a formula. Every output of the kernel goes
through these helpers: the CLI's stdout and stderr through :class:`EscapingStream`, tables and
reports through :func:`visible` and :func:`spreadsheet_text`.
"""

from __future__ import annotations

import re
import threading
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

#: C0 and C1 controls (except tab and newline) and the characters that change text direction
CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
#: the same, newline and tab included (for one-line values such as ids and table cells)
CONTROL_OR_NEWLINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
#: what a spreadsheet reads as the start of a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(match: re.Match[str]) -> str:
    # \uXXXX: readable, and still a valid escape inside a JSON string
    return f"\\u{ord(match.group()):04x}"


def visible(text: str, *, one_line: bool = False) -> str:
    """``text`` with control and direction characters written as ``\\u001b``, ``\\u202e``.

    Newlines and tabs are kept unless ``one_line`` (ids, table cells).
    """
    return (CONTROL_OR_NEWLINE if one_line else CONTROL).sub(_escape, text)


def spreadsheet_text(text: str) -> str:
    """A text cell for CSV: visible, and prefixed with ``'`` when it would start a formula."""
    if text.startswith(FORMULA_START):
        text = "'" + text
    return visible(text, one_line=False)


def is_formula_like(value: Any) -> bool:
    """Whether a spreadsheet would take this cell value as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


class EscapingStream:
    """A text stream that escapes control characters (and masks secrets, see
    :func:`add_secret`) on the way to ``target``.

    ``\\r`` is let through only at the start of a write (a progress bar redrawing its line).
    """

    def __init__(self, target: TextIO) -> None:
        self.target = target

    def write(self, text: str) -> int:
        head = ""
        if text.startswith("\r"):
            head, text = "\r", text[1:]
        self.target.write(head + visible(hide_secrets(text)))
        return len(text) + len(head)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


# --------------------------------------------------------------------------- secrets

#: what a secret is replaced with
MASK = "***"
#: values shorter than this are flags or numbers, not secrets; masking them garbles messages
MIN_SECRET = 4
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def add_secret(value: str) -> None:
    """Remember a value that must never be shown (one expanded from an environment variable).

    From then on :func:`hide_secrets` masks it -- and its URL-encoded forms -- in everything
    the command line prints and in every error an outbox stores.
    """
    if len(value) < MIN_SECRET:
        return
    with _secrets_lock:
        _secrets.update((value, quote(value, safe=""), quote_plus(value)))


def hide_secrets(text: str, extra: tuple[str, ...] = ()) -> str:
    """``text`` with every remembered secret (and ``extra`` ones) replaced by ``***``."""
    with _secrets_lock:
        known = set(_secrets)
    for value in extra:
        if value:
            known.update((value, quote(value, safe=""), quote_plus(value)))
    for value in sorted(known, key=len, reverse=True):  # longest first: no partial leaks
        if value and value in text:
            text = text.replace(value, MASK)
    return text
