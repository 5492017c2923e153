"""Console: accounts — find, create, disable and enable, reset a password; an account's page."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request, Response
from seatkeeper_server import errors
from seatkeeper_server.console import common, words
from seatkeeper_server.i18n import _, said
from seatkeeper_server.portal.sessions import Visitor
from seatkeeper_server.services import accounts, administration, audit, directory

router = APIRouter()
PAGE_SIZE = 50


def page_number(text: str) -> int:
    """`?page=` as a person may type it: anything but a positive number is the first page."""
    return max(1, int(text)) if text.isdigit() else 1


@router.get("/accounts")
def accounts_page(request: Request, q: str = "", page: str = "1", done: str = "") -> Response:
    admin = common.admin_of(request)
    if admin is None:
        return common.sign_in_first(request)
    return _accounts(request, admin, q[:320], page_number(page), notice=common.notice(done))


def _accounts(request: Request, admin: Visitor, q: str = "", number: int = 1,
              status: int = 200, error: str | None = None, email: str = "",
              notice: str | None = None) -> Response:
    c = common.ctx(request)
    with c.transaction() as session:
        rows, more = directory.find_accounts(session, q, offset=(number - 1) * PAGE_SIZE,
                                             limit=PAGE_SIZE)
    return common.page("accounts.html", status=status, title=_(words.TITLES["accounts"]),
                       admin=admin, rows=rows, more=more, q=q, number=number, error=error,
                       email=email, notice=notice, now=c.now())


def _one_time(admin: Visitor | None, account: dict[str, Any], password: str,
              created: bool) -> Response:
    """The generated password, on this page only: it is stored nowhere but as its hash."""
    return common.page("password.html", title=_(words.TITLES["password"]), admin=admin,
                       account=account, password=password, created=created)


@router.post("/accounts")
async def create_account(request: Request) -> Response:
    checked = await common.posted(request)
    if isinstance(checked, Response):
        return checked
    admin, form = checked
    email, given = form.get("email", "")[:320], form.get("password", "")[:1024]
    password = given or secrets.token_urlsafe(12)
    c = common.ctx(request)
    try:
        with c.transaction() as session:
            made = accounts.create_account(session, email, password, c.now(),
                                           actor=audit.console(admin.account_id))
    except errors.ApiError as exc:
        return _accounts(request, admin, status=exc.status, error=said(exc), email=email)
    if not given:
        return _one_time(admin, made, password, created=True)
    return common.done(f"{common.PATH}/accounts/{made['id']}", "account-created")


def account_page(request: Request, admin: Visitor, account_id: str, status: int = 200,
                 error: str | None = None, notice: str | None = None) -> Response:
    c = common.ctx(request)
    try:
        with c.transaction() as session:
            account = directory.account_detail(session, account_id, c.now())
    except errors.NotFound as exc:
        return common.not_found(admin, said(exc))
    return common.page("account.html", status=status, title=account["email"], admin=admin,
                       account=account, error=error, notice=notice, now=c.now(),
                       own=account_id == admin.account_id)


@router.get("/accounts/{account_id}")
def account(request: Request, account_id: str, done: str = "") -> Response:
    admin = common.admin_of(request)
    if admin is None:
        return common.sign_in_first(request)
    return account_page(request, admin, account_id, notice=common.notice(done))


@router.post("/accounts/{account_id}/disable")
async def disable(request: Request, account_id: str) -> Response:
    checked = await common.posted(request)
    if isinstance(checked, Response):
        return checked
    admin, _ = checked
    c = common.ctx(request)
    try:
        with c.transaction() as session:
            administration.disable_account(session, account_id, c.now(),
                                           actor=audit.console(admin.account_id),
                                           by_account=admin.account_id)
    except errors.ApiError as exc:
        return account_page(request, admin, account_id, exc.status, said(exc))
    return common.done(f"{common.PATH}/accounts/{account_id}", "account-disabled")


@router.post("/accounts/{account_id}/enable")
async def enable(request: Request, account_id: str) -> Response:
    checked = await common.posted(request)
    if isinstance(checked, Response):
        return checked
    admin, _ = checked
    c = common.ctx(request)
    try:
        with c.transaction() as session:
            administration.enable_account(session, account_id, c.now(),
                                          actor=audit.console(admin.account_id))
    except errors.ApiError as exc:
        return account_page(request, admin, account_id, exc.status, said(exc))
    return common.done(f"{common.PATH}/accounts/{account_id}", "account-enabled")


@router.post("/accounts/{account_id}/password")
async def reset_password(request: Request, account_id: str) -> Response:
    checked = await common.posted(request)
    if isinstance(checked, Response):
        return checked
    admin, form = checked
    given = form.get("password", "")[:1024] or None
    c = common.ctx(request)
    try:
        with c.transaction() as session:
            made = administration.reset_password(session, account_id, given, c.now(),
                                                 actor=audit.console(admin.account_id))
            shown = directory.account_detail(session, account_id, c.now())
    except errors.ApiError as exc:
        return account_page(request, admin, account_id, exc.status, said(exc))
    own = account_id == admin.account_id  # then this session ended with the old password
    if made is not None:
        return _one_time(None if own else admin, shown, made, created=False)
    if own:
        return common.redirect(f"{common.PATH}/sign-in")
    return common.done(f"{common.PATH}/accounts/{account_id}", "password-set")
