"""Who is calling: device tokens, the admin token, password logins and logout."""

from __future__ import annotations

from dataclasses import dataclass

from seatkeeper_server import errors, security
from seatkeeper_server.models import Account, Device, Setting, Token
from seatkeeper_server.services import audit
from seatkeeper_server.text import Text
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

ADMIN_TOKEN_KEY = "admin_token_hash"  # noqa: S105 (a settings key, not a secret)


@dataclass(frozen=True)
class Caller:
    """A device token that authenticated: its account and device, and whether it is revoked."""

    token_hash: str
    account_id: str
    device_id: str
    revoked_reason: str | None


def _unauthenticated() -> errors.Unauthenticated:
    return errors.Unauthenticated(
        "The device token is missing, unknown or no longer valid. Log in again.")


def find_token(session: Session, token: str | None) -> Token | None:
    if not token or not security.well_formed_token(token):
        return None
    return session.get(Token, security.token_hash(token))


_TOKEN = select(Token.hash, Token.account_id, Token.device_id, Token.revoked_at,
                Token.revoked_reason).where(Token.hash == bindparam("hash"))


def device_caller(session: Session | Connection, token: str | None, *,
                  allow_revoked: bool = False) -> Caller:
    """The caller behind a device token, or 401. Revoked tokens pass only if allowed."""
    row = None
    if token and security.well_formed_token(token):
        row = session.execute(_TOKEN, {"hash": security.token_hash(token)}).first()
    if row is None or (row.revoked_at is not None and not allow_revoked):
        raise _unauthenticated()
    return Caller(row.hash, row.account_id, row.device_id, row.revoked_reason)


def still_valid(session: Session, caller: Caller) -> None:
    """Check again, inside the transaction that acts, that the token was not revoked since."""
    row = session.get(Token, caller.token_hash)
    if row is None or row.revoked_at is not None:
        raise _unauthenticated()


def require_admin(session: Session, token: str | None) -> None:
    """Pass the admin token; a device token gets 403, anything else 401."""
    stored = session.get(Setting, ADMIN_TOKEN_KEY)
    if token and stored and security.well_formed_token(token) and security.same_secret(
            security.token_hash(token), stored.value):
        return
    row = find_token(session, token)
    if row is not None and row.revoked_at is None:
        raise errors.Forbidden("This endpoint needs the server's admin token, not a device token.")
    raise errors.Unauthenticated("The admin token is missing or wrong.")


def set_admin_token(session: Session, token: str) -> None:
    row = session.get(Setting, ADMIN_TOKEN_KEY)
    if row is None:
        session.add(Setting(key=ADMIN_TOKEN_KEY, value=security.token_hash(token)))
    else:
        row.value = security.token_hash(token)


def has_admin_token(session: Session) -> bool:
    return session.get(Setting, ADMIN_TOKEN_KEY) is not None


# -- password login ---------------------------------------------------------------------

DISABLED = Text("This account is disabled: an administrator has switched it off. Ask your "
                "license administrator to enable it again.")


def refuse_disabled(account: Account) -> None:
    """403 for an account an administrator disabled (said only once the password is right)."""
    if account.disabled_at is not None:
        raise errors.Forbidden(DISABLED, {"reason": "account_disabled"})


def password_hash_for(session: Session, email: str) -> str | None:
    account = session.scalars(select(Account).where(Account.email == email)).first()
    return None if account is None else account.password_hash


def complete_login(session: Session, email: str, fingerprint: str, name: str, platform: str,
                   now: int) -> dict[str, object]:
    """After the password checked out: the device (same fingerprint, same device) and a token.

    The account's row is share-locked (PostgreSQL), so a login and the account's disabling
    take turns: a token made first is revoked with the others, a login after it is refused.
    """
    account = session.scalars(select(Account).where(Account.email == email)
                              .with_for_update(read=True)).one()
    refuse_disabled(account)
    device = session.scalars(select(Device).where(Device.account_id == account.id,
                                                  Device.fingerprint == fingerprint)).first()
    if device is None:
        device = Device(id=security.new_id("dev"), account_id=account.id,
                        fingerprint=fingerprint, name=name, platform=platform,
                        logged_in=True, created_at=now)
        session.add(device)
    else:
        device.name, device.platform, device.logged_in = name, platform, True
        # The new login supersedes the device's earlier tokens, so a logout queued with an
        # old token (delivered late) cannot release the seat this login goes on to take.
        session.execute(update(Token).where(Token.device_id == device.id,
                                            Token.revoked_at.is_(None))
                        .values(revoked_at=now, revoked_reason="superseded"))
    token = security.new_token("skd")
    session.add(Token(hash=security.token_hash(token), device_id=device.id,
                      account_id=account.id, created_at=now))
    audit.record(session, now, "login", actor=audit.device(device.id), account_id=account.id,
                 device_id=device.id)
    return {"token": token, "account": {"id": account.id, "email": account.email},
            "device": {"id": device.id, "name": device.name}}

