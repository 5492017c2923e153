"""The lease's rules, written once, on table rows (SQLAlchemy Core): every seat operation uses them.

- live: not released and not past `expires_at` (a silent lease stops counting at once; the
  sweep only records it later);
- renewal: `expires_at = max(expires_at, now + ttl)` (a heartbeat never shortens a lease,
  so a borrowed seat keeps its expiry), `last_heartbeat_at = now` on the lease and its device;
- a lease no longer live answers why: revoked (410 LEASE_REVOKED with the reason) or
  expired/released (410 LEASE_EXPIRED);
- closing: a lease still open but past its time closes as `expired` at its `expires_at`
  (a reclaim by the system), whatever the caller meant;
- locks, in the one order every change takes them: leases (by id), then their device,
  then tokens. A renewal's UPDATE takes the lease's row lock itself (PostgreSQL; SQLite's
  transactions hold the whole database).

Statements are built once with named parameters, so that each is compiled once per dialect.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from seatkeeper_server import errors, metrics
from seatkeeper_server.models import Device, Lease, License, Token
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Row,
    String,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    select,
    update,
)

LEASES: Table = Lease.__table__  # type: ignore[assignment]
LICENSES: Table = License.__table__  # type: ignore[assignment]
DEVICES: Table = Device.__table__  # type: ignore[assignment]
TOKENS: Table = Token.__table__  # type: ignore[assignment]

REVOKING_REASONS = ("remote_deactivation", "admin")
# What a signed lease shows of its row, its license's and its device's.
LEASE_COLUMNS = (LEASES.c.id, LEASES.c.account_id, LEASES.c.license_id, LEASES.c.device_id,
                 LEASES.c.issued_at, LEASES.c.expires_at, LEASES.c.borrowed_until)
LICENSE_COLUMNS = (LICENSES.c.name.label("license_name"), LICENSES.c.kind,
                   LICENSES.c.seats_total, LICENSES.c.expires_at.label("license_expires_at"),
                   LICENSES.c.support_until, LICENSES.c.max_borrow_s)


def live(now: Any = None) -> ColumnElement[bool]:
    """Leases that hold a seat at `now` (the bound parameter `now` unless given)."""
    at = bindparam("now") if now is None else now
    return and_(LEASES.c.released_at.is_(None), LEASES.c.expires_at > at)


def seats_used_of(license_id: Any) -> Any:
    """A license's live leases at :now, a scalar subquery (ix_leases_open_license)."""
    counted = LEASES.alias("counted")
    return (select(func.count()).select_from(counted)
            .where(counted.c.license_id == license_id, counted.c.released_at.is_(None),
                   counted.c.expires_at > bindparam("now"))
            .scalar_subquery())


def _renewal_values() -> dict[str, Any]:
    # A heartbeat or seat request never shortens a lease: a borrowed seat keeps its expiry.
    renew_to: Any = bindparam("renew_to")
    return {"expires_at": case((LEASES.c.expires_at > renew_to, LEASES.c.expires_at),
                               else_=renew_to),
            "last_heartbeat_at": bindparam("now")}


_RENEW = (update(LEASES).where(LEASES.c.id == bindparam("lease_id"), live())
          .values(**_renewal_values()).returning(*LEASE_COLUMNS))
_BORROW = (update(LEASES).where(LEASES.c.id == bindparam("lease_id"), live())
           .values(expires_at=bindparam("until"), borrowed_until=bindparam("until"),
                   last_heartbeat_at=bindparam("now"))
           .returning(*LEASE_COLUMNS))
# A device's heartbeat recorded, and what a signed answer shows of a license: for one
# (a seat request) or for a batch's (the heartbeat door, SQLite).
_TOUCH = (update(DEVICES).values(last_heartbeat_at=bindparam("now"))
          .returning(DEVICES.c.id, DEVICES.c.name))
_TOUCH_DEVICE = _TOUCH.where(DEVICES.c.id == bindparam("device_id"))
_TOUCH_DEVICES = _TOUCH.where(DEVICES.c.id.in_(bindparam("device_ids", expanding=True)))
_FACTS = select(LICENSES.c.id, *LICENSE_COLUMNS,
                seats_used_of(LICENSES.c.id).label("seats_used"))
_LICENSE = _FACTS.where(LICENSES.c.id == bindparam("license_id"))
_LICENSES = _FACTS.where(LICENSES.c.id.in_(bindparam("license_ids", expanding=True)))


def _heartbeats_renewal(owns: Any) -> Any:
    """Renew each live lease of a batch whose token, `owns`, is valid and its device's own."""
    return update(LEASES).where(live(), owns).values(**_renewal_values())


