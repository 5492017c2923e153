"""What the tray says in dialogs and notifications, decided from statuses (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from seatkeeper.core.protocol import Device
from seatkeeper.core.state import SeatState, Status
from seatkeeper.i18n import _
from seatkeeper.phrases import say
from seatkeeper.service.first_run import ServerChoice, ServerSetting
from seatkeeper.tray.view import HELD, local_time, revoked_by

# When the agent does not know the heartbeat interval, "offline too long" starts here.
DEFAULT_HEARTBEAT_S = 300
# A logout that waited at least this long was queued, and its delivery is worth a notice.
QUEUED_AFTER_S = 3.0


class Kind(StrEnum):
    """The dialog's kind: a question (OK/Cancel), information, or an error."""

    QUESTION = "question"
    INFO = "info"
    ERROR = "error"


@dataclass(frozen=True, kw_only=True)
class Prompt:
    """A native dialog's words: a short title, the text, and its kind."""

    title: str
    text: str
    kind: Kind = Kind.INFO


@dataclass(frozen=True, kw_only=True)
class Notice:
    """A desktop notification; `actions`: its buttons, (key, label), where the desktop
    shows buttons on notifications."""

    title: str
    text: str
    actions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class AddressPrompt:
    """The words of the dialog that asks for the license server's address, and what its
    field starts with."""

    title: str
    text: str
    label: str
    placeholder: str
    initial: str
    confirm: str
    cancel: str
    checking: str


def connect_prompt(server: ServerSetting) -> AddressPrompt:
    """Connect to a license server (the first run), or Change license server."""
    buttons = {"label": _("Server address:"), "placeholder": "https://licenses.example.com",
               "initial": server.url or "", "confirm": _("Connect"), "cancel": _("Cancel"),
               "checking": _("Checking the address…")}
    if server.choice is ServerChoice.CHANGE:
        return AddressPrompt(
            title=_("Change the license server"),
            text=_("Type the address of the license server to log in to. Then you log in in "
                   "your web browser."), **buttons)
    if server.suggested:
        text = _("Your administrator suggests this license server. Connect to it, or type "
                 "the address you were given. Then you log in in your web browser.")
    else:
        text = _("Type the address of your license server, as your administrator or the "
                 "software's vendor gave it to you, like https://licenses.example.com. Then "
                 "you log in in your web browser.")
    return AddressPrompt(title=_("Connect to a license server"), text=text, **buttons)


def logout_prompt(status: Status) -> Prompt:
    """The confirmation before Log Out: the seat will be freed."""
    what = status.license_name or _("the licensed software")
    text = _("Your seat will be freed for another device, and you will need to log in again "
             "to use {software} on this computer.").format(software=what)
    if status.state is SeatState.OFFLINE:
        text += " " + _("The license server cannot be reached now: the logout waits and is "
                        "delivered as soon as it can be.")
    return Prompt(title=_("Log out of Seatkeeper?"), text=text, kind=Kind.QUESTION)


def deactivate_prompt(device: Device) -> Prompt:
    return Prompt(title=_("Deactivate {device}?").format(device=device.name),
                  text=_("Its seat is freed and {device} is logged out: whoever uses it "
                         "must log in again.").format(device=device.name), kind=Kind.QUESTION)


COPY_CODE = "copy-code"
# freedesktop's key for a click on the notification itself, not on one of its buttons.
OPEN_PAGE = "default"


def login_notice(user_code: str, verification_uri: str) -> Notice:
    """The browser login's code, as a notification (the menu shows it too), with a button
    that copies it."""
    return Notice(title=_("Log in to Seatkeeper"),
                  text=_("Approve the code {code} in the browser ({address}).").format(
                      code=user_code, address=verification_uri),
                  actions=((OPEN_PAGE, _("Open the login page")), (COPY_CODE, _("Copy code"))))


