"""Rows -> the JSON shapes of PROTOCOL.md."""

from __future__ import annotations

from typing import Any

from seatkeeper_server.models import Device, Lease, License
from seatkeeper_server.services.leases import Seat
from seatkeeper_server.timeutil import to_rfc3339
from sqlalchemy import func, select
from sqlalchemy.orm import Session


def live_leases(license_id: str, now: int) -> Any:
    """Leases that hold a seat: not released and not past `expires_at` (lazy reclaim)."""
    return select(Lease).where(Lease.license_id == license_id, Lease.released_at.is_(None),
                               Lease.expires_at > now)


def seats_used(session: Session, license_id: str, now: int) -> int:
    query = select(func.count()).select_from(live_leases(license_id, now).subquery())
    return int(session.scalar(query) or 0)


def license_json(session: Session, lic: License, now: int) -> dict[str, Any]:
    return {
        "id": lic.id,
        "account_id": lic.account_id,
        "name": lic.name,
        "kind": lic.kind,
        "seats_total": lic.seats_total,
        "seats_used": seats_used(session, lic.id, now),
        "expires_at": to_rfc3339(lic.expires_at),
        "support_until": lic.support_until,
        "max_borrow_s": lic.max_borrow_s,
    }


def device_live_lease(session: Session, device_id: str, now: int) -> Lease | None:
    return session.scalars(
        select(Lease).where(Lease.device_id == device_id, Lease.released_at.is_(None),
                            Lease.expires_at > now).order_by(Lease.issued_at.desc())
    ).first()


def borrowed_until(lease: Any, now: int) -> str | None:
    """When a seat borrowed for offline work ends, while it is borrowed; else None."""
    until = lease.borrowed_until
    return to_rfc3339(until) if until is not None and until > now else None


def device_json(session: Session, device: Device, caller_device_id: str | None,
                now: int) -> dict[str, Any]:
    lease = device_live_lease(session, device.id, now)
    seat = None if lease is None else {
        "lease_id": lease.id,
        "license_id": lease.license_id,
        "expires_at": to_rfc3339(lease.expires_at),
        "borrowed_until": borrowed_until(lease, now),
    }
    return {
        "id": device.id,
        "name": device.name,
        "platform": device.platform,
        "current": device.id == caller_device_id,
        "seat": seat,
        "last_heartbeat_at": to_rfc3339(device.last_heartbeat_at),
    }


def seat_json(seat: Seat, now: int, *, ttl_s: int, heartbeat_interval_s: int,
              release_token: str | None = None) -> dict[str, Any]:
    """The lease body that is signed, from the rows `leases.seat` read."""
    lease, lic = seat.lease, seat.license
    body: dict[str, Any] = {
        "lease_id": lease.id,
        "account_id": lease.account_id,
        "license": {
            "id": seat.license_id,
            "account_id": lease.account_id,
            "name": lic.license_name,
            "kind": lic.kind,
            "seats_total": lic.seats_total,
            "seats_used": lic.seats_used,
            "expires_at": to_rfc3339(lic.license_expires_at),
            "support_until": lic.support_until,
            "max_borrow_s": lic.max_borrow_s,
        },
        "device": {"id": lease.device_id, "name": seat.device_name},
        "issued_at": to_rfc3339(lease.issued_at),
        "expires_at": to_rfc3339(lease.expires_at),
        "borrowed_until": borrowed_until(lease, now),
        "server_time": to_rfc3339(now),
        "ttl_s": ttl_s,
        "heartbeat_interval_s": heartbeat_interval_s,
    }
    if release_token is not None:
        body["release_token"] = release_token
    return body
