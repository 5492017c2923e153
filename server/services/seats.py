"""Seats: acquire, heartbeat, release, reclaim. Every rule of PROTOCOL.md's Leases section."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from seatkeeper_server import errors, security
from seatkeeper_server.models import Device, Lease, License
from seatkeeper_server.services import audit, auth, render
from seatkeeper_server.services.auth import Caller
from seatkeeper_server.timeutil import parse_date, to_rfc3339
from sqlalchemy import select, update
from sqlalchemy.orm import Session

REVOKING_REASONS = ("remote_deactivation", "admin")
ReleaseReason = Literal["user", "shutdown", "logout"]


@dataclass(frozen=True)
class LeaseTerms:
    """How long a lease lives without a heartbeat, and how often the agent should beat."""

    ttl_s: int
    heartbeat_interval_s: int


@dataclass(frozen=True)
class AppInfo:
    name: str
    version: str
    release_date: dt.date


def _usable(lic: License, app: AppInfo, now: int) -> errors.ApiError | None:
    """Why this license cannot be used for this app now, or None if it can."""
    if lic.kind == "perpetual":
        if lic.support_until is not None and app.release_date > parse_date(lic.support_until):
            return errors.SupportExpired(
                f"Support & Upgrade of {lic.name} ended on {lic.support_until}, before "
                f"{app.name} {app.version} was released ({app.release_date.isoformat()}). "
                "Use an earlier version, renew Support & Upgrade, or continue in Discovery mode.",
                {"support_until": lic.support_until,
                 "app_release_date": app.release_date.isoformat(), "license_id": lic.id})
        return None
    if lic.expires_at is not None and lic.expires_at <= now:
        return errors.LicenseExpired(
            f"The subscription {lic.name} ended on {to_rfc3339(lic.expires_at)}. Renew it "
            "to keep working, or continue in Discovery mode.",
            {"expired_at": to_rfc3339(lic.expires_at), "license_id": lic.id})
    return None


def _seat_limit(session: Session, lic: License, now: int) -> errors.SeatLimitReached:
    holders = session.execute(
        select(Device).join(Lease, Lease.device_id == Device.id)
        .where(Lease.id.in_(select(render.live_leases(lic.id, now).subquery().c.id)))
        .order_by(Device.last_heartbeat_at.desc())
    ).scalars().all()
    devices = [{"id": d.id, "name": d.name, "last_heartbeat_at": to_rfc3339(d.last_heartbeat_at)}
               for d in holders]
    names = ", ".join(d.name for d in holders)
    return errors.SeatLimitReached(
        f"All {lic.seats_total} seats of {lic.name} are in use ({names}). Log out on one of "
        "those devices, or deactivate it remotely.",
        {"seats_total": lic.seats_total, "devices": devices, "license_id": lic.id})


def _held(session: Session, lic: License, device_id: str, now: int) -> Lease | None:
    return session.scalars(render.live_leases(lic.id, now).where(Lease.device_id == device_id)
                           ).first()


def _envelope(session: Session, signer: Any, lease: Lease, lic: License, now: int,
              terms: LeaseTerms, release_token: str | None = None,
              device: Device | None = None) -> dict[str, Any]:
    if device is None:
        device = session.get(Device, lease.device_id)
    assert device is not None
    body = render.lease_json(session, lease, lic, device, now, ttl_s=terms.ttl_s,
                             heartbeat_interval_s=terms.heartbeat_interval_s,
                             release_token=release_token)
    return {"lease": body, "signature": signer.sign(body)}


def _renew(session: Session, lease: Lease, now: int, terms: LeaseTerms) -> None:
    # A heartbeat or seat request never shortens a lease: a borrowed seat keeps its expiry.
    lease.expires_at = max(lease.expires_at, now + terms.ttl_s)
    lease.last_heartbeat_at = now
    # The UPDATE autoflushes the lease first: leases before their device, the order in which
    # logout and deactivation lock them too. No need to evaluate the UPDATE against the
    # session's objects: none of them reads a device's last_heartbeat_at afterwards.
    session.execute(update(Device).where(Device.id == lease.device_id)
                    .values(last_heartbeat_at=now),
                    execution_options={"synchronize_session": False})


def acquire(session: Session, caller: Caller, license_id: str | None, app: AppInfo, now: int,
            terms: LeaseTerms, signer: Any) -> tuple[dict[str, Any], bool]:
    """Take (or renew) a seat. Returns the signed lease and whether it is new (201)."""
    # A revoked license is gone for its account.
    query = select(License).where(License.account_id == caller.account_id,
                                  License.revoked_at.is_(None))
    if license_id is not None:
        query = query.where(License.id == license_id)
    # Locking the account's licenses (in one order, so never a deadlock) makes count-then-insert
    # atomic on PostgreSQL; on SQLite the transaction already holds the database's write lock.
    licenses = session.scalars(query.order_by(License.created_ns, License.id)
                               .with_for_update()).all()
    # Disabling the account locks these licenses too: once it has run, the token is revoked.
    auth.still_valid(session, caller)
    if license_id is not None and not licenses:
        raise errors.NotFound(f"No license {license_id} on this account.")
    if not licenses:
        raise errors.NoLicense(
            "This account has no license. You can continue in Discovery mode, or buy a license.")

    refusals: list[errors.ApiError] = []
    usable: list[License] = []
    for lic in licenses:
        refusal = _usable(lic, app, now)
        if refusal is None:
            usable.append(lic)
        else:
            refusals.append(refusal)
    for lic in usable:
        held = _held(session, lic, caller.device_id, now)
        if held is not None:
            _renew(session, held, now, terms)
            session.flush()
            return _envelope(session, signer, held, lic, now, terms), False
    for lic in usable:
        if render.seats_used(session, lic.id, now) < lic.seats_total:
            release_token = security.new_token("skr")
            lease = Lease(id=security.new_id("lea"), license_id=lic.id,
                          device_id=caller.device_id, account_id=caller.account_id,
                          issued_at=now, expires_at=now + terms.ttl_s, last_heartbeat_at=now,
                          release_token_hash=security.token_hash(release_token))
            session.add(lease)
            _renew(session, lease, now, terms)
            audit.record(session, now, "acquire", actor=audit.device(caller.device_id),
                         account_id=caller.account_id,
                         device_id=caller.device_id, lease_id=lease.id, license_id=lic.id)
            session.flush()
            return _envelope(session, signer, lease, lic, now, terms, release_token), True
    if usable:
        raise _seat_limit(session, usable[0], now)
    order = {"SUPPORT_EXPIRED": 0, "LICENSE_EXPIRED": 1}
    raise min(refusals, key=lambda e: order.get(e.code, 2))


def _caller_lease(session: Session, caller: Caller, lease_id: str) -> Lease:
    """The lease, if it is this caller's account's (404 otherwise) and this device's (403)."""
    lease = session.get(Lease, lease_id)
    if lease is None or lease.account_id != caller.account_id:
        raise errors.NotFound(f"No lease {lease_id} for this account.")
    if lease.device_id != caller.device_id:
        raise errors.Forbidden("This lease belongs to another device of the account.")
    return lease


