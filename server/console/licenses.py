"""Console: licenses — create, change, revoke; live seats and their force release; usage."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from fastapi import APIRouter, Request, Response
from seatkeeper_server import errors, i18n
from seatkeeper_server.console import chart, common, words
from seatkeeper_server.console.accounts import PAGE_SIZE, account_page, page_number
from seatkeeper_server.i18n import _, said
from seatkeeper_server.portal.sessions import Visitor
from seatkeeper_server.services import accounts, administration, audit, directory, seats, usage
from seatkeeper_server.text import Text
from seatkeeper_server.timeutil import parse_date

router = APIRouter()
PERIODS = (30, 90, 365)
MAX_SEATS, MAX_BORROW_DAYS = 100_000, 366


def _invalid(text: Text, field: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(text, {"fields": {field: text.english()}})


def _seats(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_SEATS:
        raise _invalid(Text(words.BAD_SEATS, most=MAX_SEATS), "seats")
    return int(text)


def _when(text: str) -> int | None:
    """A datetime-local field (`2027-01-31T00:00`), read as UTC; empty: no end."""
    if not text.strip():
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise _invalid(Text(words.BAD_EXPIRES), "expires_at") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp())


def _date(text: str) -> str | None:
    if not text.strip():
        return None
    try:
        return parse_date(text.strip()).isoformat()
    except ValueError:
        raise _invalid(Text(words.BAD_SUPPORT), "support_until") from None


def _borrow(text: str) -> int:
    """Days (a fraction allowed) -> seconds; empty: no borrowing."""
    try:
        days = float(text) if text.strip() else 0.0
    except ValueError:
        days = -1.0
    if not math.isfinite(days) or not 0 <= days <= MAX_BORROW_DAYS:
        raise _invalid(Text(words.BAD_DAYS), "max_borrow_s")
    return round(days * 86400)


def _terms(form: dict[str, str], kind: str) -> dict[str, Any]:
    """The license's terms from the form: those its kind has (a perpetual one no expiry)."""
    terms: dict[str, Any] = {"seats": _seats(form.get("seats", "")),
                             "max_borrow_s": _borrow(form.get("borrow_days", ""))}
    if kind == "perpetual":
        terms["support_until"] = _date(form.get("support_until", ""))
    else:
        terms["expires_at"] = _when(form.get("expires_at", ""))
    return terms


@router.get("/licenses")
def licenses_page(request: Request, q: str = "", page: str = "1") -> Response:
    admin = common.admin_of(request)
    if admin is None:
        return common.sign_in_first(request)
    c, number = common.ctx(request), page_number(page)
    with c.transaction() as session:
        rows, more = directory.find_licenses(session, q[:200], offset=(number - 1) * PAGE_SIZE,
                                             limit=PAGE_SIZE, now=c.now())
    return common.page("licenses.html", title=_(words.TITLES["licenses"]), admin=admin, rows=rows,
                       more=more, q=q[:200], number=number)


@router.post("/accounts/{account_id}/licenses")
async def create_license(request: Request, account_id: str) -> Response:
    checked = await common.posted(request)
    if isinstance(checked, Response):
        return checked
    admin, form = checked
    c = common.ctx(request)
    kind, name = form.get("kind", "subscription"), form.get("name", "").strip()[:200]
    try:
        if kind not in accounts.KINDS:
            raise _invalid(Text(words.BAD_KIND), "kind")
        if not name:
            raise _invalid(Text(words.NO_NAME), "name")
        terms = _terms(form, kind)
        with c.transaction() as session:
            made = accounts.create_license(
                session, account_id, name, kind,
                terms["seats"], terms.get("expires_at"), terms.get("support_until"), c.now(),
                max_borrow_s=terms["max_borrow_s"], actor=audit.console(admin.account_id))
    except errors.ApiError as exc:
        return account_page(request, admin, account_id, exc.status, said(exc))
    return common.done(f"{common.PATH}/licenses/{made['id']}", "license-created")


def period(text: str) -> int:
    return int(text) if text.isdigit() and int(text) in PERIODS else PERIODS[0]


def license_page(request: Request, admin: Visitor, license_id: str, days: int = PERIODS[0],
                 status: int = 200, error: str | None = None,
                 notice: str | None = None) -> Response:
    c = common.ctx(request)
    now = c.now()
    since = usage.day_name(usage.day_start(now) - (days - 1) * usage.DAY_S)
    try:
        with c.transaction() as session:
            lic = directory.license_detail(session, license_id, now)
            figures = usage.license_usage(session, license_id, since, None, now)
    except errors.NotFound as exc:
        return common.not_found(admin, said(exc))
    return common.page("license.html", status=status, title=lic["name"], admin=admin, lic=lic,
                       usage=figures, chart=chart.build(figures, i18n.current()), days=days,
                       periods=PERIODS,
                       error=error, notice=notice, now=now)


@router.get("/licenses/{license_id}")
def license_view(request: Request, license_id: str, days: str = "", done: str = "") -> Response:
    admin = common.admin_of(request)
    if admin is None:
        return common.sign_in_first(request)
    return license_page(request, admin, license_id, period(days), notice=common.notice(done))


@router.post("/licenses/{license_id}")
async def update_license(request: Request, license_id: str) -> Response:
    checked = await common.posted(request)
    if isinstance(checked, Response):
        return checked
    admin, form = checked
    c = common.ctx(request)
    try:
        with c.transaction() as session:
            kind = directory.license_detail(session, license_id, c.now())["kind"]
        changes = _terms(form, kind)
        with c.transaction() as session:
            accounts.update_license(session, license_id, changes, c.now(),
                                    actor=audit.console(admin.account_id))
    except errors.NotFound as exc:
        return common.not_found(admin, said(exc))
    except errors.ApiError as exc:
        return license_page(request, admin, license_id, status=exc.status, error=said(exc))
    return common.done(f"{common.PATH}/licenses/{license_id}", "license-updated")


@router.post("/licenses/{license_id}/revoke")
async def revoke(request: Request, license_id: str) -> Response:
    checked = await common.posted(request)
    if isinstance(checked, Response):
        return checked
    admin, form = checked
    if form.get("confirm") != "yes":
        return license_page(request, admin, license_id, status=400,
                            error=_(words.REVOKE_UNCONFIRMED))
    c = common.ctx(request)
    try:
        with c.transaction() as session:
            administration.revoke_license(session, license_id, c.now(),
                                          actor=audit.console(admin.account_id))
    except errors.NotFound as exc:
        return common.not_found(admin, said(exc))
    return common.done(f"{common.PATH}/licenses/{license_id}", "license-revoked")


@router.post("/leases/{lease_id}/release")
async def force_release(request: Request, lease_id: str) -> Response:
    checked = await common.posted(request)
    if isinstance(checked, Response):
        return checked
    admin, _ = checked
    c = common.ctx(request)
    try:
        with c.transaction() as session:
            license_id = seats.admin_release(session, lease_id, c.now(),
                                             actor=audit.console(admin.account_id))
    except errors.NotFound as exc:
        return common.not_found(admin, said(exc))
    return common.done(f"{common.PATH}/licenses/{license_id}", "seat-released")
