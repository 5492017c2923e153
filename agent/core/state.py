"""Seat state: the enum of DESIGN.md, the facts it is decided from, and the status shown.

`decide(facts, now)` is the one place the state is chosen. It is pure: the
caller passes the facts and the local wall-clock time; lease expiry is judged
on the server's clock, `now + facts.clock_skew_s`, but never earlier than
`facts.server_time_floor` (a local clock turned back does not stretch a lease).

When the server is unreachable and the last lease has run out by the server's
clock, the seat is no longer held, so the state is NOT `offline` (which
promises a held seat): it is `acquiring`, and `explain()` says why ("offline;
the seat ran out at 14:05 and will be asked for again when the server answers").

One state is added to DESIGN.md's table: `released` (after "Release seat now":
logged in, no seat, and no acquiring until the user asks or the agent restarts),
between `signed_out` and `acquiring` in precedence. In the `app` seat mode
(docs/local-api.md) it is also the state while no application has a session open
and the idle wait after the last one is over: `app_seat_wanted` says when a seat is.
Choosing "Continue in Discovery mode" (after a refusal) is shown as `discovery`, with
no acquiring until asked either.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

# SeatState has a module of its own (the tray's first icon needs only it); it is used from here.
from seatkeeper.core.seat_state import SeatState as SeatState
from seatkeeper.core.wire import format_time, parse_time
from seatkeeper.i18n import N_

# What the server's last answer about the seat means for the state.
REFUSAL_STATES: dict[str, SeatState] = {
    "SEAT_LIMIT_REACHED": SeatState.SEAT_LIMIT_REACHED,
    "NO_LICENSE": SeatState.DISCOVERY,
    "SUPPORT_EXPIRED": SeatState.SUPPORT_EXPIRED,
    "LICENSE_EXPIRED": SeatState.LICENSE_EXPIRED,
    "LEASE_REVOKED": SeatState.REVOKED,
    "FORBIDDEN": SeatState.ERROR,
    "INVALID_REQUEST": SeatState.ERROR,
}
# Refusals that say the lease we hold is gone on the server.
LEASE_ENDING_CODES = frozenset({"LEASE_EXPIRED", "LEASE_REVOKED", "NOT_FOUND",
                                "UNAUTHENTICATED"})
# Refusals that mean "not now": treated like an unreachable server.
TRANSIENT_CODES = frozenset({"RATE_LIMITED", "UNAVAILABLE"})


@dataclass(frozen=True, kw_only=True)
class SeatRefusal:
    """The server's last refusal about the seat: its `code`, `message` and `details`."""

    code: str
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Facts:
    """Everything `decide` needs, as the daemon last observed it."""

    signed_in: bool = False
    # expires_at of the last verified lease, on the server's clock; None: no lease.
    lease_expires_at: dt.datetime | None = None
    # The last refusal to an acquire or heartbeat; None after a success.
    refusal: SeatRefusal | None = None
    logout_pending: bool = False
    # The user gave the seat back and stays logged in: no acquiring until asked again.
    seat_released: bool = False
    # The user chose to continue in Discovery mode: no acquiring until asked again.
    discovery_chosen: bool = False
    pending_items: int = 0
    # Kind of the last failed contact ("timeout", "refused", "tls", …); None: it worked.
    contact_failure: str | None = None
    # server_time - local time at receipt, in seconds.
    clock_skew_s: float = 0.0
    # The server's clock is at least this (the last server time seen, advanced by the
    # monotonic clock): turning the local clock back cannot turn the estimate back.
    server_time_floor: dt.datetime | None = None
    # A problem the user must fix (configuration, TLS trust, signature); None: none.
    error: str | None = None
    # The held lease's `borrowed_until` (signed, on the server's clock): borrowed for
    # offline work until then. Not a state of its own: the seat is active or offline.
    borrowed_until: dt.datetime | None = None
    # "login": the seat is held while logged in; "app": while an application's session is
    # open, and until `app_idle_until` (local time) after the last one closed.
    seat_mode: str = "login"
    app_sessions: int = 0
    app_idle_until: dt.datetime | None = None


def server_now(facts: Facts, now: dt.datetime) -> dt.datetime:
    """The server's clock as estimated from the local `now` and the measured skew, never
    earlier than the floor of server time already seen."""
    estimate = now + dt.timedelta(seconds=facts.clock_skew_s)
    floor = facts.server_time_floor
    return estimate if floor is None or estimate >= floor else floor