def _owned_by(beats: Any) -> Any:
    """The lease's device holds the valid token its own heartbeat in `beats` (lease_id,
    token_hash) brought: a batch's tokens never vouch for each other's leases."""
    paired = (select(beats.c.token_hash).where(beats.c.lease_id == LEASES.c.id)
              .correlate(LEASES).scalar_subquery())
    return exists().where(TOKENS.c.hash == paired, TOKENS.c.revoked_at.is_(None),
                          TOKENS.c.device_id == LEASES.c.device_id,
                          TOKENS.c.account_id == LEASES.c.account_id)


def _heartbeats_pg() -> Any:
    """PostgreSQL: check and renew a batch of leases, touch their devices and read what the
    signed answers need, in one statement, whatever the batch's size (two arrays: prepared
    once). The leases are found by key (`= ANY` on the ids), so the plan does not depend
    on the tables' statistics. The same renewal as
    `renew`, and the same lock order: the leases' rows by id, then their devices' by id.
    The seat counts see the leases as they were, live, and are counted once per license."""
    ids = bindparam("lease_ids", type_=ARRAY(String))
    pairs = (func.unnest(ids, bindparam("token_hashes", type_=ARRAY(String)))
             .table_valued("lease_id", "token_hash").render_derived(name="pairs"))
    beats = select(pairs.c.lease_id, pairs.c.token_hash).cte("beats")
    locked = (select(LEASES.c.id).where(LEASES.c.id == func.any(ids))
              .order_by(LEASES.c.id).with_for_update().cte("locked"))
    renewed = (_heartbeats_renewal(_owned_by(beats))
               .where(LEASES.c.id == func.any(ids), LEASES.c.id.in_(select(locked.c.id)))
               .returning(*LEASE_COLUMNS).cte("renewed"))
    devices_locked = (select(DEVICES.c.id)
                      .where(DEVICES.c.id.in_(select(renewed.c.device_id)))
                      .order_by(DEVICES.c.id).with_for_update().cte("devices_locked"))
    touched = (update(DEVICES).where(DEVICES.c.id.in_(select(devices_locked.c.id)))
               .values(last_heartbeat_at=bindparam("now"))
               .returning(DEVICES.c.id, DEVICES.c.name).cte("touched"))
    licensed = select(renewed.c.license_id).distinct().subquery("licensed")
    counts = (select(licensed.c.license_id,
                     seats_used_of(licensed.c.license_id).label("seats_used"))
              .cte("counts").prefix_with("MATERIALIZED"))  # else counted for each lease
    return (select(*renewed.c, touched.c.name.label("device_name"), *LICENSE_COLUMNS,
                   counts.c.seats_used)
            .select_from(renewed.join(touched, touched.c.id == renewed.c.device_id)
                         .join(LICENSES, LICENSES.c.id == renewed.c.license_id)
                         .join(counts, counts.c.license_id == renewed.c.license_id)))


def _heartbeats_sqlite() -> Any:
    """SQLite: the batch's renewal, its pairs one JSON parameter; the devices and the
    licenses follow, one statement each."""
    pairs = func.json_each(bindparam("pairs")).table_valued("value")
    beats = select(func.json_extract(pairs.c.value, "$[0]").label("lease_id"),
                   func.json_extract(pairs.c.value, "$[1]").label("token_hash")).cte("beats")
    # The ids as a list too: with `IN (SELECT ...)` SQLite walks every open lease instead.
    return (_heartbeats_renewal(_owned_by(beats))
            .where(LEASES.c.id.in_(bindparam("lease_ids", expanding=True)))
            .returning(*LEASE_COLUMNS))


_HEARTBEATS_PG = _heartbeats_pg()
_HEARTBEATS_SQLITE = _heartbeats_sqlite()


@dataclass(frozen=True)
class Seat:
    """A renewed (or new) lease with what its signed answer shows: license, seats, device."""

    lease: Any  # a row with LEASE_COLUMNS
    license: Any  # a row with LICENSE_COLUMNS and seats_used
    license_id: str
    device_name: str


def renew(conn: Connection, lease_id: str, now: int, ttl_s: int, *,
          borrow_until: int | None = None) -> Seat | None:
    """Renew a live lease and its device's last heartbeat; the seat, or None if not live.

    With `borrow_until`, the lease is kept until then instead (borrowing: it replaces the
    expiry). A heartbeat's renewal, checking its token, is `heartbeat_renew`'s.
    """
    params = {"lease_id": lease_id, "now": now, "renew_to": now + ttl_s,
              "until": borrow_until}
    statement = _BORROW if borrow_until is not None else _RENEW
    row = conn.execute(statement, params).first()
    if row is None:
        return None
    return seat(conn, row, now, touch_device(conn, row.device_id, now))


def touch_device(conn: Connection, device_id: str, now: int) -> str:
    """Record the device's heartbeat (after its lease's: the lock order); its name."""
    return str(conn.execute(_TOUCH_DEVICE, {"device_id": device_id, "now": now}).one().name)


def license_facts(conn: Connection, license_id: str, now: int) -> Any:
    return conn.execute(_LICENSE, {"license_id": license_id, "now": now}).one()


