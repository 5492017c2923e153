"""Portal sign-in sessions: a random cookie stored as its hash, with the session's CSRF token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from seatkeeper_server import security
from seatkeeper_server.models import Account, PortalSession
from sqlalchemy import delete
from sqlalchemy.orm import Session

SESSION_TTL_S = 12 * 3600
COOKIE = "seatkeeper_portal"
PRE_COOKIE = "seatkeeper_signin"  # the sign-in form's CSRF token, before any session


@dataclass(frozen=True)
class Visitor:
    """A signed-in browser: its account and the CSRF token its forms must carry."""

    session_hash: str
    account_id: str
    email: str
    csrf: str


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def create(session: Session, account_id: str, now: int, *, scope: str = "portal",
           ttl_s: int = SESSION_TTL_S) -> str:
    """A new session for the account; returns the cookie value (only its hash is kept).

    `scope` is the part of the site it opens: `portal`, or `admin` (the console).
    """
    session.execute(delete(PortalSession).where(PortalSession.expires_at <= now))
    cookie = security.new_token("skp")
    session.add(PortalSession(hash=security.token_hash(cookie), account_id=account_id,
                              csrf=new_csrf(), created_at=now, expires_at=now + ttl_s,
                              scope=scope))
    return cookie


def find(session: Session, cookie: str | None, now: int, *,
         scope: str = "portal") -> Visitor | None:
    """The signed-in browser behind the cookie; None for another scope's, or a disabled
    account's."""
    if not cookie or not security.well_formed_token(cookie):
        return None
    row = session.get(PortalSession, security.token_hash(cookie))
    if row is None or row.expires_at <= now or row.scope != scope:
        return None
    account = session.get(Account, row.account_id)
    if account is None or account.disabled_at is not None:
        return None
    return Visitor(row.hash, account.id, account.email, row.csrf)


def end(session: Session, visitor: Visitor) -> None:
    session.execute(delete(PortalSession).where(PortalSession.hash == visitor.session_hash))


def csrf_ok(expected: str | None, sent: str | None) -> bool:
    return bool(expected) and bool(sent) and security.same_secret(expected or "", sent or "")
