"""The tray's view of every state: icon, tooltip, the menu's lines and choices."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from seatkeeper.core.protocol import Account, Device, License, Seat
from seatkeeper.core.state import Holder, SeatState, Status
from seatkeeper.service.first_run import ServerChoice
from seatkeeper.tray.view import (
    TOOLTIP_MAX,
    Act,
    Action,
    Entry,
    TrayView,
    clip,
    state_line,
    view,
)

UTC = dt.UTC
CEST = dt.timezone(dt.timedelta(hours=2))
UNTIL = dt.datetime(2026, 11, 29, 12, 5, tzinfo=UTC)
ACCOUNT = "ana@example.com"
SIGNED_IN: dict[str, Any] = {"account": ACCOUNT, "server": "https://licenses.example"}
HELD: dict[str, Any] = {**SIGNED_IN, "license_name": "PIX4Dmapper Yearly", "seats_used": 2,
                        "seats_total": 3, "lease_id": "L1", "lease_expires_at": UNTIL}


def lic(id: str, name: str = "PIX4Dmapper Yearly", used: int = 1, total: int = 3) -> License:
    return License(id=id, name=name, kind="subscription", seats_total=total, seats_used=used)


def device(id: str, name: str, *, current: bool = False, seat: bool = False) -> Device:
    held = Seat(lease_id="L" + id, license_id="lic1", expires_at=UNTIL) if seat else None
    return Device(id=id, name=name, platform="linux", current=current, seat=held)


ONE_LICENSE = Account(id="a1", email=ACCOUNT, remote_deactivation=False,
                      licenses=(lic("lic1"),))
TWO_LICENSES = Account(id="a1", email=ACCOUNT, remote_deactivation=False,
                       licenses=(lic("lic1"), lic("lic2", "PIX4Dmatic Yearly", 0, 1)))
DEVICES = (device("d1", "survey-laptop", current=True, seat=True),
           device("d2", "office-pc"))

# (state, status fields, tooltip, choices offered beyond the fixed entries)
TABLE: list[tuple[SeatState, dict, str, set[str]]] = [
    (SeatState.LOGOUT_PENDING, {}, "Logging out: waiting for the Internet", set()),
    (SeatState.SIGNED_OUT, {}, "Seatkeeper · not logged in", {"Log in…"}),
    (SeatState.RELEASED, SIGNED_IN, "Seat released; still logged in",
     {"Take a seat again", "Use a license"}),
    (SeatState.ACQUIRING, SIGNED_IN, "Asking for a seat…", set()),
    (SeatState.ACTIVE, HELD, "Seat 2 of 3 · PIX4Dmapper Yearly", set()),
    (SeatState.OFFLINE, HELD, "Offline · seat held until 14:05", set()),
    (SeatState.SEAT_LIMIT_REACHED,
     {**SIGNED_IN, "holders": (Holder(name="office-pc"), Holder(name="plotter")),
      "message": "All 2 seats are in use."},
     "All 2 seats are in use: office-pc, plotter",
     {"Continue in Discovery mode", "Use another license", "Try again now"}),
    (SeatState.DISCOVERY, SIGNED_IN, "Discovery mode",
     {"Continue in Discovery mode", "Use another license", "Try again now"}),
    (SeatState.SUPPORT_EXPIRED, SIGNED_IN, "Support & Upgrade has expired",
     {"Continue in Discovery mode", "Use another license", "Try again now"}),
    (SeatState.LICENSE_EXPIRED, SIGNED_IN, "License expired",
     {"Continue in Discovery mode", "Use another license", "Try again now"}),
    (SeatState.REVOKED, {**SIGNED_IN, "revoked_by": "an administrator"},
     "Seat taken away by an administrator", {"Try again now"}),
    (SeatState.ERROR, {**SIGNED_IN, "error": "The server's certificate is not trusted."},
     "Needs your attention: The server's certificate is not trusted.", {"Try again now"}),
]
CHOICES = {"Log in…", "Take a seat again", "Continue in Discovery mode", "Use another license",
           "Use a license", "Try again now"}


def labels(entries: tuple[Entry, ...]) -> list[str]:
    return [entry.label for entry in entries if not entry.separator]


def test_table_covers_every_state() -> None:
    """Every state of DESIGN.md's table (and `released`) is in the table below."""
    assert [state for state, *_ in TABLE] == list(SeatState)


