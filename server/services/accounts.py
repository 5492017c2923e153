"""Accounts and licenses, as the admin API and `seatkeeper-server admin` manage them."""

from __future__ import annotations

import time
from typing import Any

from seatkeeper_server import errors, security
from seatkeeper_server.models import Account, Device, Lease, License
from seatkeeper_server.services import audit, names, render
from seatkeeper_server.text import Text
from seatkeeper_server.timeutil import to_rfc3339
from sqlalchemy import select
from sqlalchemy.orm import Session

KINDS = ("subscription", "perpetual")
MIN_PASSWORD = 8


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise errors.InvalidRequest(Text("The password is too short: it needs at least "
                                         "%(least)d characters.", least=MIN_PASSWORD),
                                    {"fields": {"password": f"must be at least {MIN_PASSWORD} "
                                                "characters"}})


def create_account(session: Session, email: str, password: str, now: int, *,
                   actor: str = audit.SYSTEM) -> dict[str, str]:
    email = normalise_email(email)
    names.check({"email": email})
    if "@" not in email or email.startswith("@") or email.endswith("@") or " " in email:
        raise errors.InvalidRequest(Text("The email address is not valid."),
                                    {"fields": {"email": "must be an email address"}})
    check_password(password)
    if session.scalars(select(Account.id).where(Account.email == email)).first():
        raise errors.InvalidRequest(Text("An account for %(email)s exists already.",
                                         email=email),
                                    {"fields": {"email": "is already registered"}})
    account = Account(id=security.new_id("acc"), email=email,
                      password_hash=security.hash_password(password), created_at=now)
    session.add(account)
    session.flush()
    audit.record(session, now, "account_created", actor=actor, account_id=account.id)
    return {"id": account.id, "email": account.email}


def create_license(session: Session, account_id: str, name: str, kind: str, seats: int,
                   expires_at: int | None, support_until: str | None, now: int, *,
                   max_borrow_s: int = 0, actor: str = audit.SYSTEM) -> dict[str, Any]:
    names.check({"name": name})
    if session.get(Account, account_id) is None:
        raise errors.NotFound(Text("No account %(id)s.", id=account_id))
    if kind == "perpetual" and expires_at is not None:
        raise errors.InvalidRequest(
            Text("A perpetual license does not expire; give support_until instead."),
            {"fields": {"expires_at": "must be absent for a perpetual license"}})
    lic = License(id=security.new_id("lic"), account_id=account_id, name=name, kind=kind,
                  seats_total=seats, expires_at=expires_at, support_until=support_until,
                  max_borrow_s=max_borrow_s, created_ns=time.time_ns())
    session.add(lic)
    session.flush()
    audit.record(session, now, "license_created", actor=actor, account_id=account_id,
                 license_id=lic.id, detail=f"{name}: {kind}, {seats} seat(s)")
    return render.license_json(session, lic, now)


def update_license(session: Session, license_id: str, changes: dict[str, Any], now: int, *,
                   actor: str = audit.SYSTEM) -> dict[str, Any]:
    """Change any of `seats`, `expires_at` (epoch s or None), `support_until`, `max_borrow_s`.

    Leases already issued keep their expiry: a shorter `max_borrow_s` applies to the next
    borrow. Fewer seats than are in use refuses new seats until enough are given back.
    """
    lic = session.get(License, license_id, with_for_update=True)
    if lic is None:
        raise errors.NotFound(Text("No license %(id)s.", id=license_id))
    if lic.revoked_at is not None:
        raise errors.InvalidRequest(
            Text("The license %(name)s is revoked and can no longer change; give the account "
                 "a new license instead.", name=lic.name),
            {"fields": {"id": "is a revoked license"}})
    if lic.kind == "perpetual" and changes.get("expires_at") is not None:
        raise errors.InvalidRequest(
            Text("A perpetual license does not expire; give support_until instead."),
            {"fields": {"expires_at": "must be absent for a perpetual license"}})
    columns = {"seats": "seats_total", "expires_at": "expires_at",
               "support_until": "support_until", "max_borrow_s": "max_borrow_s"}
    for field, column in columns.items():
        if field in changes:
            setattr(lic, column, changes[field])
    session.flush()
    audit.record(session, now, "license_updated", actor=actor, account_id=lic.account_id,
                 license_id=lic.id,
                 detail=", ".join(f"{k}={v}" for k, v in sorted(changes.items())) or "nothing")
    return render.license_json(session, lic, now)


def account_json(session: Session, account_id: str, now: int) -> dict[str, Any]:
    """The account as its devices see it: a revoked license is gone for them."""
    account = session.get(Account, account_id)
    assert account is not None
    licenses = session.scalars(select(License).where(License.account_id == account_id,
                                                     License.revoked_at.is_(None))
                               .order_by(License.created_ns, License.id)).all()
    return {"id": account.id, "email": account.email,
            "remote_deactivation": account.remote_deactivation,
            "licenses": [render.license_json(session, lic, now) for lic in licenses]}


def license_with_leases(session: Session, license_id: str, now: int) -> dict[str, Any]:
    lic = session.get(License, license_id)
    if lic is None:
        raise errors.NotFound(Text("No license %(id)s.", id=license_id))
    body = {**render.license_json(session, lic, now), "revoked_at": to_rfc3339(lic.revoked_at)}
    rows = session.execute(
        select(Lease, Device).join(Device, Device.id == Lease.device_id)
        .where(Lease.id.in_(select(render.live_leases(lic.id, now).subquery().c.id)))
        .order_by(Lease.issued_at, Lease.id)).all()
    body["leases"] = [{"lease_id": lease.id, "device": {"id": dev.id, "name": dev.name},
                       "issued_at": to_rfc3339(lease.issued_at),
                       "expires_at": to_rfc3339(lease.expires_at),
                       "borrowed_until": render.borrowed_until(lease, now),
                       "last_heartbeat_at": to_rfc3339(lease.last_heartbeat_at)}
                      for lease, dev in rows]
    return body


def find_account(session: Session, id_or_email: str) -> Account | None:
    account = session.get(Account, id_or_email)
    if account is None:
        account = session.scalars(select(Account).where(
            Account.email == normalise_email(id_or_email))).first()
    return account


def overview(session: Session, now: int) -> list[dict[str, Any]]:
    """Every account with its licenses and their seat use (for `admin list`)."""
    accounts = session.scalars(select(Account).order_by(Account.created_at, Account.email)).all()
    return [{**account_json(session, a.id, now), "role": a.role,
             "disabled_at": to_rfc3339(a.disabled_at)} for a in accounts]
