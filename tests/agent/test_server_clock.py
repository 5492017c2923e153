"""The server's time as the agent last knew it: a floor that only moves forward, kept on disk."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from seatkeeper.service.server_clock import SAVE_EVERY_S, ServerClock

SEEN = dt.datetime(2026, 11, 29, 8, 0, 0, tzinfo=dt.UTC)


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_floor_advances_with_the_monotonic_clock_and_never_goes_back(
        tmp_path: Path) -> None:
    """Seen at 08:00, 30 s of running later it is at least 08:00:30; an older time is no news."""
    ticks = Ticks()
    clock = ServerClock(tmp_path, monotonic=ticks)
    assert clock.floor() is None
    clock.seen(SEEN)
    ticks.now += 30
    assert clock.floor() == SEEN + dt.timedelta(seconds=30)
    clock.seen(SEEN + dt.timedelta(seconds=10))
    assert clock.floor() == SEEN + dt.timedelta(seconds=30)


def test_a_restart_starts_from_the_floor_kept_on_disk(tmp_path: Path) -> None:
    """The advanced floor is written every SAVE_EVERY_S and at stop; a new process reads it."""
    ticks = Ticks()
    clock = ServerClock(tmp_path, monotonic=ticks)
    clock.seen(SEEN)
    ticks.now += SAVE_EVERY_S + 5
    clock.save_if_due()
    restarted = ServerClock(tmp_path, monotonic=Ticks())
    assert restarted.floor() == SEEN + dt.timedelta(seconds=SAVE_EVERY_S + 5)
    ticks.now += 3
    clock.save()
    assert ServerClock(tmp_path, monotonic=Ticks()).floor() == \
        SEEN + dt.timedelta(seconds=SAVE_EVERY_S + 8)


def test_a_new_login_forgets_the_floor_and_a_broken_file_is_no_floor(tmp_path: Path) -> None:
    """`forget` (at login) drops the floor and its file; an unreadable file counts as none."""
    clock = ServerClock(tmp_path)
    clock.seen(SEEN)
    clock.forget()
    assert clock.floor() is None and not clock.path.exists()
    clock.path.write_text("{not json")
    assert ServerClock(tmp_path).floor() is None