@pytest.mark.parametrize(("state", "fields", "tip", "choices"), TABLE,
                         ids=[state.value for state, *_ in TABLE])
def test_view_of_each_state(state: SeatState, fields: dict, tip: str, choices: set[str]) -> None:
    """The icon is the state's own, the tooltip says it in words, the menu offers its choices."""
    status = Status(state=state, **fields)
    shown = view(status, account=TWO_LICENSES, devices=DEVICES, tz=CEST)
    assert shown.icon is state
    assert shown.tooltip == tip
    assert len(shown.tooltip) <= TOOLTIP_MAX
    top = labels(shown.menu)
    assert set(top) & CHOICES == choices
    first = shown.menu[0]
    assert first.label == state_line(status, CEST) and not first.enabled and not first.action
    assert {"Open log folder", "About Seatkeeper", "Quit", "Start at login"} <= set(top)
    signed_in = "account" in fields
    assert ("Log out…" in top) == signed_in
    assert ("Devices" in top) == signed_in
    release = shown.find("Release seat now")
    assert (release is not None) == signed_in
    if release is not None:
        assert release.enabled == (state in (SeatState.ACTIVE, SeatState.OFFLINE))


def test_state_and_license_lines_are_not_clickable() -> None:
    """The first lines say the state, the license and the account; none has an action."""
    shown = view(Status(state=SeatState.ACTIVE, **HELD), tz=UTC)
    info = shown.menu[:shown.menu.index(next(e for e in shown.menu if e.separator))]
    assert labels(info) == ["Seat 2 of 3", "License: PIX4Dmapper Yearly", f"Account: {ACCOUNT}"]
    assert all(not entry.enabled and entry.action is None for entry in info)


def test_offline_time_is_local() -> None:
    """"Held until" is shown in the computer's time zone, hours and minutes."""
    status = Status(state=SeatState.OFFLINE, **HELD)
    assert view(status, tz=UTC).tooltip == "Offline · seat held until 12:05"
    assert view(status, tz=dt.timezone(dt.timedelta(hours=-5))).tooltip.endswith("07:05")


def test_tooltip_stays_under_windows_limit() -> None:
    """However many devices hold the seats, the tooltip stays under 128 characters."""
    holders = tuple(Holder(name=f"workstation-number-{i}") for i in range(20))
    status = Status(state=SeatState.SEAT_LIMIT_REACHED, holders=holders, **SIGNED_IN)
    tip = view(status).tooltip
    assert len(tip) <= TOOLTIP_MAX and tip.endswith("…")
    assert clip("a  b\nc", 10) == "a b c"


def test_seat_limit_lists_who_holds_the_seats() -> None:
    """The menu names each device holding a seat, as PIX4Dmapper's dialog does."""
    status = Status(state=SeatState.SEAT_LIMIT_REACHED, holders=(Holder(name="office-pc"),),
                    **SIGNED_IN)
    top = labels(view(status).menu)
    assert top[0] == "The only seat is in use elsewhere" and "In use on office-pc" in top


def test_another_license_only_when_the_account_has_one() -> None:
    """With one license there is no other to use; with two, each is a choice."""
    status = Status(state=SeatState.SUPPORT_EXPIRED, **SIGNED_IN)
    assert view(status, account=ONE_LICENSE).find("Use another license") is None
    assert view(status, account=None).find("Use another license") is None
    menu = view(status, account=TWO_LICENSES).find("Use another license")
    assert menu is not None
    assert [child.action for child in menu.children] == [Action(Act.USE_LICENSE, "lic1"),
                                                         Action(Act.USE_LICENSE, "lic2")]
    assert menu.children[1].label == "PIX4Dmatic Yearly · 0 of 1 seats in use"


def test_chosen_discovery_offers_a_seat_again() -> None:
    """Once Discovery mode is chosen, the menu offers to take a seat, not Discovery again."""
    status = Status(state=SeatState.DISCOVERY, discovery_chosen=True, **SIGNED_IN)
    top = labels(view(status, account=ONE_LICENSE).menu)
    assert "Take a seat again" in top and "Use a license" in top
    assert "Continue in Discovery mode" not in top