def lease_held(facts: Facts, now: dt.datetime) -> bool:
    """A lease is held while the server has not ended it and its expiry is ahead."""
    if facts.lease_expires_at is None:
        return False
    if facts.refusal is not None and facts.refusal.code in LEASE_ENDING_CODES:
        return False
    return server_now(facts, now) < facts.lease_expires_at


def borrowed_until(facts: Facts, now: dt.datetime) -> dt.datetime | None:
    """When the seat borrowed for offline work ends, while it is held and borrowed."""
    until = facts.borrowed_until
    if until is None or not lease_held(facts, now) or server_now(facts, now) >= until:
        return None
    return until


def app_seat_wanted(facts: Facts, now: dt.datetime) -> bool:
    """Whether the seat mode wants a seat now: always in `login` mode; in `app` mode while a
    session is open, while a held seat waits out the idle time after the last one, and
    while the seat is borrowed (the user borrowed it for offline work: never idle-released)."""
    if facts.seat_mode != "app" or facts.app_sessions or borrowed_until(facts, now):
        return True
    return (facts.app_idle_until is not None and now < facts.app_idle_until
            and lease_held(facts, now))


def app_idle_release_due(facts: Facts, now: dt.datetime) -> bool:
    """In `app` mode, a seat is still held though no session wants it any more."""
    return lease_held(facts, now) and not app_seat_wanted(facts, now)


def _unreachable(facts: Facts) -> bool:
    transient = facts.refusal is not None and facts.refusal.code in TRANSIENT_CODES
    return facts.contact_failure is not None or facts.error is not None or transient


def _refusal_state(facts: Facts) -> SeatState | None:
    return None if facts.refusal is None else REFUSAL_STATES.get(facts.refusal.code)


def decide(facts: Facts, now: dt.datetime) -> SeatState:
    """The state to show, by DESIGN.md's precedence (first rule that holds wins)."""
    held = lease_held(facts, now)
    if facts.logout_pending:
        return SeatState.LOGOUT_PENDING
    if not facts.signed_in or (facts.refusal is not None
                               and facts.refusal.code == "UNAUTHENTICATED"):
        return SeatState.SIGNED_OUT
    if facts.seat_released and not held:
        return SeatState.RELEASED
    if facts.discovery_chosen and not held:
        return SeatState.DISCOVERY
    if not held and not app_seat_wanted(facts, now):
        return SeatState.RELEASED
    refused = _refusal_state(facts)
    if not held and refused is None and facts.error is None:
        return SeatState.ACQUIRING
    if held:
        return SeatState.OFFLINE if _unreachable(facts) else SeatState.ACTIVE
    return refused or SeatState.ERROR


# What explain() says, in English always (status --json carries it); front ends say it in
# the user's language (seatkeeper.phrases).
RAN_OUT = N_("Offline; the seat ran out at {time} and will be asked for again when the server "
             "answers.")
WILL_ASK = N_("Offline; a seat will be asked for when the server answers.")
BORROWED_OFFLINE = N_("Offline; seat borrowed until {time}.")
HELD_OFFLINE = N_("Offline; seat held until {time}.")
NO_APPLICATION = N_("No application is using the seat (seat mode app); it is taken again when "
                    "one starts.")
DISCOVERY_CHOSEN = N_("Discovery mode, as you chose: no seat is used until you ask for one.")
EXPLANATIONS = (RAN_OUT, WILL_ASK, BORROWED_OFFLINE, HELD_OFFLINE, NO_APPLICATION,
                DISCOVERY_CHOSEN)


def explain(facts: Facts, now: dt.datetime) -> str | None:
    """A short reason to show beside the state where the state alone does not say it."""
    state = decide(facts, now)
    if state is SeatState.ACQUIRING and _unreachable(facts):
        if facts.lease_expires_at is not None and not lease_held(facts, now):
            return RAN_OUT.format(time=format_time(facts.lease_expires_at))
        return WILL_ASK
    borrowed = borrowed_until(facts, now)
    if state is SeatState.OFFLINE and borrowed is not None:
        return BORROWED_OFFLINE.format(time=format_time(borrowed))
    if state is SeatState.OFFLINE and facts.lease_expires_at is not None:
        return HELD_OFFLINE.format(time=format_time(facts.lease_expires_at))
    if state is SeatState.RELEASED and not facts.seat_released:
        return NO_APPLICATION
    if state is SeatState.DISCOVERY and facts.discovery_chosen:
        return DISCOVERY_CHOSEN
    if state is SeatState.ERROR:
        if facts.error:
            return facts.error
        return facts.refusal.message if facts.refusal else None
    if facts.refusal is not None and state is _refusal_state(facts):
        return facts.refusal.message or None
    return None


