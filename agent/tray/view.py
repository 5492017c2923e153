"""The tray's pure view: a status (and the account as last fetched) -> icon, tooltip and menu."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from seatkeeper.core.protocol import Account, Device, License
from seatkeeper.core.state import SeatState, Status
from seatkeeper.i18n import N_, _, date, day_and_time, ngettext, time_of_day
from seatkeeper.phrases import say
from seatkeeper.service.first_run import ServerChoice

# Windows cuts a notification-area tooltip at 128 characters, its final NUL included.
TOOLTIP_MAX = 127
LINE_MAX = 72
HELD = (SeatState.ACTIVE, SeatState.OFFLINE)
# States whose refusal PIX4Dmapper answers with "Discovery mode, or another license".
REFUSED = (SeatState.SEAT_LIMIT_REACHED, SeatState.DISCOVERY, SeatState.SUPPORT_EXPIRED,
           SeatState.LICENSE_EXPIRED)


class Act(StrEnum):
    """What a menu entry asks for; the tray app maps each to a control operation."""

    LOGIN = "login"
    CONNECT = "connect"
    COPY_CODE = "copy_code"
    CANCEL_LOGIN = "cancel_login"
    LOGOUT = "logout"
    RELEASE = "release"
    BORROW = "borrow"
    RETURN = "return"
    ACQUIRE = "acquire"
    USE_LICENSE = "use_license"
    DISCOVERY = "discovery"
    DEACTIVATE = "deactivate"
    REMOTE_DEACTIVATION = "remote_deactivation"
    START_AT_LOGIN = "start_at_login"
    OPEN_LOGS = "open_logs"
    ABOUT = "about"
    QUIT = "quit"


@dataclass(frozen=True)
class Action:
    """An `Act` and its argument (a license or device id), as a menu entry carries it."""

    act: Act
    arg: str | None = None


@dataclass(frozen=True, kw_only=True)
class Entry:
    """A menu entry: a line (no action), an action, a check item, or a submenu."""

    label: str
    action: Action | None = None
    enabled: bool = True
    checked: bool | None = None
    children: tuple[Entry, ...] = ()

    @property
    def separator(self) -> bool:
        return self.label == ""


SEPARATOR = Entry(label="", enabled=False)


@dataclass(frozen=True, kw_only=True)
class TrayView:
    """Everything the tray draws: icon kind (one per state; `borrowed` adds the borrowed
    badge to a held seat's), tooltip, menu."""

    icon: SeatState
    tooltip: str
    menu: tuple[Entry, ...]
    borrowed: bool = False

    def find(self, label: str) -> Entry | None:
        """The entry with this label, at any depth (for tests and the app's lookups)."""
        stack = list(self.menu)
        while stack:
            entry = stack.pop(0)
            if entry.label == label:
                return entry
            stack.extend(entry.children)
        return None


def clip(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis when longer."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"


def local_time(value: dt.datetime, tz: dt.tzinfo | None) -> str:
    """`14:05` in the given zone (None: this computer's)."""
    return time_of_day(value.astimezone(tz))


def local_day_time(value: dt.datetime, tz: dt.tzinfo | None) -> str:
    """`Thu 3 Dec 14:05` in the given zone (None: this computer's), in the language in use:
    a borrow lasts days."""
    return day_and_time(value.astimezone(tz))


def state_line(status: Status, tz: dt.tzinfo | None = None) -> str:
    """The state in words, as the menu's first line and the tooltip's start."""
    state = status.state
    if state in HELD and status.borrowed_until is not None:
        until = local_day_time(status.borrowed_until, tz)
        return (_("Offline · seat borrowed until {until}") if state is SeatState.OFFLINE
                else _("Seat borrowed until {until}")).format(until=until)
    if state is SeatState.ACTIVE:
        if status.seats_used is not None and status.seats_total is not None:
            return _("Seat {used} of {total}").format(used=status.seats_used,
                                                       total=status.seats_total)
        return _("Seat held")
    if state is SeatState.OFFLINE:
        if status.lease_expires_at is None:
            return _("Offline · seat held")
        return _("Offline · seat held until {time}").format(
            time=local_time(status.lease_expires_at, tz))
    if state is SeatState.SEAT_LIMIT_REACHED:
        total = status.seats_total or len(status.holders)
        if total == 1:
            return _("The only seat is in use elsewhere")
        return ngettext("All {total} seats are in use", "All {total} seats are in use",
                        total).format(total=total) if total else _("All seats are in use")
    if state is SeatState.REVOKED:
        return _("Seat taken away by {who}").format(who=revoked_by(status.revoked_by)) \
            if status.revoked_by else _("Seat taken away")
    if state is SeatState.ERROR:
        return _("Needs your attention")
    return _(STATE_WORDS[state])


def revoked_by(who: str) -> str:
    """Who took the seat away, as the agent names them in English (`service.view.REVOKERS`),
    in the language in use (a reason the agent does not know, as it came)."""
    return _(who)


STATE_WORDS: dict[SeatState, str] = {
    SeatState.LOGOUT_PENDING: N_("Logging out: waiting for the Internet"),
    SeatState.SIGNED_OUT: N_("Not logged in"),
    SeatState.RELEASED: N_("Seat released; still logged in"),
    SeatState.ACQUIRING: N_("Asking for a seat…"),
    SeatState.DISCOVERY: N_("Discovery mode"),
    SeatState.SUPPORT_EXPIRED: N_("Support & Upgrade has expired"),
    SeatState.LICENSE_EXPIRED: N_("License expired"),
}


def tooltip(status: Status, tz: dt.tzinfo | None = None) -> str:
    """A short sentence for hovering: the state, and what it concerns."""
    line = state_line(status, tz)
    state = status.state
    if state is SeatState.ACTIVE and status.license_name:
        line = f"{line} · {status.license_name}"
    elif state is SeatState.SEAT_LIMIT_REACHED and status.holders:
        line = f"{line}: {', '.join(h.name for h in status.holders)}"
    elif state is SeatState.ERROR and (status.error or status.message):
        line = f"{line}: {say(status.error or status.message or '')}"
    elif state is SeatState.SIGNED_OUT:
        line = _("Seatkeeper · not logged in")
    return clip(line, TOOLTIP_MAX)


def view(status: Status, *, login_code: str | None = None, account: Account | None = None,
         devices: Sequence[Device] | None = None, tz: dt.tzinfo | None = None,
         autostart: bool | None = None, autostart_managed: bool = False,
         server: ServerChoice = ServerChoice.FIXED) -> TrayView:
    """The tray for `status`; `account` and `devices` as last fetched (None: not known);
    `autostart`: whether the agent starts at login (None: not available here);
    `autostart_managed`: the administrator set it for every user (the user cannot untick it);
    `server`: what may be done about the license server while logged out."""
    return TrayView(icon=status.state, tooltip=tooltip(status, tz),
                    borrowed=status.state in HELD and status.borrowed_until is not None,
                    menu=menu(status, login_code=login_code,
                              account=account, devices=devices, tz=tz,
                              autostart=autostart, autostart_managed=autostart_managed,
                              server=server))


def menu(status: Status, *, login_code: str | None = None, account: Account | None,
         devices: Sequence[Device] | None,
         tz: dt.tzinfo | None = None, autostart: bool | None = None,
         autostart_managed: bool = False,
         server: ServerChoice = ServerChoice.FIXED) -> tuple[Entry, ...]:
    signed_in = status.account is not None
    entries = [*_info_lines(status, tz), SEPARATOR,
               *_choices(status, account, login_code, server)]
    if signed_in:
        entries += [_borrow_entry(status, tz),
                    Entry(label=_("Release seat now"), action=Action(Act.RELEASE),
                          enabled=status.state in HELD),
                    _devices_menu(account, devices),
                    _remote_deactivation(account, devices)]
    entries += [SEPARATOR,
                Entry(label=_("Start at login"), action=Action(Act.START_AT_LOGIN),
                      checked=autostart is True,
                      enabled=autostart is not None and not autostart_managed),
                Entry(label=_("Open log folder"), action=Action(Act.OPEN_LOGS)),
                Entry(label=_("About Seatkeeper"), action=Action(Act.ABOUT)),
                SEPARATOR]
    if signed_in:
        entries.append(Entry(label=_("Log out…"), action=Action(Act.LOGOUT)))
    entries.append(Entry(label=_("Quit"), action=Action(Act.QUIT)))
    return tuple(entries)


def _info_lines(status: Status, tz: dt.tzinfo | None) -> list[Entry]:
    first = state_line(status, tz)
    lines = [first]
    if status.license_name:
        lines.append(_("License: {name}").format(name=status.license_name))
    if status.account is not None:
        lines.append(_("Account: {account}").format(account=status.account))
    detail = say(status.error or status.message or "")
    if status.state is SeatState.SEAT_LIMIT_REACHED and status.holders:
        lines += [_("In use on {device}").format(device=holder.name)
                  for holder in status.holders]
    elif detail and clip(detail, LINE_MAX) not in first:
        lines.append(detail)
    return [Entry(label=clip(line, LINE_MAX), enabled=False) for line in lines]


def _choices(status: Status, account: Account | None, login_code: str | None = None,
             server: ServerChoice = ServerChoice.FIXED) -> list[Entry]:
    """What this state offers: connect to a server and log in (or the browser login under
    way), take a seat again, Discovery mode, another license."""
    state = status.state
    if state is SeatState.SIGNED_OUT and login_code is not None:
        return [Entry(label=_("Approve the code {code} in the browser").format(code=login_code),
                      enabled=False),
                Entry(label=_("Copy code"), action=Action(Act.COPY_CODE)),
                Entry(label=_("Open the login page again"), action=Action(Act.LOGIN)),
                Entry(label=_("Cancel the login"), action=Action(Act.CANCEL_LOGIN))]
    if state is SeatState.SIGNED_OUT and server is ServerChoice.ASK:
        return [Entry(label=_("Connect to a license server…"), action=Action(Act.CONNECT))]
    if state is SeatState.SIGNED_OUT and server is ServerChoice.CHANGE:
        return [Entry(label=_("Log in…"), action=Action(Act.LOGIN)),
                Entry(label=_("Change license server…"), action=Action(Act.CONNECT))]
    if state is SeatState.SIGNED_OUT:
        return [Entry(label=_("Log in…"), action=Action(Act.LOGIN))]
    if state is SeatState.RELEASED or (state is SeatState.DISCOVERY and status.discovery_chosen):
        return [Entry(label=_("Take a seat again"), action=Action(Act.ACQUIRE)),
                *_license_menu(account, minimum=1, label=_("Use a license"))]
    if state in REFUSED:
        return [Entry(label=_("Continue in Discovery mode"), action=Action(Act.DISCOVERY)),
                *_license_menu(account, minimum=2, label=_("Use another license")),
                Entry(label=_("Try again now"), action=Action(Act.ACQUIRE))]
    if state in (SeatState.REVOKED, SeatState.ERROR):
        return [Entry(label=_("Try again now"), action=Action(Act.ACQUIRE))]
    return []


BORROW_DAYS = (1, 3, 7)
DAY_S = 86400


def _borrow_entry(status: Status, tz: dt.tzinfo | None) -> Entry:
    """"Return borrowed seat", or "Borrow for offline use ▸" with the days the license allows
    (greyed, saying why, when it allows none or no seat is held online)."""
    if status.borrowed_until is not None:
        return Entry(label=_("Return borrowed seat"), action=Action(Act.RETURN))
    label = _("Borrow for offline use")
    limit = status.max_borrow_s
    if status.state is not SeatState.ACTIVE or limit is None:
        why = _("Borrow for offline use (needs the license server)") \
            if status.state is SeatState.OFFLINE \
            else _("Borrow for offline use (only while a seat is held)")
        return Entry(label=why, enabled=False)
    if limit <= 0:
        return Entry(label=_("Borrow for offline use (your license does not allow it)"),
                     enabled=False)
    days = [d for d in BORROW_DAYS if d * DAY_S <= limit]
    longest = limit // DAY_S
    if longest not in days and longest < BORROW_DAYS[-1]:
        days.append(max(longest, 1))  # the most the license allows, which the server caps
    children = tuple(Entry(label=_days_label(d, limit), action=Action(Act.BORROW, str(d)))
                     for d in days)
    return Entry(label=label, children=children)


def _days_label(days: int, limit: int) -> str:
    if days * DAY_S > limit:
        hours = max(1, limit // 3600)
        return ngettext("{count} hour (the most your license allows)",
                        "{count} hours (the most your license allows)", hours).format(
                            count=hours)
    if days * DAY_S == limit and days not in BORROW_DAYS:
        return ngettext("{count} day (the most your license allows)",
                        "{count} days (the most your license allows)", days).format(
                            count=days)
    return ngettext("{count} day", "{count} days", days).format(count=days)


def _license_menu(account: Account | None, *, minimum: int, label: str) -> list[Entry]:
    """A submenu of the account's licenses, when it has at least `minimum` of them."""
    if account is None or len(account.licenses) < minimum:
        return []
    return [Entry(label=label, children=tuple(
        Entry(label=clip(license_label(lic), LINE_MAX),
              action=Action(Act.USE_LICENSE, lic.id)) for lic in account.licenses))]


def license_label(lic: License) -> str:
    words = [lic.name, ngettext("{used} of {total} seats in use", "{used} of {total} seats in use",
                                lic.seats_total).format(used=lic.seats_used,
                                                        total=lic.seats_total)]
    if lic.expires_at is not None:
        words.append(_("until {date}").format(date=date(lic.expires_at.date())))
    if lic.support_until is not None:
        words.append(_("S&U until {date}").format(date=date(lic.support_until)))
    return " · ".join(words)


def device_label(device: Device) -> str:
    name = _("{device} (this device)").format(device=device.name) if device.current \
        else device.name
    seat = _("holds a seat") if device.seat else _("no seat")
    return f"{name} · {seat}"


def _devices_menu(account: Account | None, devices: Sequence[Device] | None) -> Entry:
    children: tuple[Entry, ...]
    if devices is None:
        children = (Entry(label=_("Not known: the license server has not answered"),
                          enabled=False),)
    else:
        lines = [Entry(label=clip(device_label(d), LINE_MAX), enabled=False) for d in devices]
        others = [d for d in devices if not d.current]
        if others and account is not None and account.remote_deactivation:
            lines += [SEPARATOR, *(Entry(label=clip(_("Deactivate {device}…").format(
                                             device=d.name), LINE_MAX),
                                         action=Action(Act.DEACTIVATE, d.id)) for d in others)]
        elif others:
            lines += [SEPARATOR, Entry(label=_("Turn on remote device deactivation to "
                                               "deactivate another device"), enabled=False)]
        children = tuple(lines) or (Entry(label=_("No devices"), enabled=False),)
    return Entry(label=_("Devices"), children=children)


def _remote_deactivation(account: Account | None, devices: Sequence[Device] | None) -> Entry:
    """The switch; it can be turned on only while no device of the account holds a seat."""
    label = _("Remote device deactivation")
    if account is None or devices is None:
        return Entry(label=_("Remote device deactivation (the license server has not "
                             "answered)"), checked=False,
                     enabled=False, action=Action(Act.REMOTE_DEACTIVATION))
    on = account.remote_deactivation
    action = Action(Act.REMOTE_DEACTIVATION, "off" if on else "on")
    if not on and any(d.seat is not None for d in devices):
        return Entry(label=_("Remote device deactivation (only while no seat is held)"),
                     checked=False, enabled=False, action=action)
    return Entry(label=label, checked=on, action=action)
