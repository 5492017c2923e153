"""Rate limits: password guessing and device-login codes, counted per account and per address.

A password attempt is reserved (a row) in the same transaction that checks the limits,
under a lock on the account and the address, so N simultaneous attempts never get past
the limit; a successful login gives its reservation back. Limits, per PROTOCOL.md:

    failures per (account, address)   10 per 5 minutes   (an owner elsewhere still gets in)
    failures per account              100 per hour       (guessing from many addresses)
    failures per address              30 per 5 minutes   (one client trying many accounts)

An address is the client's IPv4 address, or its IPv6 /64 (one subscriber's prefix).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from seatkeeper_server import errors
from seatkeeper_server.models import CodeMiss, DeviceCode, LoginFailure, PortalSession
from seatkeeper_server.text import Plural
from sqlalchemy import ColumnElement, delete, func, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

UNKNOWN_ADDRESS = "unknown"
MAX_EMAIL = 320


@dataclass(frozen=True)
class Limit:
    """At most `count` events in any `window_s` seconds."""

    count: int
    window_s: int


PER_ACCOUNT_ADDRESS = Limit(10, 300)
PER_ACCOUNT = Limit(100, 3600)
PER_ADDRESS = Limit(30, 300)
DEVICE_CODES_PER_ADDRESS = Limit(30, 300)
PENDING_CODES_PER_ADDRESS = 20
USER_CODE_MISSES_PER_ACCOUNT = Limit(10, 300)
KEEP_FAILURES_S = max(PER_ACCOUNT_ADDRESS.window_s, PER_ACCOUNT.window_s, PER_ADDRESS.window_s)


def address_key(host: str | None) -> str:
    """The address a limit counts: IPv4 as is, IPv6 as its /64, anything else `unknown`.

    Bounded (at most 43 characters) whatever the client or a proxy sent, so storing it
    never fails and a failure is always counted.
    """
    try:
        address = ipaddress.ip_address((host or "").strip())
    except ValueError:
        return UNKNOWN_ADDRESS
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def lock(session: Session, *names: str) -> None:
    """Serialise transactions that count and then add under these names.

    PostgreSQL: transaction-scoped advisory locks, taken in one order so never a deadlock.
    SQLite: every transaction here already holds the database's write lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for name in sorted(set(names)):
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _retry_after(session: Session, where: ColumnElement[bool], at: InstrumentedAttribute[int],
                 limit: Limit, now: int) -> int | None:
    """Seconds until fewer than `limit.count` rows match within the window; None if already."""
    oldest_that_counts = session.scalar(
        select(at).where(where, at > now - limit.window_s)
        .order_by(at.desc()).offset(limit.count - 1).limit(1))
    if oldest_that_counts is None:
        return None
    return max(1, int(oldest_that_counts) + limit.window_s - now)


def _refuse(retry_after: int, what: Plural) -> errors.RateLimited:
    """429 saying `what` (a Plural whose number is `retry_after`), and when to try again."""
    return errors.RateLimited(what, {"retry_after_s": retry_after},
                              headers={"Retry-After": str(retry_after)})


def reserve_login(session: Session, email: str, address: str, now: int) -> int:
    """Count this password attempt as a failure until it proves right; 429 past any limit.

    Returns the reservation's id, for `give_back` once the password checked out.
    """
    email = email[:MAX_EMAIL]
    lock(session, f"login-account:{email}", f"login-address:{address}")
    by_email, by_address = LoginFailure.email == email, LoginFailure.address == address
    waits = [_retry_after(session, where, LoginFailure.at, limit, now)
             for where, limit in ((by_email & by_address, PER_ACCOUNT_ADDRESS),
                                  (by_email, PER_ACCOUNT), (by_address, PER_ADDRESS))]
    longest = max((w for w in waits if w is not None), default=None)
    if longest is not None:
        raise _refuse(longest, Plural("Too many failed logins. Try again in %(num)d second.",
                                      "Too many failed logins. Try again in %(num)d seconds.",
                                      longest))
    row = LoginFailure(at=now, email=email, address=address)
    session.add(row)
    session.flush()
    return row.id


def give_back(session: Session, reservation: int) -> None:
    """A login that succeeded is not a failure: its reservation no longer counts."""
    session.execute(delete(LoginFailure).where(LoginFailure.id == reservation))


def check_device_codes(session: Session, address: str, now: int) -> None:
    """429 when this address asked for too many device-login codes, or holds too many pending."""
    lock(session, f"device-codes:{address}")
    from_here = DeviceCode.address == address
    wait = _retry_after(session, from_here, DeviceCode.created_at, DEVICE_CODES_PER_ADDRESS, now)
    if wait is not None:
        raise _refuse(wait, Plural(
            "Too many login codes were asked for from this address. Try again in %(num)d "
            "second.",
            "Too many login codes were asked for from this address. Try again in %(num)d "
            "seconds.", wait))
    pending = session.scalar(select(func.count()).select_from(DeviceCode).where(
        from_here, DeviceCode.status == "pending", DeviceCode.expires_at > now))
    if (pending or 0) >= PENDING_CODES_PER_ADDRESS:
        first_to_expire = session.scalar(select(func.min(DeviceCode.expires_at)).where(
            from_here, DeviceCode.status == "pending", DeviceCode.expires_at > now))
        wait = max(1, int(first_to_expire or now) - now)
        raise _refuse(wait, Plural(
            "%(most)d login codes from this address are still waiting for approval. Approve "
            "or let them expire first. Try again in %(num)d second.",
            "%(most)d login codes from this address are still waiting for approval. Approve "
            "or let them expire first. Try again in %(num)d seconds.",
            wait, most=PENDING_CODES_PER_ADDRESS))


def check_user_code_guessing(session: Session, account_id: str, now: int) -> None:
    """429 once a signed-in account typed 10 user codes in 5 minutes that matched nothing.

    RFC 8628 section 5.1: the short user code must not be guessable by trying them all.
    """
    lock(session, f"user-code-misses:{account_id}")
    wait = _retry_after(session, CodeMiss.account_id == account_id, CodeMiss.at,
                        USER_CODE_MISSES_PER_ACCOUNT, now)
    if wait is not None:
        raise _refuse(wait, Plural(
            "Too many codes that match no waiting device were typed. Try again in %(num)d "
            "second.",
            "Too many codes that match no waiting device were typed. Try again in %(num)d "
            "seconds.", wait))


def record_user_code_miss(session: Session, account_id: str, now: int) -> None:
    session.add(CodeMiss(at=now, account_id=account_id))


def prune(session: Session, now: int, device_code_ttl_s: int) -> int:
    """Delete what no limit or login needs any more; returns how many rows went."""
    gone = 0
    for statement in (
        delete(LoginFailure).where(LoginFailure.at <= now - KEEP_FAILURES_S),
        # Kept a while past expiry, so a late poll still hears `expired_token` and the
        # per-address count still sees the codes it limits.
        delete(DeviceCode).where(DeviceCode.expires_at <= now - max(
            device_code_ttl_s, DEVICE_CODES_PER_ADDRESS.window_s)),
        delete(PortalSession).where(PortalSession.expires_at <= now),
        delete(CodeMiss).where(CodeMiss.at <= now - USER_CODE_MISSES_PER_ACCOUNT.window_s),
    ):
        gone += session.execute(statement).rowcount or 0  # type: ignore[attr-defined]
    return gone
