"""`seatkeeper status` and `config show` in words: the tray's lines, local times, sources."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from seatkeeper.cli_messages import config_json, config_text, local_times, status_text
from seatkeeper.config import load_config
from seatkeeper.core.state import Holder, PendingItem, SeatState, Status

ZURICH = ZoneInfo("Europe/Zurich")
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)  # 13:00 in Zurich
UNTIL = dt.datetime(2026, 11, 29, 13, 5, tzinfo=dt.UTC)  # 14:05 in Zurich
HELD = Status(state=SeatState.ACTIVE, server="https://licenses.example",
              account="ana@example.com", license_name="PIX4Dmapper Yearly", seats_used=1,
              seats_total=2, lease_id="L1", lease_expires_at=UNTIL)


def words(status: Status, **extra: object) -> str:
    return status_text({**status.to_json(), **extra}, NOW, ZURICH)


def test_a_held_seat_reads_like_the_tray_in_local_time() -> None:
    """The tray's first line, then account, license and the lease's end in local time."""
    assert words(HELD, running=True) == (
        "Seat 1 of 2\n"
        "Account:   ana@example.com on https://licenses.example\n"
        "License:   PIX4Dmapper Yearly (seat 1 of 2)\n"
        "Seat:      held until 14:05 unless renewed (lease L1)")


def test_offline_says_why_with_its_times_in_local_time() -> None:
    """The agent's message carries UTC times; here they are local, as the tray shows them."""
    offline = Status(**{**HELD.__dict__, "state": SeatState.OFFLINE,
                        "message": "Offline; seat held until 2026-11-29T13:05:00Z. The "
                                   "license server took too long to answer."})
    text = words(offline)
    assert text.splitlines()[:2] == [
        "Offline · seat held until 14:05",
        "           Offline; seat held until 14:05. The license server took too long to answer."]
    assert "T13:05:00Z" not in text and "offline" not in text.split()  # no raw state names


def test_waiting_items_holders_and_a_stopped_agent_are_said_plainly() -> None:
    """Queued work says what waits since when; seat holders are named; a day away shows it."""
    status = Status(state=SeatState.LOGOUT_PENDING, pending=(
        PendingItem(kind="logout", created_at=dt.datetime(2026, 11, 28, 16, 2, tzinfo=dt.UTC),
                    attempts=3),))
    assert words(status, running=False) == (
        "Logging out: waiting for the Internet\n"
        "Server:    not set: `seatkeeper login --server URL`, or the tray's Connect to a "
        "license server…\n"
        "Waiting:   to log out, since Sat 28 Nov 17:02 (3 attempts); sent when the license "
        "server answers\n"
        "Agent:     not running (start it with `seatkeeper run`)")
    full = Status(state=SeatState.SEAT_LIMIT_REACHED, server="https://licenses.example",
                  account="ana@example.com", seats_total=1, holders=(
                      Holder(name="office-pc", last_heartbeat_at=NOW),))
    assert words(full).splitlines()[0] == "The only seat is in use elsewhere"
    assert "In use on: office-pc (last heard from 13:00)" in words(full)


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                    timezones=st.just(dt.UTC)))
def test_any_utc_time_in_a_message_becomes_local(value: dt.datetime) -> None:
    """No `…T…Z` is left over, whatever the time."""
    stamp = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "Z" not in local_times(f"until {stamp}.", NOW, ZURICH)


def test_status_read_back_from_json_is_the_same() -> None:
    """What the control channel carries reads back into the status it came from."""
    for status in (HELD, Status(state=SeatState.SIGNED_OUT),
                   Status(state=SeatState.OFFLINE, borrowed_until=UNTIL, holders=(
                       Holder(name="x", id="d1"),), pending=(
                       PendingItem(kind="release", created_at=NOW, last_error="e"),))):
        assert Status.from_json(status.to_json()).to_json() == status.to_json()


@pytest.fixture
def layered(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    system = tmp_path / "system.toml"
    system.write_text('server_url = "https://corp.example"\napp_name = "SurveyApp"\n'
                      '[policy]\nlocked = ["server_url"]\n', encoding="utf-8")
    (tmp_path / "home").mkdir()
    user = tmp_path / "home" / "config.toml"
    user.write_text('log_level = "debug"\n', encoding="utf-8")
    return system, user, {"SEATKEEPER_HOME": str(tmp_path / "home"),
                          "SEATKEEPER_SEAT_RETRY_S": "30"}


def test_config_show_says_where_each_value_came_from(
        layered: tuple[Path, Path, dict[str, str]]) -> None:
    """One line per setting: value, then default, administrator (locked), your file, or the
    variable; then the agent's folders."""
    system, user, env = layered
    config = load_config(env, system_file=system)
    lines = config_text(config).splitlines()
    table = {key: rest for key, *rest in (re.split(r"  +", line) for line in lines[1:13])}
    assert lines[0].split() == ["setting", "value", "from"]
    assert table["server_url"] == ["https://corp.example", f"administrator: {system}, locked"]
    assert table["app_name"] == ["SurveyApp", f"administrator: {system}"]
    assert table["log_level"] == ["DEBUG", f"your file: {user}"]
    assert table["seat_retry_s"] == ["30", "environment variable SEATKEEPER_SEAT_RETRY_S"]
    assert table["seat_mode"] == ["login", "default"]
    assert table["server_public_key"] == ["(not set)", "default"]
    assert f"config file          {user}" in lines


def test_config_show_json_has_every_setting_with_its_source(
        layered: tuple[Path, Path, dict[str, str]]) -> None:
    """--json: each setting's value (JSON's own type), source, where, locked."""
    system, user, env = layered
    shown = config_json(load_config(env, system_file=system))
    assert shown["settings"]["server_url"] == {"value": "https://corp.example",
                                               "source": "policy", "where": str(system),
                                               "locked": True}
    assert shown["settings"]["seat_retry_s"]["value"] == 30.0
    assert shown["settings"]["release_on_shutdown"] == {
        "value": True, "source": "default", "where": None, "locked": False}
    assert shown["settings"]["ca_bundle"]["value"] is None
    assert shown["files"]["config_file"] == str(user)
    assert len(shown["settings"]) == 13