def test_devices_lists_the_account_and_deactivates_others_when_allowed() -> None:
    """Devices lists each device; Deactivate… appears for the others only when switched on."""
    status = Status(state=SeatState.ACTIVE, **HELD)
    off = view(status, account=ONE_LICENSE, devices=DEVICES).find("Devices")
    assert off is not None
    assert labels(off.children)[:2] == ["survey-laptop (this device) · holds a seat",
                                        "office-pc · no seat"]
    assert not any(child.action for child in off.children)
    on_account = Account(id="a1", email=ACCOUNT, remote_deactivation=True)
    on = view(status, account=on_account, devices=DEVICES).find("Devices")
    assert on is not None
    actions = [child.action for child in on.children if child.action]
    assert actions == [Action(Act.DEACTIVATE, "d2")]
    assert "Deactivate office-pc…" in labels(on.children)
    unknown = view(status, account=None, devices=None).find("Devices")
    assert unknown is not None and not unknown.children[0].enabled


def test_remote_deactivation_is_greyed_with_the_reason_while_a_seat_is_held() -> None:
    """The switch can go on only while no device holds a seat; greyed, it says why."""
    status = Status(state=SeatState.ACTIVE, **HELD)
    held = view(status, account=ONE_LICENSE, devices=DEVICES).menu
    switch = next(e for e in held if e.label.startswith("Remote device deactivation"))
    assert not switch.enabled and switch.checked is False
    assert "only while no seat is held" in switch.label
    free = (device("d1", "survey-laptop", current=True), device("d2", "office-pc"))
    switch = _switch(view(status, account=ONE_LICENSE, devices=free))
    assert switch.enabled and switch.action == Action(Act.REMOTE_DEACTIVATION, "on")
    on = Account(id="a1", email=ACCOUNT, remote_deactivation=True)
    switch = _switch(view(status, account=on, devices=DEVICES))
    assert switch.enabled and switch.checked and switch.action == Action(
        Act.REMOTE_DEACTIVATION, "off")


def _switch(shown: TrayView) -> Entry:
    return next(e for e in shown.menu if e.label.startswith("Remote device deactivation"))


def test_start_at_login_is_greyed_where_autostart_is_not_available() -> None:
    """Start at login is a check item, shown but not clickable with no mechanism here."""
    entry = view(Status(state=SeatState.SIGNED_OUT)).find("Start at login")
    assert entry is not None and entry.checked is False and not entry.enabled


@pytest.mark.parametrize("enabled", [True, False])
def test_start_at_login_is_ticked_when_the_agent_starts_at_login(enabled: bool) -> None:
    """Where autostart exists, the item is clickable and ticked exactly when it is on."""
    entry = view(Status(state=SeatState.ACTIVE), autostart=enabled).find("Start at login")
    assert entry is not None and entry.enabled and entry.checked is enabled
    assert entry.action == Action(Act.START_AT_LOGIN)


def test_quit_and_logout_are_last() -> None:
    """Log out… and Quit close the menu, Quit at the very end."""
    top = labels(view(Status(state=SeatState.ACTIVE, **HELD)).menu)
    assert top[-2:] == ["Log out…", "Quit"]


def test_a_browser_login_under_way_shows_its_code_and_a_way_out() -> None:
    """While a browser login waits, the menu shows its code, reopens the page, or cancels."""
    shown = view(Status(state=SeatState.SIGNED_OUT), login_code="BCDF-GHJK")
    labels = [entry.label for entry in shown.menu]
    assert "Approve the code BCDF-GHJK in the browser" in labels
    assert "Log in…" not in labels
    actions = {entry.label: entry.action for entry in shown.menu if entry.action}
    assert actions["Copy code"] == Action(Act.COPY_CODE)
    assert actions["Open the login page again"] == Action(Act.LOGIN)
    assert actions["Cancel the login"] == Action(Act.CANCEL_LOGIN)