def about_prompt(status: Status, versions: Mapping[str, str]) -> Prompt:
    lines = [f"{name} {version}" for name, version in versions.items()]
    lines.append(_("Server: {server}").format(server=status.server or _("not set")))
    lines.append(_("Account: {account}").format(account=status.account or _("not logged in")))
    if status.device_name:
        lines.append(_("This device: {device}").format(device=status.device_name))
    return Prompt(title=_("About Seatkeeper"), text="\n".join(lines))


def failure_prompt(what: str, reason: str) -> Prompt:
    """`what`: the failed action, as `Could not {what}` reads in the language in use."""
    return Prompt(title=_("Could not {what}").format(what=_(what)), text=say(reason),
                  kind=Kind.ERROR)


@dataclass(frozen=True, kw_only=True)
class Memory:
    """What notices remember between one status and the next."""

    state: SeatState | None = None
    # A seat was held and has not been given back by the user since.
    had_seat: bool = False
    since: dt.datetime | None = None
    offline_told: bool = False


def follow(memory: Memory, status: Status, now: dt.datetime, tz: dt.tzinfo | None = None
           ) -> tuple[Memory, tuple[Notice, ...]]:
    """The next memory, and the notices this status calls for (each told once).

    Call it with every status, and again with the same one when `next_due` says, so that
    "offline for longer than one heartbeat" is noticed while nothing changes.
    """
    notices: list[Notice] = []
    if memory.state is not None and status.state is not memory.state:
        notice = _transition(memory, status, now)
        if notice is not None:
            notices.append(notice)
    if status.state is not memory.state:
        memory = Memory(state=status.state, had_seat=memory.had_seat, since=now)
    if status.state in HELD:
        memory = replace(memory, had_seat=True)
    elif status.state not in (SeatState.ACQUIRING, SeatState.SEAT_LIMIT_REACHED):
        memory = replace(memory, had_seat=False)
    if status.state is SeatState.OFFLINE and not memory.offline_told and memory.since:
        interval = status.heartbeat_interval_s or DEFAULT_HEARTBEAT_S
        if (now - memory.since).total_seconds() > interval:
            memory = replace(memory, offline_told=True)
            notices.append(_offline(status, tz))
    return memory, tuple(notices)


def next_due(memory: Memory, status: Status, now: dt.datetime) -> float | None:
    """Seconds until `follow` has a time-based notice to tell for this status (0: now);
    None: none is waiting (the caller may sleep until the status changes)."""
    if status.state is SeatState.OFFLINE and not memory.offline_told and memory.since:
        interval = status.heartbeat_interval_s or DEFAULT_HEARTBEAT_S
        return max(0.0, interval - (now - memory.since).total_seconds())
    return None


def _transition(memory: Memory, status: Status, now: dt.datetime) -> Notice | None:
    """The notice for leaving `memory.state` for `status.state`, if it calls for one."""
    state = status.state
    if state is SeatState.REVOKED:
        who = revoked_by(status.revoked_by) if status.revoked_by else _("someone else")
        return Notice(title=_("Seat taken away"),
                      text=_("Your seat on this computer was taken away by {who}.").format(
                          who=who))
    if state is SeatState.SEAT_LIMIT_REACHED and memory.had_seat:
        names = ", ".join(h.name for h in status.holders) or _("other devices")
        return Notice(title=_("Seat lost to another device"),
                      text=_("While this computer could not reach the license server its "
                             "seat ran out, and every seat is now in use on {devices}.").format(
                                 devices=names))
    waited = (now - memory.since).total_seconds() if memory.since else 0.0
    if (memory.state is SeatState.LOGOUT_PENDING and state is SeatState.SIGNED_OUT
            and waited >= QUEUED_AFTER_S):
        return Notice(title=_("Logged out"),
                      text=_("The logout reached the license server: your seat is free for "
                             "another device."))
    return None


def _offline(status: Status, tz: dt.tzinfo | None) -> Notice:
    until = status.lease_expires_at
    if until:
        text = _("The license server cannot be reached. Your seat is held until {time}. "
                 "Seatkeeper keeps trying.").format(time=local_time(until, tz))
    else:
        text = _("The license server cannot be reached. Seatkeeper keeps trying.")
    return Notice(title=_("Offline"), text=text)
