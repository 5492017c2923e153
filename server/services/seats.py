"""Seats: acquire, heartbeat, borrow, release, reclaim. Every rule of PROTOCOL.md's Leases section.

The rules themselves (what is live, renewal, the 410s, closing, locks) are in `leases`;
this module puts them together per request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

from seatkeeper_server import errors, security
from seatkeeper_server.services import audit, auth, leases, render
from seatkeeper_server.services.auth import Caller
from seatkeeper_server.services.leases import LEASES, LICENSES
from seatkeeper_server.text import Text
from seatkeeper_server.timeutil import parse_date, to_rfc3339
from sqlalchemy import Connection, Row, bindparam, delete, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

REVOKING_REASONS = leases.REVOKING_REASONS
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


def _usable(lic: Any, app: AppInfo, now: int) -> errors.ApiError | None:
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


def _seat_limit(conn: Connection, lic: Any, now: int) -> errors.SeatLimitReached:
    devices = leases.DEVICES
    holders = conn.execute(
        select(devices.c.id, devices.c.name, devices.c.last_heartbeat_at)
        .join(LEASES, LEASES.c.device_id == devices.c.id)
        .where(LEASES.c.license_id == lic.id, leases.live(now))
        .order_by(devices.c.last_heartbeat_at.desc())).all()
    listed = [{"id": d.id, "name": d.name, "last_heartbeat_at": to_rfc3339(d.last_heartbeat_at)}
              for d in holders]
    names = ", ".join(d.name for d in holders)
    return errors.SeatLimitReached(
        f"All {lic.seats_total} seats of {lic.name} are in use ({names}). Log out on one of "
        "those devices, or deactivate it remotely.",
        {"seats_total": lic.seats_total, "devices": listed, "license_id": lic.id})


_HELD = (select(LEASES.c.id).where(LEASES.c.license_id == bindparam("license_id"),
                                   LEASES.c.device_id == bindparam("device_id"), leases.live())
         .order_by(LEASES.c.issued_at.desc()).limit(1))


def _signed(seat: leases.Seat, now: int, terms: LeaseTerms, signer: Any,
            release_token: str | None = None) -> dict[str, Any]:
    body = render.seat_json(seat, now, ttl_s=terms.ttl_s,
                            heartbeat_interval_s=terms.heartbeat_interval_s,
                            release_token=release_token)
    return {"lease": body, "signature": signer.sign(body)}


def acquire(session: Session, caller: Caller, license_id: str | None, app: AppInfo, now: int,
            terms: LeaseTerms, signer: Any) -> tuple[dict[str, Any], bool]:
    """Take (or renew) a seat. Returns the signed lease and whether it is new (201)."""
    conn = session.connection()
    # A revoked license is gone for its account.
    query = select(LICENSES).where(LICENSES.c.account_id == caller.account_id,
                                   LICENSES.c.revoked_at.is_(None))
    if license_id is not None:
        query = query.where(LICENSES.c.id == license_id)
    # Locking the account's licenses (in one order, so never a deadlock) makes count-then-insert
    # atomic on PostgreSQL; on SQLite the transaction already holds the database's write lock.
    licenses = conn.execute(query.order_by(LICENSES.c.created_ns, LICENSES.c.id)
                            .with_for_update()).all()
    # Disabling the account locks these licenses too: once it has run, the token is revoked.
    auth.still_valid(session, caller)
    if license_id is not None and not licenses:
        raise errors.NotFound(f"No license {license_id} on this account.")
    if not licenses:
        raise errors.NoLicense(
            "This account has no license. You can continue in Discovery mode, or buy a license.")

    refusals: list[errors.ApiError] = []
    usable: list[Row[Any]] = []
    for lic in licenses:
        refusal = _usable(lic, app, now)
        if refusal is None:
            usable.append(lic)
        else:
            refusals.append(refusal)
    for lic in usable:
        held = conn.execute(_HELD, {"license_id": lic.id, "device_id": caller.device_id,
                                    "now": now}).scalar()
        if held is not None:
            renewed = leases.renew(conn, held, now, terms.ttl_s)
            assert renewed is not None  # live a statement ago, and this transaction locks it
            return _signed(renewed, now, terms, signer), False
    for lic in usable:
        if leases.license_facts(conn, lic.id, now).seats_used < lic.seats_total:
            seat, release_token = _new_lease(session, caller, lic.id, now, terms)
            return _signed(seat, now, terms, signer, release_token), True
    if usable:
        raise _seat_limit(conn, usable[0], now)
    order = {"SUPPORT_EXPIRED": 0, "LICENSE_EXPIRED": 1}
    raise min(refusals, key=lambda e: order.get(e.code, 2))


def _new_lease(session: Session, caller: Caller, license_id: str, now: int,
               terms: LeaseTerms) -> tuple[leases.Seat, str]:
    """A new lease of `license_id` for the caller, and its release token (shown only now)."""
    conn = session.connection()
    release_token = security.new_token("skr")
    lease = conn.execute(insert(LEASES).values(
        id=security.new_id("lea"), license_id=license_id, device_id=caller.device_id,
        account_id=caller.account_id, issued_at=now, expires_at=now + terms.ttl_s,
        last_heartbeat_at=now, release_token_hash=security.token_hash(release_token))
        .returning(*leases.LEASE_COLUMNS)).one()
    name = leases.touch_device(conn, caller.device_id, now)
    audit.record(session, now, "acquire", actor=audit.device(caller.device_id),
                 account_id=caller.account_id, device_id=caller.device_id, lease_id=lease.id,
                 license_id=license_id)
    return leases.seat(conn, lease, now, name), release_token


def _caller_lease(conn: Connection, caller: Caller, lease_id: str) -> Row[Any]:
    """The lease, locked, if it is this caller's account's (404 otherwise) and device's (403)."""
    lease = leases.lock(conn, lease_id)
    if lease is None or lease.account_id != caller.account_id:
        raise errors.NotFound(f"No lease {lease_id} for this account.")
    if lease.device_id != caller.device_id:
        raise errors.Forbidden("This lease belongs to another device of the account.")
    return lease


