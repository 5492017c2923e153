"""Time on the wire: RFC 3339 UTC strings in whole seconds, dates as YYYY-MM-DD."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

Clock = Callable[[], float]


def system_clock() -> float:
    """The wall clock, in epoch seconds."""
    return time.time()


def to_rfc3339(epoch: int | None) -> str | None:
    """`1764403200` -> `"2025-11-29T08:00:00Z"`; None stays None (no limit)."""
    if epoch is None:
        return None
    # time.gmtime, not datetime: a signed lease writes three of these, twice as fast so.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def parse_rfc3339(text: str) -> int:
    """An RFC 3339 timestamp with a zone (`Z` or an offset) -> epoch seconds.

    Raises ValueError with a message fit for a person.
    """
    try:
        value = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError("must be an RFC 3339 time such as 2026-11-29T08:00:00Z") from None
    if value.tzinfo is None:
        raise ValueError("must carry a time zone, e.g. the Z of 2026-11-29T08:00:00Z")
    try:
        year = value.astimezone(dt.UTC).year
    except OverflowError:
        year = 0
    if not 1970 <= year <= 9999:  # what to_rfc3339 can write back
        raise ValueError("must be a UTC time between the years 1970 and 9999")
    return int(value.timestamp())


def parse_date(text: str) -> dt.date:
    """`YYYY-MM-DD` -> date; raises ValueError naming the expected form."""
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError("must be a date in the form YYYY-MM-DD") from None
