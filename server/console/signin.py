"""Signing in to the console and out: an administrator's account, the login's rate limits.

The attempt counts toward the same limits as every password login (docs/protocol.md,
"Password guessing"); the role and the account's state are told only once the password
is right.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from seatkeeper_server import errors, security
from seatkeeper_server.api import client_address
from seatkeeper_server.console import common, words
from seatkeeper_server.i18n import _, said, say
from seatkeeper_server.models import Account
from seatkeeper_server.portal import forms, sessions
from seatkeeper_server.services import accounts, administration, auth, limits

router = APIRouter()


@router.get("")
def home(request: Request) -> Response:
    return common.redirect(f"{common.PATH}/accounts" if common.admin_of(request)
                           else f"{common.PATH}/sign-in")


@router.get("/static/console.css")
def stylesheet() -> Response:
    return FileResponse(common.HERE / "static" / "console.css", media_type="text/css")


def _sign_in_page(request: Request, status: int = 200, error: str | None = None,
                  email: str = "", target: str = "") -> Response:
    csrf = request.cookies.get(common.PRE_COOKIE) or sessions.new_csrf()
    response = common.page("sign_in.html", status=status, title=_(words.TITLES["sign-in"]),
                           csrf=csrf, error=error, email=email, next=target)
    common.set_cookie(request, response, common.PRE_COOKIE, csrf, 3600)
    return response


@router.get("/sign-in")
def sign_in_form(request: Request, next: str = "") -> Response:
    return _sign_in_page(request, target=next)


def _safe_next(target: str) -> str:
    ok = (target.startswith(f"{common.PATH}/") and not target.startswith("//")
          and "\\" not in target)
    return target if ok else f"{common.PATH}/accounts"


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await forms.read(request)
    if not sessions.csrf_ok(request.cookies.get(common.PRE_COOKIE), form.get("csrf")):
        return common.refused_form()
    c = common.ctx(request)
    email = accounts.normalise_email(form.get("email", ""))[:320]
    target, address = form.get("next", ""), client_address(request)
    try:
        with c.transaction() as session:
            # Counted as a failure from here on, until the password checks out.
            reservation = limits.reserve_login(session, email, address, c.now())
            stored = auth.password_hash_for(session, email)
    except errors.RateLimited as exc:
        response = _sign_in_page(request, 429, said(exc), email, target)
        response.headers.update(exc.headers or {})
        return response
    # argon2 takes tens of milliseconds: never while holding a transaction.
    if not security.verify_password(stored, form.get("password", "")[:1024]):
        return _sign_in_page(request, 401, _(words.SIGN_IN_WRONG), email, target)
    with c.transaction() as session:
        limits.give_back(session, reservation)
        account = accounts.find_account(session, email)
        refusal = administration.console_refusal(account)
        if refusal is not None:
            return _sign_in_page(request, 403, say(refusal), email, target)
        assert isinstance(account, Account)
        administration.record_sign_in(session, account.id, address, c.now())
        cookie = sessions.create(session, account.id, c.now(), scope=common.SCOPE,
                                 ttl_s=common.SESSION_TTL_S)
    response = common.redirect(_safe_next(target))
    common.set_cookie(request, response, common.COOKIE, cookie, common.SESSION_TTL_S)
    response.delete_cookie(common.PRE_COOKIE, path=common.PATH)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    checked = await common.posted(request)
    if isinstance(checked, Response):
        return checked
    admin, _ = checked
    with common.ctx(request).transaction() as session:
        sessions.end(session, admin)
    response = common.redirect(f"{common.PATH}/sign-in")
    response.delete_cookie(common.COOKIE, path=common.PATH)
    return response