def heartbeat(units: Callable[..., AbstractContextManager[Connection]], token: str | None,
              lease_id: str, now: int, terms: LeaseTerms, signer: Any) -> dict[str, Any]:
    """Extend a live lease by `ttl_s`; a revoked one answers why, even to a revoked token."""
    (answer,) = heartbeats(units, [(token, lease_id)], now, terms, signer)
    if isinstance(answer, errors.ApiError):
        raise answer
    return answer


def heartbeats(units: Callable[..., AbstractContextManager[Connection]],
               beats: Sequence[tuple[str | None, str]], now: int, terms: LeaseTerms,
               signer: Any) -> list[dict[str, Any] | errors.ApiError]:
    """Heartbeats `(token, lease_id)` arriving together, each answered as `heartbeat` answers
    it: its signed lease, or the error it earns.

    `units` opens a unit of work (Context.connection). The renewals share one unit: one
    commit for all of them, the heartbeat door's group commit; one statement on PostgreSQL
    (three on SQLite) checks every token and renews. Only a heartbeat it refuses goes on,
    in a unit of its own, to find out which answer it earns. The answers are signed after
    the commit, with no lock held. Should PostgreSQL still pick the batch as a deadlock's
    victim, each heartbeat renews on its own.
    """
    hot: dict[str, str] = {}  # lease id -> token hash; a lease's second heartbeat is slow
    for token, lease_id in beats:
        if token and security.well_formed_token(token):
            hot.setdefault(lease_id, security.token_hash(token))
    pairs = sorted(hot.items())
    try:
        renewed = _renew(units, pairs, now, terms)
    except DBAPIError as exc:
        if len(pairs) < 2 or getattr(exc.orig, "sqlstate", None) not in _ROLLED_BACK:
            raise
        renewed = {}
        for pair in pairs:
            renewed |= _renew(units, [pair], now, terms)
    answers: list[dict[str, Any] | errors.ApiError] = []
    for token, lease_id in beats:
        seat = renewed.get(lease_id)
        if seat is not None and not (token and hot[lease_id] == security.token_hash(token)):
            seat = None  # renewed for another heartbeat's token: this one's is checked apart
        try:
            if seat is None:
                with units() as conn:
                    seat = _heartbeat_refused(conn, token, lease_id, now, terms)
            answers.append(_signed(seat, now, terms, signer))
        except errors.ApiError as exc:
            answers.append(exc)
    return answers