def heartbeat(session: Session, caller: Caller, lease_id: str, now: int, terms: LeaseTerms,
              signer: Any) -> dict[str, Any]:
    """Extend a live lease by `ttl_s`; a revoked one answers why, even to a revoked token."""
    if caller.revoked_reason is not None:
        lease = session.get(Lease, lease_id)
        if (lease is not None and lease.device_id == caller.device_id
                and lease.release_reason in REVOKING_REASONS):
            raise _revoked(lease)
        raise errors.Unauthenticated(
            "The device token is no longer valid. Log in again.")
    # The lease with its license and device in one query (the hot path: one per heartbeat).
    # Locking the lease row on PostgreSQL makes a heartbeat and a release of the same
    # lease take turns: a heartbeat never answers 200 for a lease released meanwhile.
    row = session.execute(
        select(Lease, License, Device).join(License, License.id == Lease.license_id)
        .join(Device, Device.id == Lease.device_id).where(Lease.id == lease_id)
        .with_for_update(of=Lease)
    ).first()
    if row is None or row[0].account_id != caller.account_id:
        raise errors.NotFound(f"No lease {lease_id} for this account.")
    lease, lic, device = row
    if lease.device_id != caller.device_id:
        raise errors.Forbidden("This lease belongs to another device of the account.")
    if lease.released_at is not None and lease.release_reason in REVOKING_REASONS:
        raise _revoked(lease)
    if lease.released_at is not None or lease.expires_at <= now:
        raise errors.LeaseExpired(
            "This lease is no longer live (no heartbeat in time, or released). Acquire again.",
            {"lease_id": lease.id})
    _renew(session, lease, now, terms)
    session.flush()
    return _envelope(session, signer, lease, lic, now, terms, device=device)


def borrow(session: Session, caller: Caller, lease_id: str, until: int, now: int,
           terms: LeaseTerms, signer: Any) -> dict[str, Any]:
    """Keep a live lease until `until` (capped by the license) with no heartbeat: offline work.

    The new expiry replaces the old one (borrowing again for less shortens it); later
    heartbeats only ever lengthen it, so a revocation still reaches an online device.
    """
    if until <= now:
        raise errors.InvalidRequest("The request is not valid: until must be in the future.",
                                    {"fields": {"until": "must be later than now"}})
    _caller_lease(session, caller, lease_id)
    lease = _locked(session, lease_id)
    assert lease is not None
    if lease.released_at is not None and lease.release_reason in REVOKING_REASONS:
        raise _revoked(lease)
    if lease.released_at is not None or lease.expires_at <= now:
        raise errors.LeaseExpired(
            "This lease is no longer live (no heartbeat in time, or released). Acquire again.",
            {"lease_id": lease.id})
    lic = session.get(License, lease.license_id)
    assert lic is not None
    if lic.max_borrow_s <= 0:
        raise errors.BorrowNotAllowed(
            f"The license {lic.name} does not allow borrowing a seat for offline use. Its "
            "administrator can allow it (max_borrow_s).",
            {"license_id": lic.id, "max_borrow_s": lic.max_borrow_s})
    ends = min(until, now + lic.max_borrow_s)
    if lic.expires_at is not None:
        ends = min(ends, lic.expires_at)
    _renew(session, lease, now, terms)
    lease.expires_at = lease.borrowed_until = ends
    audit.record(session, now, "borrow", actor=audit.device(caller.device_id),
                 account_id=lease.account_id, device_id=lease.device_id, lease_id=lease.id,
                 license_id=lic.id, detail=f"until {to_rfc3339(ends)}")
    session.flush()
    return _envelope(session, signer, lease, lic, now, terms)


