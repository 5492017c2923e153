"""The daemon's facts and files -> the `Status` that front ends draw and `status --json` prints."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from seatkeeper.config import Config
from seatkeeper.core.protocol import LeaseEnvelope
from seatkeeper.core.state import (
    TRANSIENT_CODES,
    Facts,
    Holder,
    SeatState,
    Status,
    borrowed_until,
    decide,
    explain,
)
from seatkeeper.i18n import N_
from seatkeeper.service.outbox import Item
from seatkeeper.service.session import Session

# In English (status --json carries it); the tray and the CLI say it in the user's language.
REVOKERS = {"remote_deactivation": N_("another device of your account"),
            "admin": N_("an administrator")}


def build_status(facts: Facts, now: dt.datetime, *, session: Session | None, signed_in: bool,
                 envelope: LeaseEnvelope | None, holders: tuple[Holder, ...],
                 message: str | None, pending: Sequence[Item], config: Config) -> Status:
    state = decide(facts, now)
    lease = envelope.lease if envelope else None
    revoked_by = None
    if state is SeatState.REVOKED and facts.refusal is not None:
        reason = str(facts.refusal.details.get("reason"))
        revoked_by = REVOKERS.get(reason, reason)
    return Status(
        state=state, server=session.server_url if session else config.server_url,
        account=session.email if session and signed_in else None,
        device_name=session.device_name if session else config.device_name,
        license_name=lease.license.name if lease else None,
        seats_used=lease.license.seats_used if lease else None,
        seats_total=lease.license.seats_total if lease else None,
        lease_id=lease.lease_id if lease else None,
        lease_expires_at=lease.expires_at if lease else None,
        heartbeat_interval_s=lease.heartbeat_interval_s if lease else None,
        discovery_chosen=facts.discovery_chosen,
        borrowed_until=borrowed_until(facts, now),
        max_borrow_s=lease.license.max_borrow_s if lease else None,
        holders=holders if state is SeatState.SEAT_LIMIT_REACHED else (),
        revoked_by=revoked_by,
        error=facts.error if state is SeatState.ERROR else None,
        message=_message(state, facts, now, message),
        pending=tuple(item.summary() for item in pending))


def _message(state: SeatState, facts: Facts, now: dt.datetime, last: str | None) -> str | None:
    """What to say beside the state; while the server cannot be used, also why not.

    `last` is the daemon's latest message: for a failed contact, the failure in words
    ("… took too long to answer"), so "Offline" says what is wrong with the network.
    """
    shown = explain(facts, now)
    if shown is None:
        return last
    cause = None
    if state in (SeatState.OFFLINE, SeatState.ACQUIRING):
        if facts.contact_failure is not None:
            cause = last
        elif facts.refusal is not None and facts.refusal.code in TRANSIENT_CODES:
            cause = facts.refusal.message
    return f"{shown} {cause}" if cause and cause not in shown else shown
