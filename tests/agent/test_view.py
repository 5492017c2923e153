"""What `status` says beside the state: offline names the failure, a healthy seat says nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from seatkeeper.config import Config, Paths
from seatkeeper.core.state import Facts, SeatRefusal, SeatState, Status
from seatkeeper.service.view import build_status

NOW = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)
HELD_UNTIL = NOW + dt.timedelta(minutes=10)
CONFIG = Config(paths=Paths(config_file=Path("/x/config.toml"), data_dir=Path("/x/data"),
                            log_dir=Path("/x/logs"), runtime_dir=Path("/x/run")))


def status(facts: Facts, message: str | None) -> Status:
    return build_status(facts, NOW, session=None, signed_in=True, envelope=None, holders=(),
                        message=message, pending=(), config=CONFIG)


def test_offline_says_until_when_and_why() -> None:
    """A failed contact: the message gives the seat's end and the failure in words."""
    facts = Facts(signed_in=True, lease_expires_at=HELD_UNTIL, contact_failure="timeout")
    shown = status(facts, "The server did not answer within 15 s.")
    assert shown.state is SeatState.OFFLINE
    assert shown.message == ("Offline; seat held until 2026-11-29T08:10:00Z. "
                             "The server did not answer within 15 s.")


def test_unavailable_refusal_gives_the_servers_words() -> None:
    """503 UNAVAILABLE is offline too, with the server's own message."""
    facts = Facts(signed_in=True, lease_expires_at=HELD_UNTIL,
                  refusal=SeatRefusal(code="UNAVAILABLE", message="Down for maintenance."))
    shown = status(facts, None)
    assert shown.state is SeatState.OFFLINE
    assert shown.message is not None and shown.message.endswith("Down for maintenance.")


def test_acquiring_while_unreachable_says_why() -> None:
    """No seat yet and no server: the message says what is wrong with the connection."""
    facts = Facts(signed_in=True, contact_failure="refused")
    shown = status(facts, "Nothing answers (connection refused).")
    assert shown.state is SeatState.ACQUIRING
    assert shown.message is not None and "connection refused" in shown.message
