"""The device login (RFC 8628): codes handed out, approved or denied on the portal, redeemed.

A device asks for a code pair; the person types (or follows) the short `user_code` on
the portal, signed in, and approves or denies it; the device polls with its
`device_code` until it gets a device token or a final answer. A device code is
redeemed at most once and never outlives `expires_in`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from seatkeeper_server import security
from seatkeeper_server.models import Account, DeviceCode
from seatkeeper_server.services import audit, auth, limits
from sqlalchemy import select
from sqlalchemy.orm import Session

# No 0/O, 1/I, no vowels at all (RFC 8628 section 6.1: no words, nothing to misread).
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
EXPIRES_IN_S = 600
INTERVAL_S = 5
SLOW_DOWN_STEP_S = 5
VERIFICATION_PATH = "/portal/device"


class GrantError(Exception):
    """The token endpoint's answer in RFC 8628's shape: `{"error": code}`, HTTP 400."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class GrantTerms:
    """How long a device code lives, and how often its device may poll."""

    expires_in_s: int = EXPIRES_IN_S
    interval_s: int = INTERVAL_S


@dataclass(frozen=True)
class PendingLogin:
    """A code waiting for the person's answer, as the approve page shows it."""

    user_code: str
    name: str
    platform: str
    expires_at: int
    created_at: int
    address: str | None


def normalise_user_code(text: str) -> str:
    """`bcdf ghjk`, `BCDF-GHJK` -> `BCDF-GHJK`; anything else stays unmatchable."""
    letters = "".join(ch for ch in text.upper() if ch.isalnum())
    if len(letters) != USER_CODE_LENGTH:
        return letters
    return f"{letters[:4]}-{letters[4:]}"


def _new_user_code() -> str:
    letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    return normalise_user_code(letters)


def start(session: Session, fingerprint: str, name: str, platform: str, now: int,
          base_url: str, terms: GrantTerms, address: str) -> dict[str, object]:
    """A new code pair for this device (429 past the address's limits)."""
    limits.check_device_codes(session, address, now)
    user_code = _new_user_code()
    while session.scalars(select(DeviceCode.hash).where(
            DeviceCode.user_code == user_code)).first() is not None:
        user_code = _new_user_code()
    device_code = security.new_token("skc")
    session.add(DeviceCode(hash=security.token_hash(device_code), user_code=user_code,
                           fingerprint=fingerprint, name=name, platform=platform,
                           created_at=now, expires_at=now + terms.expires_in_s,
                           interval_s=terms.interval_s, status="pending", address=address))
    uri = base_url.rstrip("/") + VERIFICATION_PATH
    return {"device_code": device_code, "user_code": user_code, "verification_uri": uri,
            "verification_uri_complete": f"{uri}?code={user_code}",
            "interval": terms.interval_s, "expires_in": terms.expires_in_s}


def _pending_row(session: Session, user_code: str, now: int) -> DeviceCode | None:
    row = session.scalars(select(DeviceCode).where(
        DeviceCode.user_code == normalise_user_code(user_code))).first()
    if row is None or row.status != "pending" or row.expires_at <= now:
        return None
    return row


def find_pending(session: Session, user_code: str, now: int) -> PendingLogin | None:
    """The login waiting behind this user code, or None (unknown, used, answered, expired)."""
    row = _pending_row(session, user_code, now)
    return None if row is None else _pending(row)


def decide(session: Session, user_code: str, account_id: str, approve: bool,
           now: int) -> PendingLogin | None:
    """Approve (for this account) or deny the code; None when it is no longer pending."""
    row = _pending_row(session, user_code, now)
    if row is None:
        return None
    row.status, row.account_id = ("approved" if approve else "denied"), account_id
    audit.record(session, now, "device_login_" + ("approved" if approve else "denied"),
                 actor=audit.portal(account_id), account_id=account_id,
                 detail=f"{row.name} ({row.platform})")
    return _pending(row)


def _pending(row: DeviceCode) -> PendingLogin:
    return PendingLogin(row.user_code, row.name, row.platform, row.expires_at, row.created_at,
                        row.address)


def redeem(session: Session, device_code: str, now: int) -> dict[str, object] | str:
    """The login (device token) once approved; otherwise the RFC's error code for the poll.

    The error is returned, not raised, so the poll's bookkeeping (its time, a slowed
    interval) is committed with it.
    """
    row = session.get(DeviceCode, security.token_hash(device_code), with_for_update=True) \
        if security.well_formed_token(device_code) else None
    if row is None or row.status == "redeemed":
        return "expired_token"
    if row.status == "denied":
        return "access_denied"
    if row.expires_at <= now:
        return "expired_token"
    polled, row.last_polled_at = row.last_polled_at, now
    if row.status == "pending":
        if polled is not None and now - polled < row.interval_s:
            row.interval_s += SLOW_DOWN_STEP_S
            return "slow_down"
        return "authorization_pending"
    # Share-locked, as complete_login takes it: a disabling waits, or has been seen.
    account = session.get(Account, row.account_id, with_for_update={"read": True})
    assert account is not None
    if account.disabled_at is not None:  # disabled between the approval and this poll
        row.status = "denied"
        return "access_denied"
    row.status = "redeemed"
    return auth.complete_login(session, account.email, row.fingerprint, row.name, row.platform,
                               now)
