"""Devices of an account: listing, logout, remote deactivation and its switch."""

from __future__ import annotations

from typing import Any

from seatkeeper_server import errors
from seatkeeper_server.models import Account, Device, Lease, Token
from seatkeeper_server.services import audit, render, seats
from seatkeeper_server.services.auth import Caller, device_caller
from seatkeeper_server.text import Text
from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session


def list_devices(session: Session, caller: Caller, now: int) -> list[dict[str, Any]]:
    """The account's logged-in devices, the caller's marked `current`."""
    rows = session.scalars(select(Device).where(Device.account_id == caller.account_id,
                                                Device.logged_in.is_(True))
                           .order_by(Device.created_at, Device.id)).all()
    return [render.device_json(session, d, caller.device_id, now) for d in rows]


def _sign_out(session: Session, device: Device) -> None:
    still_in = session.scalar(select(func.count()).select_from(Token).where(
        Token.device_id == device.id, Token.revoked_at.is_(None)))
    if not still_in:
        device.logged_in = False


def logout(session: Session, token: str | None, now: int) -> None:
    """Revoke this token and release this device's seat; again is a no-op (still 204).

    Rows are locked (PostgreSQL) in the one order every change here takes them: the
    device's leases, the device, its tokens. So of two simultaneous logouts with one
    token the second waits, then sees the token revoked and records nothing; and a
    heartbeat, a deactivation or a new login of the device never deadlocks with it.
    """
    caller = device_caller(session, token, allow_revoked=True)
    if caller.revoked_reason is not None:
        return
    seats.lock_open_leases(session, caller.device_id)
    session.get(Device, caller.device_id, with_for_update=True, populate_existing=True)
    row = session.get(Token, caller.token_hash, with_for_update=True, populate_existing=True)
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at, row.revoked_reason = now, "logout"
    actor = audit.device(caller.device_id)
    seats.release_device(session, caller.device_id, "logout", now, actor)
    device = session.get(Device, caller.device_id)
    assert device is not None
    _sign_out(session, device)
    audit.record(session, now, "logout", actor=actor, account_id=caller.account_id,
                 device_id=device.id)


def _actor(caller: Caller) -> str:
    """A device acting with its token, or the account's owner on the portal (no device)."""
    return audit.device(caller.device_id) if caller.device_id else audit.portal(caller.account_id)


def any_seat_held(session: Session, account_id: str, now: int) -> bool:
    return bool(session.scalar(select(exists().where(
        Lease.account_id == account_id, Lease.released_at.is_(None), Lease.expires_at > now))))


def set_remote_deactivation(session: Session, caller: Caller, enabled: bool, now: int) -> bool:
    """Switch it on only while no device of the account (the caller too) holds a seat."""
    account = session.get(Account, caller.account_id, with_for_update=True)
    assert account is not None
    if enabled and not account.remote_deactivation and any_seat_held(session, account.id, now):
        raise errors.ActiveDeviceExists(
            Text("Remote device deactivation can only be switched on while no device holds a "
                 "seat. Log out or release the seat on every device (this one too), then try "
                 "again."))
    if account.remote_deactivation != enabled:
        account.remote_deactivation = enabled
        audit.record(session, now, "remote_deactivation_" + ("on" if enabled else "off"),
                     actor=_actor(caller), account_id=account.id,
                     device_id=caller.device_id or None)
    return enabled


def deactivate(session: Session, caller: Caller, device_id: str, now: int) -> dict[str, Any]:
    """Free another device's seat and sign it out, from this device."""
    device = session.get(Device, device_id)
    if device is None or device.account_id != caller.account_id:
        raise errors.NotFound(Text("No device %(id)s on this account.", id=device_id))
    account = session.get(Account, caller.account_id)
    assert account is not None
    if not account.remote_deactivation:
        raise errors.RemoteDeactivationDisabled(
            Text("Remote device deactivation is off for this account. Switch it on (while no "
                 "device holds a seat) to deactivate devices you cannot reach."))
    if device.id == caller.device_id:
        raise errors.InvalidRequest(Text("This is the device you are using: log out instead."),
                                    {"fields": {"id": "is the calling device; use logout"}})
    seats.release_device(session, device.id, "remote_deactivation", now, _actor(caller))
    # Leases first, then the device: the order heartbeats lock them in. Two simultaneous
    # deactivations take turns here, and only the one that signed the device out records it.
    session.refresh(device, with_for_update=True)
    if not device.logged_in:
        return render.device_json(session, device, caller.device_id, now)
    session.execute(update(Token).where(Token.device_id == device.id, Token.revoked_at.is_(None))
                    .values(revoked_at=now, revoked_reason="remote_deactivation"))
    device.logged_in = False
    audit.record(session, now, "deactivate", actor=_actor(caller), account_id=account.id,
                 device_id=device.id,
                 detail=f"by device {caller.device_id}" if caller.device_id
                 else "from the portal")
    return render.device_json(session, device, caller.device_id, now)
