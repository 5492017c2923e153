"""What administrators do beyond creating: the admin role, disabling, passwords, revocation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from seatkeeper_server import errors, security
from seatkeeper_server.models import Account, Device, License, PortalSession, Token
from seatkeeper_server.services import accounts, audit, auth, seats
from seatkeeper_server.text import Text
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

ADMIN, USER = "admin", "user"
NOT_ADMIN = Text("This account is not an administrator's. The console is for the license "
                 "server's administrators; your licenses and devices are on the portal.")


@dataclass(frozen=True)
class Disabled:
    """What disabling an account ended."""

    seats: int
    devices: int


def create_admin(session: Session, email: str, password: str, now: int, *,
                 actor: str) -> dict[str, str]:
    """A new account with the admin role: it signs in to the console."""
    made = accounts.create_account(session, email, password, now, actor=actor)
    account = session.get(Account, made["id"])
    assert account is not None
    account.role = ADMIN
    audit.record(session, now, "admin_created", actor=actor, account_id=account.id)
    return {**made, "role": ADMIN}


def record_sign_in(session: Session, account_id: str, address: str, now: int) -> None:
    audit.record(session, now, "console_sign_in", actor=audit.console(account_id),
                 account_id=account_id, detail=f"from {address}")


def console_refusal(account: Account | None) -> Text | None:
    """Why this account may not use the console (after its password checked out), or None."""
    if account is None or account.role != ADMIN:
        return NOT_ADMIN
    if account.disabled_at is not None:
        return auth.DISABLED
    return None


def _account(session: Session, account_id: str, *, lock: bool = False) -> Account:
    """The account; with `lock`, FOR NO KEY UPDATE on PostgreSQL: it waits for a login's
    share lock, but not for the key-share lock that inserting a lease or a token takes (a
    seat request holding its licenses would otherwise wait for it here: a deadlock)."""
    account = session.get(Account, account_id,
                          with_for_update={"key_share": True} if lock else None,
                          populate_existing=lock)
    if account is None:
        raise errors.NotFound(Text("No account %(id)s.", id=account_id))
    return account


def _end_sessions(session: Session, account_id: str) -> None:
    session.execute(delete(PortalSession).where(PortalSession.account_id == account_id))


def disable_account(session: Session, account_id: str, now: int, *, actor: str,
                    by_account: str | None = None) -> Disabled:
    """End the account's seats (revoked, reason `admin`), sign its devices out, refuse it.

    Rows are locked in the order the rest of the server takes them: the account (a login
    share-locks it), its licenses (as an acquire does, so one in flight finishes first and
    its lease is ended here), then per device its leases, the device, its tokens.
    """
    if by_account == account_id:
        raise errors.InvalidRequest(Text("You cannot disable your own account."),
                                    {"fields": {"id": "is the administrator's own account"}})
    account = _account(session, account_id, lock=True)
    if account.disabled_at is not None:
        return Disabled(0, 0)
    session.scalars(select(License.id).where(License.account_id == account_id)
                    .order_by(License.created_ns, License.id).with_for_update()).all()
    ended = signed_out = 0
    devices = session.scalars(select(Device.id).where(Device.account_id == account_id)
                              .order_by(Device.id)).all()
    for device_id in devices:
        ended += seats.release_device(session, device_id, "admin", now, actor)
        device = session.get(Device, device_id, with_for_update=True, populate_existing=True)
        assert device is not None
        revoked = session.execute(
            update(Token).where(Token.device_id == device_id, Token.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason="account_disabled"))
        signed_out += int(device.logged_in or bool(revoked.rowcount))  # type: ignore[attr-defined]
        device.logged_in = False
    account.disabled_at = now
    _end_sessions(session, account_id)
    audit.record(session, now, "account_disabled", actor=actor, account_id=account_id,
                 detail=f"{ended} seat(s) ended, {signed_out} device(s) signed out")
    return Disabled(ended, signed_out)


def enable_account(session: Session, account_id: str, now: int, *, actor: str) -> None:
    """Let the account log in again; its devices sign in anew (their tokens stay revoked)."""
    account = _account(session, account_id, lock=True)
    if account.disabled_at is None:
        return
    account.disabled_at = None
    audit.record(session, now, "account_enabled", actor=actor, account_id=account_id)


def reset_password(session: Session, account_id: str, password: str | None, now: int, *,
                   actor: str) -> str | None:
    """Set the password given, or a new one-time one (returned, to be shown once).

    Signed-in devices keep their tokens: a forgotten password costs no one their seat
    (disable the account to shut everything out). Browser sessions end.
    """
    account = _account(session, account_id, lock=True)
    made = None
    if password is None:
        made = password = secrets.token_urlsafe(12)
    accounts.check_password(password)
    account.password_hash = security.hash_password(password)
    _end_sessions(session, account_id)
    audit.record(session, now, "password_reset", actor=actor, account_id=account_id,
                 detail="one-time" if made else "set")
    return made


def revoke_license(session: Session, license_id: str, now: int, *, actor: str) -> int:
    """Take a license away: its seats end (revoked, reason `admin`); it is gone for its account.

    Final: a revoked license never comes back (give the account a new one). Returns how many
    seats were ended.
    """
    lic = session.get(License, license_id, with_for_update=True, populate_existing=True)
    if lic is None:
        raise errors.NotFound(Text("No license %(id)s.", id=license_id))
    if lic.revoked_at is not None:
        return 0
    lic.revoked_at = now
    ended = seats.release_license(session, license_id, now, actor)
    audit.record(session, now, "license_revoked", actor=actor, account_id=lic.account_id,
                 license_id=lic.id, detail=f"{lic.name}: {ended} seat(s) ended")
    return ended
