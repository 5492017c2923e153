"""What the tray says: its dialogs' words, and which changes call for a notification."""

from __future__ import annotations

import datetime as dt

from seatkeeper.core.protocol import Device
from seatkeeper.core.state import Holder, SeatState, Status
from seatkeeper.service.first_run import ServerChoice, ServerSetting
from seatkeeper.tray.messages import (
    Kind,
    Memory,
    Notice,
    about_prompt,
    connect_prompt,
    deactivate_prompt,
    follow,
    login_notice,
    logout_prompt,
    next_due,
)

T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
UNTIL = T0 + dt.timedelta(minutes=15)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def status(state: SeatState, **fields: object) -> Status:
    return Status(state=state, account="ana@example.com", **fields)  # type: ignore[arg-type]


def run(*steps: tuple[float, Status]) -> list[Notice]:
    """Feed statuses at the given seconds; every notice told along the way."""
    memory, told = Memory(), list[Notice]()
    for seconds, shown in steps:
        memory, notices = follow(memory, shown, at(seconds), tz=dt.UTC)
        told += notices
    return told


ACTIVE = status(SeatState.ACTIVE, lease_expires_at=UNTIL, heartbeat_interval_s=60)
OFFLINE = status(SeatState.OFFLINE, lease_expires_at=UNTIL, heartbeat_interval_s=60)
LIMIT = status(SeatState.SEAT_LIMIT_REACHED, holders=(Holder(name="office-pc"),))


def test_logout_prompt_says_the_seat_will_be_freed() -> None:
    """The Log Out confirmation is a question that says the seat goes to another device."""
    prompt = logout_prompt(status(SeatState.ACTIVE, license_name="PIX4Dmapper Yearly"))
    assert prompt.kind is Kind.QUESTION
    assert "seat will be freed" in prompt.text and "PIX4Dmapper Yearly" in prompt.text
    assert "cannot be reached" in logout_prompt(OFFLINE).text


def test_the_login_notice_gives_the_code_and_where_to_approve_it() -> None:
    """The browser login's notification names the code and the approve page, no password."""
    notice = login_notice("BCDF-GHJK", "https://lic.example/portal/device")
    assert "BCDF-GHJK" in notice.text and "https://lic.example/portal/device" in notice.text
    assert "password" not in notice.text.lower()


def test_about_and_deactivate_prompts() -> None:
    """About lists versions, server and account; Deactivate names the device."""
    about = about_prompt(status(SeatState.ACTIVE, server="https://lic.example"),
                         {"Seatkeeper": "0.1.0", "Python": "3.11.7"})
    assert about.text.splitlines()[:2] == ["Seatkeeper 0.1.0", "Python 3.11.7"]
    assert "Server: https://lic.example" in about.text and "ana@example.com" in about.text
    device = Device(id="d2", name="office-pc", platform="linux", current=False)
    prompt = deactivate_prompt(device)
    assert prompt.kind is Kind.QUESTION and "office-pc" in prompt.title


def test_offline_is_told_once_after_one_heartbeat() -> None:
    """A short outage says nothing; past one heartbeat interval, one notice, not more."""
    assert run((0, ACTIVE), (1, OFFLINE), (30, OFFLINE), (5, ACTIVE)) == []
    told = run((0, ACTIVE), (1, OFFLINE), (30, OFFLINE), (62, OFFLINE), (90, OFFLINE))
    assert [n.title for n in told] == ["Offline"]
    assert "held until 12:15" in told[0].text


def test_the_offline_notice_says_when_it_falls_due() -> None:
    """The tray sleeps until the offline notice is due (no tick): due one heartbeat after
    going offline, at once when overdue, and nothing once told or while online."""
    memory, _ = follow(Memory(), ACTIVE, at(0))
    assert next_due(memory, ACTIVE, at(0)) is None
    memory, _ = follow(memory, OFFLINE, at(1))
    assert next_due(memory, OFFLINE, at(1)) == 60
    assert next_due(memory, OFFLINE, at(31)) == 30
    assert next_due(memory, OFFLINE, at(90)) == 0
    memory, told = follow(memory, OFFLINE, at(1 + 60 + 0.05))
    assert [n.title for n in told] == ["Offline"]
    assert next_due(memory, OFFLINE, at(62)) is None


def test_seat_lost_to_another_device() -> None:
    """A held seat that ran out offline and went to another device is told, naming it."""
    acquiring = status(SeatState.ACQUIRING)
    told = run((0, ACTIVE), (1, OFFLINE), (2, acquiring), (3, LIMIT))
    assert [n.title for n in told] == ["Seat lost to another device"]
    assert "office-pc" in told[0].text
    assert run((0, status(SeatState.ACQUIRING)), (1, LIMIT)) == []
    assert run((0, ACTIVE), (1, status(SeatState.RELEASED)), (2, LIMIT)) == []


def test_seat_revoked_remotely() -> None:
    """A seat taken away says by whom."""
    revoked = status(SeatState.REVOKED, revoked_by="another device of your account")
    told = run((0, ACTIVE), (1, revoked), (2, revoked))
    assert [n.title for n in told] == ["Seat taken away"]
    assert "another device of your account" in told[0].text


def test_queued_logout_delivered() -> None:
    """A logout that waited for the Internet is told when it reaches the server."""
    pending = Status(state=SeatState.LOGOUT_PENDING)
    out = Status(state=SeatState.SIGNED_OUT)
    told = run((0, ACTIVE), (1, pending), (40, pending), (41, out))
    assert [n.title for n in told] == ["Logged out"]
    assert run((0, ACTIVE), (1, pending), (1.2, out)) == []  # delivered at once: no notice


def test_the_address_dialog_asks_suggests_or_changes() -> None:
    """First run: an empty field and an example; the administrator's suggestion pre-filled
    and said to be theirs; changing: the current address to edit."""
    first = connect_prompt(ServerSetting(url=None, choice=ServerChoice.ASK, suggested=False))
    assert (first.title, first.initial, first.confirm) == (
        "Connect to a license server", "", "Connect")
    assert "like https://licenses.example.com" in first.text
    suggested = connect_prompt(ServerSetting(url="https://corp.example",
                                             choice=ServerChoice.ASK, suggested=True))
    assert suggested.initial == "https://corp.example"
    assert suggested.text.startswith("Your administrator suggests this license server.")
    change = connect_prompt(ServerSetting(url="https://mine.example",
                                          choice=ServerChoice.CHANGE, suggested=False))
    assert (change.title, change.initial) == ("Change the license server",
                                              "https://mine.example")


def test_the_login_notice_has_a_copy_button() -> None:
    """The code's notification offers Copy code (and opens the page when clicked)."""
    notice = login_notice("BCDF-GHJK", "https://lic.example/portal/device")
    assert notice.actions == (("default", "Open the login page"), ("copy-code", "Copy code"))