# PostgreSQL's deadlock and serialization failures: the transaction was rolled back whole.
_ROLLED_BACK = frozenset({"40P01", "40001"})


def _renew(units: Callable[..., AbstractContextManager[Connection]],
           pairs: Sequence[tuple[str, str]], now: int, terms: LeaseTerms) -> dict[str, leases.Seat]:
    if not pairs:
        return {}
    with units(one_statement=True) as conn:
        return leases.heartbeat_renew(conn, pairs, now, terms.ttl_s)


def _heartbeat_refused(conn: Connection, token: str | None, lease_id: str, now: int,
                       terms: LeaseTerms) -> leases.Seat:
    """Why the hot path renewed nothing: 401, 404, 403 or 410, in the protocol's order."""
    caller = auth.device_caller(conn, token, allow_revoked=True)
    if caller.revoked_reason is not None:
        lease = leases.lock(conn, lease_id)
        if (lease is not None and lease.device_id == caller.device_id
                and lease.release_reason in REVOKING_REASONS):
            raise leases.revoked(lease)
        raise errors.Unauthenticated("The device token is no longer valid. Log in again.")
    leases.require_live(_caller_lease(conn, caller, lease_id), now)
    # Not reached unless the lease became live again since the first statement, which no
    # change does; renewed here all the same, by the same rule.
    renewed = leases.renew(conn, lease_id, now, terms.ttl_s)
    if renewed is None:
        raise errors.LeaseExpired("This lease is no longer live. Acquire again.",
                                  {"lease_id": lease_id})
    return renewed


def borrow(session: Session, caller: Caller, lease_id: str, until: int, now: int,
           terms: LeaseTerms, signer: Any) -> dict[str, Any]:
    """Keep a live lease until `until` (capped by the license) with no heartbeat: offline work.

    The new expiry replaces the old one (borrowing again for less shortens it); later
    heartbeats only ever lengthen it, so a revocation still reaches an online device.
    """
    if until <= now:
        raise errors.InvalidRequest("The request is not valid: until must be in the future.",
                                    {"fields": {"until": "must be later than now"}})
    conn = session.connection()
    lease = _caller_lease(conn, caller, lease_id)
    leases.require_live(lease, now)
    lic = conn.execute(select(LICENSES).where(LICENSES.c.id == lease.license_id)).one()
    if lic.max_borrow_s <= 0:
        raise errors.BorrowNotAllowed(
            f"The license {lic.name} does not allow borrowing a seat for offline use. Its "
            "administrator can allow it (max_borrow_s).",
            {"license_id": lic.id, "max_borrow_s": lic.max_borrow_s})
    ends = min(until, now + lic.max_borrow_s)
    if lic.expires_at is not None:
        ends = min(ends, lic.expires_at)
    renewed = leases.renew(conn, lease_id, now, terms.ttl_s, borrow_until=ends)
    assert renewed is not None  # locked and live
    audit.record(session, now, "borrow", actor=audit.device(caller.device_id),
                 account_id=lease.account_id, device_id=lease.device_id, lease_id=lease.id,
                 license_id=lic.id, detail=f"until {to_rfc3339(ends)}")
    return _signed(renewed, now, terms, signer)


def _end(session: Session, rows: Sequence[Any], now: int, reason: str, actor: str) -> int:
    """Close the open ones among the locked `rows`, one audit event each; returns how many
    were closed for `reason` (the others had expired: reclaimed)."""
    closed = 0
    for row, end in leases.close(session.connection(), rows, now, reason, actor):
        audit.record(session, now, end.event, actor=end.actor, account_id=row.account_id,
                     device_id=row.device_id, lease_id=row.id, license_id=row.license_id,
                     detail=end.reason)
        closed += end.reason == reason
    return closed


