"""What administrators look up: accounts, licenses and devices, as plain values for the console."""

from __future__ import annotations

from typing import Any

from seatkeeper_server import errors
from seatkeeper_server.models import Account, Device, License
from seatkeeper_server.services import accounts, render
from seatkeeper_server.text import Text
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session


def _account_values(account: Account) -> dict[str, Any]:
    return {"id": account.id, "email": account.email, "role": account.role,
            "disabled_at": account.disabled_at, "created_at": account.created_at,
            "remote_deactivation": account.remote_deactivation}


def find_accounts(session: Session, text: str, *, offset: int, limit: int
                  ) -> tuple[list[dict[str, Any]], bool]:
    """Accounts whose email contains `text` (or whose id it is), newest first; and whether
    more follow this page."""
    query = select(Account)
    text = text.strip().lower()
    if text:
        query = query.where(or_(Account.email.contains(text, autoescape=True),
                                Account.id == text))
    rows = session.scalars(query.order_by(Account.created_at.desc(), Account.id)
                           .offset(offset).limit(limit + 1)).all()
    shown = rows[:limit]
    licenses = _count_by_account(session, License.account_id, [a.id for a in shown],
                                 License.revoked_at.is_(None))
    devices = _count_by_account(session, Device.account_id, [a.id for a in shown],
                                Device.logged_in.is_(True))
    return [{**_account_values(a), "licenses": licenses.get(a.id, 0),
             "devices": devices.get(a.id, 0)} for a in shown], len(rows) > limit


def _count_by_account(session: Session, column: Any, ids: list[str],
                      condition: Any) -> dict[str, int]:
    if not ids:
        return {}
    return {account_id: int(count) for account_id, count in session.execute(
        select(column, func.count()).where(column.in_(ids), condition).group_by(column))}


def _license_values(session: Session, lic: License, now: int) -> dict[str, Any]:
    return {**render.license_json(session, lic, now), "revoked_at": lic.revoked_at,
            "created_at": lic.created_ns // 1_000_000_000}


def account_detail(session: Session, account_id: str, now: int) -> dict[str, Any]:
    """The account, every license it was given (revoked ones too) and every device."""
    account = session.get(Account, account_id)
    if account is None:
        raise errors.NotFound(Text("No account %(id)s.", id=account_id))
    licenses = session.scalars(select(License).where(License.account_id == account_id)
                               .order_by(License.created_ns, License.id)).all()
    names = {lic.id: lic.name for lic in licenses}
    devices = session.scalars(select(Device).where(Device.account_id == account_id)
                              .order_by(Device.logged_in.desc(), Device.created_at,
                                        Device.id)).all()
    device_rows = []
    for device in devices:
        shown = render.device_json(session, device, None, now)
        seat = shown["seat"]
        device_rows.append({**shown, "logged_in": device.logged_in,
                            "last_heartbeat": device.last_heartbeat_at,
                            "license_name": names.get(seat["license_id"]) if seat else None})
    return {**_account_values(account),
            "licenses": [_license_values(session, lic, now) for lic in licenses],
            "devices": device_rows}


def find_licenses(session: Session, text: str, *, offset: int, limit: int, now: int
                  ) -> tuple[list[dict[str, Any]], bool]:
    """Licenses whose name or account's email contains `text`, newest first; and whether
    more follow this page."""
    query = select(License, Account.email).join(Account, Account.id == License.account_id)
    text = text.strip()
    if text:
        query = query.where(or_(func.lower(License.name).contains(text.lower(),
                                                                  autoescape=True),
                                Account.email.contains(text.lower(), autoescape=True),
                                License.id == text))
    rows = session.execute(query.order_by(License.created_ns.desc(), License.id)
                           .offset(offset).limit(limit + 1)).all()
    return [{**_license_values(session, lic, now), "email": email}
            for lic, email in rows[:limit]], len(rows) > limit


def license_detail(session: Session, license_id: str, now: int) -> dict[str, Any]:
    """The license, its account's email and its live seats (with their devices)."""
    body = accounts.license_with_leases(session, license_id, now)
    lic = session.get(License, license_id)
    account = session.get(Account, body["account_id"])
    assert lic is not None and account is not None
    return {**body, "revoked_at": lic.revoked_at, "email": account.email,
            "created_at": lic.created_ns // 1_000_000_000,
            "expires_epoch": lic.expires_at}


def emails(session: Session, account_ids: set[str]) -> dict[str, str]:
    """The email of each account id that exists (for the audit trail's rows)."""
    ids = sorted(i for i in account_ids if i)
    if not ids:
        return {}
    return dict(session.execute(select(Account.id, Account.email).where(Account.id.in_(ids)))
                .tuples().all())
