"""The tray's first icon at start: the state kept on disk, and what is kept at the exit."""

from __future__ import annotations

import datetime as dt
import logging
import stat
from pathlib import Path

import pytest
from seatkeeper.core.state import PendingItem, SeatState, Status
from seatkeeper.tray.starting import LastState, for_next_start, read_last, write_last

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def test_the_state_kept_is_read_back_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "tray-state.json"
    kept = LastState(SeatState.ACTIVE, borrowed=True, signed_in=True)
    write_last(path, kept)
    assert read_last(path) == kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("content", [b"", b"{", b'{"icon": "on fire"}', b"[1, 2]",
                                     b'{"borrowed": true}', b"\xff\xfe", b"{}" + b" " * 9000])
def test_a_missing_or_odd_file_gives_the_neutral_icon(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tray-state.json"
    assert read_last(path) == LastState()
    path.write_bytes(content)
    assert read_last(path) == LastState()


def test_a_file_that_cannot_be_written_is_only_logged(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "seatkeeper.tray")
    (tmp_path / "file").write_text("")
    write_last(tmp_path / "file" / "tray-state.json", LastState(SeatState.ACTIVE))
    assert "could not be kept" in caplog.text


def status(state: SeatState, **fields: object) -> Status:
    return Status(state=state, account="ana@example.com", **fields)  # type: ignore[arg-type]


def test_the_next_start_shows_the_state_the_agent_will_start_in() -> None:
    """A seat given back on the way out is asked for again: the neutral icon; a seat kept
    (borrowed) is shown held with its badge; a logout as it is."""
    released = status(SeatState.RELEASED)
    assert for_next_start(released) == LastState(SeatState.ACQUIRING, False, True)
    queued = status(SeatState.ACTIVE, pending=(PendingItem(kind="release", created_at=NOW),))
    assert for_next_start(queued) == LastState(SeatState.ACQUIRING, False, True)
    borrowed = status(SeatState.OFFLINE, borrowed_until=NOW + dt.timedelta(days=3))
    assert for_next_start(borrowed) == LastState(SeatState.ACTIVE, True, True)
    assert for_next_start(status(SeatState.SEAT_LIMIT_REACHED)).icon is SeatState.ACQUIRING
    signed_out = Status(state=SeatState.SIGNED_OUT)
    assert for_next_start(signed_out) == LastState(SeatState.SIGNED_OUT, False, False)
    pending = Status(state=SeatState.LOGOUT_PENDING)
    assert for_next_start(pending) == LastState(SeatState.LOGOUT_PENDING, False, False)
