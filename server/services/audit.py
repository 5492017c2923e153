"""The audit trail: one row per acquire, release, reclaim, deactivation and login."""

from __future__ import annotations

from seatkeeper_server.models import AuditEvent
from sqlalchemy.orm import Session


def record(session: Session, now: int, event: str, *, account_id: str | None = None,
           device_id: str | None = None, lease_id: str | None = None,
           license_id: str | None = None, detail: str | None = None) -> None:
    """Add an event to the current transaction; it stands or falls with the change."""
    session.add(AuditEvent(at=now, event=event, account_id=account_id, device_id=device_id,
                           lease_id=lease_id, license_id=license_id, detail=detail))
