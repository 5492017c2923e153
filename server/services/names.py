"""Names the server stores and shows to people: no control characters, no bidi overrides.

A device name holding U+202E (right-to-left override) reads as something else on the
approve page (RFC 8628 section 5.4: a phishing aid). Refused everywhere a name is stored:
device name and platform, account email, license name, and the application name and
version a seat request records: control characters (Cc), bidirectional controls (the
issue's list and U+061C, the Arabic letter mark) and the line and paragraph separators
(U+2028, U+2029: a line break inside a one-line name). Joiners (U+200D in emoji sequences,
U+200C in Persian) and other format characters that real names use stay allowed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from seatkeeper_server import errors

BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                          "\u2066\u2067\u2068\u2069")
SEPARATORS = frozenset(("Zl", "Zp"))


def problem(value: str) -> str | None:
    """What is wrong with this name, in words, or None when it may be stored."""
    for ch in value:
        if unicodedata.category(ch) == "Cc":
            return f"must not contain control characters (U+{ord(ch):04X})"
        if ch in BIDI_CONTROLS:
            return f"must not contain bidirectional controls (U+{ord(ch):04X})"
        if unicodedata.category(ch) in SEPARATORS:
            return f"must not contain line or paragraph separators (U+{ord(ch):04X})"
    return None


def check(fields: Mapping[str, str]) -> None:
    """400 INVALID_REQUEST naming each field whose value holds a forbidden character."""
    wrong = {name: reason for name, value in fields.items()
             if (reason := problem(value)) is not None}
    if wrong:
        listing = "; ".join(f"{name} {reason}" for name, reason in wrong.items())
        raise errors.InvalidRequest(f"The request is not valid: {listing}.", {"fields": wrong})