def seat(conn: Connection, lease: Any, now: int, device_name: str) -> Seat:
    """What the signed answer about `lease` needs, read in this transaction."""
    return Seat(lease, license_facts(conn, lease.license_id, now), lease.license_id,
                device_name)


def heartbeat_renew(conn: Connection, beats: Sequence[tuple[str, str]], now: int,
                    ttl_s: int) -> dict[str, Seat]:
    """The hot path: renew each device's own live lease with a valid token, `beats` being
    (lease_id, token_hash) pairs of distinct leases; the seats renewed, by lease id. For
    the others the caller finds out why, on the slow path."""
    if not beats:
        return {}
    params: dict[str, Any] = {"now": now, "renew_to": now + ttl_s}
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_HEARTBEATS_PG, {**params, "lease_ids": [b[0] for b in beats],
                                             "token_hashes": [b[1] for b in beats]}).all()
        return {row.id: Seat(row, row, row.license_id, row.device_name) for row in rows}
    renewed = conn.execute(_HEARTBEATS_SQLITE, {**params, "pairs": json.dumps(beats),
                                                 "lease_ids": [b[0] for b in beats]}).all()
    if not renewed:
        return {}
    names: dict[str, str] = dict(conn.execute(_TOUCH_DEVICES, {  # after the leases: the lock order
        "now": now, "device_ids": sorted({row.device_id for row in renewed})}).all())
    facts = {row.id: row for row in conn.execute(_LICENSES, {
        "now": now, "license_ids": sorted({row.license_id for row in renewed})})}
    return {row.id: Seat(row, facts[row.license_id], row.license_id, names[row.device_id])
            for row in renewed}


# -- locks, checks and ends ------------------------------------------------------------------

_LOCK = select(LEASES).where(LEASES.c.id == bindparam("lease_id")).with_for_update()
_LOCK_OPEN_OF_DEVICE = (select(LEASES).where(LEASES.c.device_id == bindparam("device_id"),
                                             LEASES.c.released_at.is_(None))
                        .order_by(LEASES.c.id).with_for_update())


def lock(conn: Connection, lease_id: str) -> Row[Any] | None:
    """The lease's row, locked until the transaction ends (PostgreSQL; SQLite's is whole)."""
    return conn.execute(_LOCK, {"lease_id": lease_id}).first()


def lock_open_of_device(conn: Connection, device_id: str) -> Sequence[Row[Any]]:
    """A device's open leases, locked in id order (the first step of a logout or deactivation)."""
    return conn.execute(_LOCK_OPEN_OF_DEVICE, {"device_id": device_id}).all()


def revoked(lease: Any) -> errors.LeaseRevoked:
    who = ("from another device of the account (remote deactivation)"
           if lease.release_reason == "remote_deactivation" else "by an administrator")
    return errors.LeaseRevoked(f"This seat was taken away {who}.",
                               {"reason": lease.release_reason, "lease_id": lease.id})


def require_live(lease: Any, now: int) -> None:
    """410 for a lease that holds no seat: LEASE_REVOKED (and why) or LEASE_EXPIRED."""
    if lease.released_at is not None and lease.release_reason in REVOKING_REASONS:
        raise revoked(lease)
    if lease.released_at is not None or lease.expires_at <= now:
        raise errors.LeaseExpired(
            "This lease is no longer live (no heartbeat in time, or released). Acquire again.",
            {"lease_id": lease.id})


@dataclass(frozen=True)
class Ending:
    """How an open lease closes: when, why, as which audit event and by whom."""

    released_at: int
    reason: str
    event: str
    actor: str


def ending(expires_at: int, now: int, reason: str, actor: str, event: str = "release") -> Ending:
    """A lease past its time closes as expired at its end, a reclaim by the system."""
    if expires_at <= now:
        return Ending(expires_at, "expired", "reclaim", "system")
    return Ending(now, reason, event, actor)


_CLOSE = (update(LEASES).where(LEASES.c.id == bindparam("lease_id"),
                               LEASES.c.released_at.is_(None))
          .values(released_at=bindparam("released_at"), release_reason=bindparam("reason")))


def close(conn: Connection, rows: Sequence[Any], now: int, reason: str,
          actor: str) -> list[tuple[Any, Ending]]:
    """Close the open leases among `rows` (locked by the caller); what each ending was.

    The caller holds their row locks, so of two simultaneous releases the second sees the
    first's `released_at` and closes nothing: one event per lease. Reclaims are counted in
    the sweep-reclaims metric, whether the sweep or a late release found them.
    """
    ended = [(row, ending(row.expires_at, now, reason, actor))
             for row in rows if row.released_at is None]
    if ended:
        conn.execute(_CLOSE, [{"lease_id": row.id, "released_at": end.released_at,
                               "reason": end.reason} for row, end in ended])
        reclaimed = sum(end.event == "reclaim" for _, end in ended)
        if reclaimed:
            metrics.RECLAIMS.inc(reclaimed)
    return ended
