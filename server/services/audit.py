"""The audit trail: one row per change to a seat, a login or an account, and who made it."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from seatkeeper_server import errors
from seatkeeper_server.models import AuditEvent
from seatkeeper_server.timeutil import to_rfc3339
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

# Every event the server records (docs/protocol.md, "The audit trail").
EVENTS = (
    "login",                           # a device logged in (password or approved device login)
    "logout",                          # a device logged out: token revoked, seat released
    "acquire",                         # a new lease
    "borrow",                          # a lease kept for offline work; detail: until when
    "release",                         # a lease given back; detail: user|shutdown|logout|admin|
                                       # remote_deactivation
    "reclaim",                         # a lease whose heartbeat stopped, closed by the server
    "deactivate",                      # a device deactivated remotely (its seat, its login)
    "remote_deactivation_on",          # the account's switch
    "remote_deactivation_off",
    "device_login_approved",           # a device-login code approved on the portal
    "device_login_denied",
    "account_created",                 # by the admin API or `seatkeeper-server admin`
    "license_created",
    "license_updated",                 # PATCH /v1/admin/licenses/{id}; detail: what changed
    "license_revoked",                 # its seats ended, gone for its account
    "account_disabled",                # its seats ended, its devices signed out
    "account_enabled",
    "password_reset",                  # detail: set, or one-time
    "admin_created",                   # `seatkeeper-server admin create-admin`
    "console_sign_in",                 # an administrator signed in to the console
)
SYSTEM = "system"
ADMIN_TOKEN = "admin-token"  # noqa: S105 (an actor's name, not a secret)
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


def device(device_id: str) -> str:
    return f"device:{device_id}"


def portal(account_id: str) -> str:
    return f"portal:{account_id}"


def admin(name: str) -> str:
    return f"admin:{name}"


def console(account_id: str) -> str:
    """An administrator signed in to the console, by account (not the OS user of `admin:`)."""
    return f"console:{account_id}"


def record(session: Session, now: int, event: str, *, actor: str = SYSTEM,
           account_id: str | None = None, device_id: str | None = None,
           lease_id: str | None = None, license_id: str | None = None,
           detail: str | None = None) -> None:
    """Add an event to the current transaction; it stands or falls with the change."""
    assert event in EVENTS, event
    session.add(AuditEvent(at=now, event=event, actor=actor, account_id=account_id,
                           device_id=device_id, lease_id=lease_id, license_id=license_id,
                           detail=detail))


def _cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(f"a1:{event_id}".encode()).decode().rstrip("=")


def _after(cursor: str) -> int:
    """The id a cursor continues below; 400 for anything this server did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, number = raw.partition(":")
        if version != "a1" or not number.isdigit():
            raise ValueError
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise errors.InvalidRequest(
            "The cursor is not one this server handed out: pass back `next` unchanged.",
            {"fields": {"cursor": "is not a cursor from `next`"}}) from None


def events_json(session: Session, *, event: str | None, account_id: str | None,
                device_id: str | None, since: int | None, limit: int,
                cursor: str | None) -> dict[str, Any]:
    """A page of the trail, newest first, and the cursor to the next page (or None)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    for column, value in ((AuditEvent.event, event), (AuditEvent.account_id, account_id),
                          (AuditEvent.device_id, device_id)):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if cursor is not None:
        query = query.where(AuditEvent.id < _after(cursor))
    rows = session.scalars(query.limit(limit + 1)).all()
    page = rows[:limit]
    return {"events": [{"at": to_rfc3339(row.at), "event": row.event, "actor": row.actor,
                        "account_id": row.account_id, "device_id": row.device_id,
                        "lease_id": row.lease_id, "license_id": row.license_id,
                        "detail": row.detail} for row in page],
            "next": _cursor(page[-1].id) if len(rows) > limit else None}


def prune(session: Session, before: int, batch: int) -> int:
    """Delete up to `batch` of the oldest events recorded before `before`; returns how many."""
    oldest = select(AuditEvent.id).where(AuditEvent.at < before).order_by(AuditEvent.id) \
        .limit(batch)
    gone = session.execute(delete(AuditEvent).where(AuditEvent.id.in_(oldest.scalar_subquery())))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]