@pytest.mark.parametrize(("server", "offered"), [
    (ServerChoice.ASK, ["Connect to a license server…"]),
    (ServerChoice.CHANGE, ["Log in…", "Change license server…"]),
    (ServerChoice.FIXED, ["Log in…"]),
])
def test_logged_out_the_menu_offers_what_the_server_setting_allows(
        server: ServerChoice, offered: list[str]) -> None:
    """No server yet: Connect… instead of Log in…; the user's own server may be changed;
    the administrator's locked one may not."""
    shown = view(Status(state=SeatState.SIGNED_OUT), server=server)
    chosen = [entry.label for entry in shown.menu
              if entry.action and entry.action.act in (Act.LOGIN, Act.CONNECT)]
    assert chosen == offered
    signed_in = view(Status(state=SeatState.ACTIVE, **HELD), server=server)
    assert not [e for e in signed_in.menu if e.action and e.action.act is Act.CONNECT]


BORROW = "Borrow for offline use"


def borrow_entry(shown: TrayView) -> Entry:
    (entry,) = [e for e in shown.menu if e.label.startswith(BORROW)
                or e.label == "Return borrowed seat"]
    return entry


@pytest.mark.parametrize(("limit", "offered"), [
    (30 * 86400, ["1 day", "3 days", "7 days"]),
    (7 * 86400, ["1 day", "3 days", "7 days"]),
    (5 * 86400, ["1 day", "3 days", "5 days (the most your license allows)"]),
    (86400, ["1 day"]),
    (6 * 3600, ["6 hours (the most your license allows)"]),
])
def test_borrow_offers_1_3_7_days_capped_by_the_license(limit: int, offered: list[str]) -> None:
    """The Borrow submenu offers 1, 3 and 7 days, only as far as the license allows."""
    entry = borrow_entry(view(Status(state=SeatState.ACTIVE, max_borrow_s=limit, **HELD)))
    assert entry.label == BORROW and entry.enabled
    assert labels(entry.children) == offered
    assert all(child.action is not None and child.action.act is Act.BORROW
               for child in entry.children)
    assert [int(c.action.arg or 0) for c in entry.children if c.action] == \
        [min(int(label.split()[0]), 7) if "day" in label else 1 for label in offered]


@pytest.mark.parametrize(("state", "limit", "why"), [
    (SeatState.ACTIVE, 0, "your license does not allow it"),
    (SeatState.OFFLINE, 7 * 86400, "needs the license server"),
    (SeatState.RELEASED, None, "only while a seat is held"),
])
def test_borrow_is_greyed_with_the_reason(state: SeatState, limit: int | None,
                                          why: str) -> None:
    """No borrowing allowed, offline, or no seat: the entry is greyed and says why."""
    fields = HELD if state is not SeatState.RELEASED else SIGNED_IN
    entry = borrow_entry(view(Status(state=state, max_borrow_s=limit, **fields)))
    assert entry.label == f"{BORROW} ({why})"
    assert not entry.enabled and not entry.children and entry.action is None


def test_a_borrowed_seat_says_until_when_and_offers_return() -> None:
    """Borrowed: the icon has the borrowed badge, the tooltip and first line give the day and
    time; Return replaces Borrow."""
    until = dt.datetime(2026, 12, 2, 12, 5, tzinfo=UTC)
    status = Status(state=SeatState.ACTIVE, max_borrow_s=7 * 86400, borrowed_until=until,
                    **HELD)
    shown = view(status, tz=CEST)
    assert shown.icon is SeatState.ACTIVE and shown.borrowed
    assert not view(Status(state=SeatState.ACTIVE, **HELD)).borrowed
    assert shown.tooltip == "Seat borrowed until Wed 2 Dec 14:05 · PIX4Dmapper Yearly"
    assert shown.menu[0].label == "Seat borrowed until Wed 2 Dec 14:05"
    entry = borrow_entry(shown)
    assert entry.label == "Return borrowed seat" and entry.action == Action(Act.RETURN)
    offline = view(Status(state=SeatState.OFFLINE, borrowed_until=until, **HELD), tz=UTC)
    assert offline.tooltip == "Offline · seat borrowed until Wed 2 Dec 12:05"
    assert offline.icon is SeatState.OFFLINE and offline.borrowed
    assert borrow_entry(offline).enabled