def release_by_device(session: Session, caller: Caller, lease_id: str, reason: str,
                      now: int) -> None:
    lease = _caller_lease(session.connection(), caller, lease_id)
    _end(session, [lease], now, reason, audit.device(caller.device_id))


def release_by_token(session: Session, release_token: str, lease_id: str, reason: str,
                     now: int) -> None:
    """A release token opens its own lease and nothing else."""
    lease = leases.lock(session.connection(), lease_id)
    if (lease is None or not security.well_formed_token(release_token)
            or not security.same_secret(lease.release_token_hash,
                                        security.token_hash(release_token))):
        raise errors.Unauthenticated("The release token is wrong for this lease.")
    # Only the device the lease was issued to ever held its release token.
    _end(session, [lease], now, reason, audit.device(lease.device_id))


def admin_release(session: Session, lease_id: str, now: int,
                  actor: str = audit.ADMIN_TOKEN) -> str:
    """Force release (reason `admin`); already released: nothing. Returns its license's id."""
    lease = leases.lock(session.connection(), lease_id)
    if lease is None:
        raise errors.NotFound(Text("No lease %(id)s.", id=lease_id))
    _end(session, [lease], now, "admin", actor)
    return str(lease.license_id)


_OPEN_OF_LICENSE = (select(LEASES).where(LEASES.c.license_id == bindparam("license_id"),
                                         LEASES.c.released_at.is_(None))
                    .order_by(LEASES.c.id).with_for_update())


def release_license(session: Session, license_id: str, now: int, actor: str) -> int:
    """End every open lease of a license as taken away by an administrator; returns how many
    ended so (an expired one is recorded as reclaimed instead).

    The caller holds the license's row lock (as acquire takes it first), then the leases
    are locked in id order, as every change locks them.
    """
    rows = session.connection().execute(_OPEN_OF_LICENSE, {"license_id": license_id}).all()
    return _end(session, rows, now, "admin", actor)


def lock_open_leases(session: Session, device_id: str) -> Sequence[Row[Any]]:
    """A device's open leases, locked (PostgreSQL) in id order until the transaction ends.

    Leases come first in the order every change locks rows in: leases, device, tokens.
    """
    return leases.lock_open_of_device(session.connection(), device_id)


def release_device(session: Session, device_id: str, reason: str, now: int,
                   actor: str) -> int:
    """End every open lease of a device (logout, remote deactivation, an administrator);
    returns how many ended for `reason`."""
    return _end(session, lock_open_leases(session, device_id), now, reason, actor)


_EXPIRED = (select(LEASES).where(LEASES.c.released_at.is_(None),
                                 LEASES.c.expires_at <= bindparam("now"))
            .order_by(LEASES.c.expires_at).limit(bindparam("limit"))
            .with_for_update(skip_locked=True))


def sweep(session: Session, now: int, limit: int = 2000) -> int:
    """Record the reclaim of up to `limit` leases whose heartbeat stopped; returns how many.

    The oldest first, served by the partial index on open leases' expiry; rows another
    transaction holds are skipped (SKIP LOCKED on PostgreSQL), so replicas sweeping at once
    share the work.
    """
    expired = session.connection().execute(_EXPIRED, {"now": now, "limit": limit}).all()
    _end(session, expired, now, "expired", audit.SYSTEM)
    return len(expired)


_CLOSED_BEFORE = (select(LEASES.c.id).where(LEASES.c.released_at.is_not(None),
                                            LEASES.c.released_at < bindparam("cutoff"))
                  .limit(bindparam("limit")))


def prune_closed(session: Session, cutoff: int, limit: int = 5000) -> int:
    """Delete up to `limit` leases closed before `cutoff`; returns how many.

    A heartbeat or release naming one later is answered 404 NOT_FOUND (the agent then asks
    for a seat again); the audit trail keeps each lease's acquire and release.
    """
    conn = session.connection()
    ids = list(conn.execute(_CLOSED_BEFORE, {"cutoff": cutoff, "limit": limit}).scalars())
    if ids:
        conn.execute(delete(LEASES).where(LEASES.c.id.in_(ids)))
    return len(ids)