def _revoked(lease: Lease) -> errors.LeaseRevoked:
    who = ("from another device of the account (remote deactivation)"
           if lease.release_reason == "remote_deactivation" else "by an administrator")
    return errors.LeaseRevoked(f"This seat was taken away {who}.",
                               {"reason": lease.release_reason, "lease_id": lease.id})


def _end(session: Session, lease: Lease, now: int, reason: str, actor: str,
         event: str = "release") -> None:
    """Close a lease that is still open: released for `reason`, or reclaimed if it expired.

    The caller holds the lease's row lock (PostgreSQL), so of two simultaneous releases
    the second sees the first's `released_at` and records nothing: one event per lease.
    """
    if lease.released_at is not None:
        return
    if lease.expires_at <= now:
        lease.released_at, lease.release_reason = lease.expires_at, "expired"
        event, reason, actor = "reclaim", "expired", audit.SYSTEM
    else:
        lease.released_at, lease.release_reason = now, reason
    audit.record(session, now, event, actor=actor, account_id=lease.account_id,
                 device_id=lease.device_id, lease_id=lease.id, license_id=lease.license_id,
                 detail=reason)


def _locked(session: Session, lease_id: str) -> Lease | None:
    """The lease, its row locked until the transaction ends (PostgreSQL; SQLite's is whole)."""
    return session.get(Lease, lease_id, with_for_update=True, populate_existing=True)


def release_by_device(session: Session, caller: Caller, lease_id: str, reason: str,
                      now: int) -> None:
    _caller_lease(session, caller, lease_id)
    lease = _locked(session, lease_id)
    assert lease is not None
    _end(session, lease, now, reason, audit.device(caller.device_id))


def release_by_token(session: Session, release_token: str, lease_id: str, reason: str,
                     now: int) -> None:
    """A release token opens its own lease and nothing else."""
    lease = _locked(session, lease_id)
    if (lease is None or not security.well_formed_token(release_token)
            or not security.same_secret(lease.release_token_hash,
                                        security.token_hash(release_token))):
        raise errors.Unauthenticated("The release token is wrong for this lease.")
    # Only the device the lease was issued to ever held its release token.
    _end(session, lease, now, reason, audit.device(lease.device_id))


def admin_release(session: Session, lease_id: str, now: int,
                  actor: str = audit.ADMIN_TOKEN) -> str:
    """Force release (reason `admin`); already released: nothing. Returns its license's id."""
    lease = _locked(session, lease_id)
    if lease is None:
        raise errors.NotFound(f"No lease {lease_id}.")
    _end(session, lease, now, "admin", actor)
    return lease.license_id


def release_license(session: Session, license_id: str, now: int, actor: str) -> int:
    """End every open lease of a license as taken away by an administrator; returns how many.

    The caller holds the license's row lock (as acquire takes it first), then the leases
    are locked in id order, as every change locks them.
    """
    leases = session.scalars(select(Lease).where(Lease.license_id == license_id,
                                                 Lease.released_at.is_(None))
                             .order_by(Lease.id).with_for_update()
                             .execution_options(populate_existing=True)).all()
    for lease in leases:
        _end(session, lease, now, "admin", actor)
    return sum(1 for lease in leases if lease.release_reason == "admin")


def lock_open_leases(session: Session, device_id: str) -> list[Lease]:
    """A device's open leases, locked (PostgreSQL) in id order until the transaction ends.

    Leases come first in the order every change locks rows in: leases, device, tokens.
    """
    return list(session.scalars(select(Lease).where(Lease.device_id == device_id,
                                                    Lease.released_at.is_(None))
                                .order_by(Lease.id).with_for_update()
                                .execution_options(populate_existing=True)).all())


def release_device(session: Session, device_id: str, reason: str, now: int,
                   actor: str) -> None:
    """End every open lease of a device (logout, remote deactivation)."""
    for lease in lock_open_leases(session, device_id):
        _end(session, lease, now, reason, actor)


def sweep(session: Session, now: int, limit: int = 500) -> int:
    """Record the reclaim of leases whose heartbeat stopped; returns how many."""
    expired = session.scalars(select(Lease).where(Lease.released_at.is_(None),
                                                  Lease.expires_at <= now)
                              .limit(limit).with_for_update(skip_locked=True)).all()
    for lease in expired:
        _end(session, lease, now, "expired", audit.SYSTEM, event="reclaim")
    return len(expired)