@dataclass(frozen=True, kw_only=True)
class PendingItem:
    """An outbox item as front ends show it (never its tokens)."""

    kind: str
    created_at: dt.datetime
    attempts: int = 0
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "created_at": format_time(self.created_at),
                "attempts": self.attempts, "last_error": self.last_error}


@dataclass(frozen=True, kw_only=True)
class Holder:
    """A device holding one of the seats when the limit is reached."""

    name: str
    id: str | None = None
    last_heartbeat_at: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        seen = self.last_heartbeat_at
        return {"id": self.id, "name": self.name,
                "last_heartbeat_at": None if seen is None else format_time(seen)}


@dataclass(frozen=True, kw_only=True)
class Status:
    """What the tray and `status --json` render; built by the daemon, drawn by front ends."""

    state: SeatState
    server: str | None = None
    account: str | None = None
    device_name: str | None = None
    license_name: str | None = None
    seats_used: int | None = None
    seats_total: int | None = None
    lease_id: str | None = None
    lease_expires_at: dt.datetime | None = None
    heartbeat_interval_s: int | None = None
    holders: tuple[Holder, ...] = ()
    revoked_by: str | None = None
    error: str | None = None
    message: str | None = None
    pending: tuple[PendingItem, ...] = ()
    # Discovery mode was chosen by the user (not only the server's NO_LICENSE).
    discovery_chosen: bool = False
    # Borrowed for offline work until then (None: not borrowed); the license's limit.
    borrowed_until: dt.datetime | None = None
    max_borrow_s: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Status:
        """`to_json`'s output (as `status --json` and the control channel carry it) read
        back, for a front end that draws it; keys it does not know are ignored."""
        def when(value: Any) -> dt.datetime | None:
            return None if value is None else parse_time(str(value))

        lic = data.get("license") or {}
        lease = data.get("lease") or {}
        return cls(
            state=SeatState(data["state"]), server=data.get("server"),
            account=data.get("account"), device_name=data.get("device"),
            license_name=lic.get("name"), seats_used=lic.get("seats_used"),
            seats_total=lic.get("seats_total"), max_borrow_s=lic.get("max_borrow_s"),
            lease_id=lease.get("lease_id"), lease_expires_at=when(lease.get("expires_at")),
            holders=tuple(Holder(name=h["name"], id=h.get("id"),
                                 last_heartbeat_at=when(h.get("last_heartbeat_at")))
                          for h in data.get("seat_holders") or ()),
            revoked_by=data.get("revoked_by"), error=data.get("error"),
            message=data.get("message"),
            pending=tuple(PendingItem(kind=p["kind"], created_at=parse_time(p["created_at"]),
                                      attempts=p.get("attempts", 0),
                                      last_error=p.get("last_error"))
                          for p in data.get("pending") or ()),
            discovery_chosen=bool(data.get("discovery_chosen")),
            borrowed_until=when(data.get("borrowed_until")))

    def to_json(self) -> dict[str, Any]:
        """Stable keys, always present; null where they do not apply."""
        lease = None
        if self.lease_id is not None or self.lease_expires_at is not None:
            expires = self.lease_expires_at
            lease = {"lease_id": self.lease_id,
                     "expires_at": None if expires is None else format_time(expires)}
        license_ = None
        if self.license_name is not None:
            license_ = {"name": self.license_name, "seats_used": self.seats_used,
                        "seats_total": self.seats_total, "max_borrow_s": self.max_borrow_s}
        return {
            "state": self.state.value,
            "server": self.server,
            "account": self.account,
            "device": self.device_name,
            "license": license_,
            "lease": lease,
            "seat_holders": [holder.to_json() for holder in self.holders],
            "revoked_by": self.revoked_by,
            "error": self.error,
            "message": self.message,
            "pending": [item.to_json() for item in self.pending],
            "discovery_chosen": self.discovery_chosen,
            "borrowed_until": None if self.borrowed_until is None
            else format_time(self.borrowed_until),
        }
