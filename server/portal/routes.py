"""Portal routes: sign in and out, the account page, its two actions, device-login approval.

Every form carries a CSRF token: the session's once signed in, and before that one kept
in a short-lived cookie of its own (double submit). Pages work without JavaScript.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from seatkeeper_server import errors, i18n, security
from seatkeeper_server.api import client_address
from seatkeeper_server.context import Context
from seatkeeper_server.i18n import _, said
from seatkeeper_server.portal import sessions, views
from seatkeeper_server.portal.forms import BadForm
from seatkeeper_server.portal.forms import read as _form
from seatkeeper_server.portal.sessions import Visitor
from seatkeeper_server.services import accounts, auth, device_grant, devices, limits
from seatkeeper_server.services.auth import Caller
from seatkeeper_server.text import N_
from sqlalchemy.orm import Session

router = APIRouter(prefix="/portal", include_in_schema=False)

NOTICES = {
    "switch-on": N_("Remote device deactivation is on."),
    "switch-off": N_("Remote device deactivation is off."),
    "deactivated": N_("The device is deactivated: its seat is free and it is signed out."),
}
SWITCH_REFUSED = N_("Remote device deactivation can only be switched on while no device holds "
                    "a seat, and a device holds one now. Log out or release the seat on every "
                    "device (in the tray: Release seat now), then switch it on here.")


def _ctx(request: Request) -> Context:
    context: Context = request.app.state.ctx
    return context


def bad_form_page(exc: BadForm) -> Response:
    return views.page("message.html", status=400, title=_("Form not valid"),
                      heading=_("This form cannot be read"),
                      text=f"{said(exc)} {_('Go back, reload the page and try again.')}")


def _visitor(request: Request) -> Visitor | None:
    c = _ctx(request)
    with c.transaction() as session:
        return sessions.find(session, request.cookies.get(sessions.COOKIE), c.now())


def _set_cookie(request: Request, response: Response, name: str, value: str,
                max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/portal", httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _sign_in_first(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _redirect(f"/portal/sign-in?next={quote(target, safe='')}")


def _refused_form() -> Response:
    return views.page("message.html", status=403, title=_("Form refused"),
                      heading=_("This form cannot be accepted"),
                      text=_("It was not sent from this page, or the page is out of date. "
                             "Go back, reload the page and try again."))


def _portal_caller(visitor: Visitor) -> Caller:
    return Caller("", visitor.account_id, "", None)


@router.get("/language")
def language(request: Request, to: str = "", next: str = "") -> Response:
    """The language links: remember the reader's choice (a cookie for the portal and the
    console, a year long), back to the page they were on."""
    response = _redirect(i18n.safe_return(next))
    if to in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, to, max_age=i18n.COOKIE_MAX_AGE_S, path="/",
                            samesite="lax", secure=request.url.scheme == "https")
    return response


# -- sign in and out -------------------------------------------------------------------

@router.get("")
def home(request: Request) -> Response:
    return _redirect("/portal/account" if _visitor(request) else "/portal/sign-in")


@router.get("/static/portal.css")
def stylesheet() -> Response:
    return FileResponse(views.HERE / "static" / "portal.css", media_type="text/css")


def _sign_in_page(request: Request, status: int = 200, error: str | None = None,
                  email: str = "", target: str = "") -> Response:
    csrf = request.cookies.get(sessions.PRE_COOKIE) or sessions.new_csrf()
    response = views.page("sign_in.html", status=status, title=_("Sign in"), csrf=csrf,
                          error=error, email=email, next=target)
    _set_cookie(request, response, sessions.PRE_COOKIE, csrf, 3600)
    return response


@router.get("/sign-in")
def sign_in_form(request: Request, next: str = "") -> Response:
    return _sign_in_page(request, target=next)


def _safe_next(target: str) -> str:
    ok = target.startswith("/portal/") and not target.startswith("//") and "\\" not in target
    return target if ok else "/portal/account"


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await _form(request)
    if not sessions.csrf_ok(request.cookies.get(sessions.PRE_COOKIE), form.get("csrf")):
        return _refused_form()
    c = _ctx(request)
    email = accounts.normalise_email(form.get("email", ""))[:320]
    target = form.get("next", "")
    try:
        with c.transaction() as session:
            # Counted as a failure from here on, until the password checks out.
            reservation = limits.reserve_login(session, email, client_address(request),
                                               c.now())
            stored = auth.password_hash_for(session, email)
    except errors.RateLimited as exc:
        response = _sign_in_page(request, 429, said(exc), email, target)
        response.headers.update(exc.headers or {})
        return response
    if not security.verify_password(stored, form.get("password", "")[:1024]):
        return _sign_in_page(request, 401, _("The email or the password is wrong."), email,
                             target)
    with c.transaction() as session:
        limits.give_back(session, reservation)
        account = accounts.find_account(session, email)
        assert account is not None
        if account.disabled_at is not None:
            return _sign_in_page(request, 403, i18n.say(auth.DISABLED), email, target)
        cookie = sessions.create(session, account.id, c.now())
    response = _redirect(_safe_next(target))
    _set_cookie(request, response, sessions.COOKIE, cookie, sessions.SESSION_TTL_S)
    response.delete_cookie(sessions.PRE_COOKIE, path="/portal")
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    visitor, form = _visitor(request), await _form(request)
    if visitor is None:
        return _redirect("/portal/sign-in")
    if not sessions.csrf_ok(visitor.csrf, form.get("csrf")):
        return _refused_form()
    with _ctx(request).transaction() as session:
        sessions.end(session, visitor)
    response = _redirect("/portal/sign-in")
    response.delete_cookie(sessions.COOKIE, path="/portal")
    return response


# -- the account page and its actions ----------------------------------------------------

def _account_page(request: Request, visitor: Visitor, status: int = 200,
                  error: str | None = None, notice: str | None = None) -> Response:
    c = _ctx(request)
    with c.transaction() as session:
        values: dict[str, Any] = {
            "licenses": views.license_rows(session, visitor.account_id, c.now()),
            "devices": views.device_rows(session, visitor.account_id, c.now()),
            "remote_deactivation": views.remote_deactivation(session, visitor.account_id,
                                                             c.now())}
    return views.page("account.html", status=status, title=_("Your licenses and devices"),
                      visitor=visitor, error=error, notice=notice, **values)


@router.get("/account")
def account(request: Request, done: str = "") -> Response:
    visitor = _visitor(request)
    if visitor is None:
        return _sign_in_first(request)
    return _account_page(request, visitor, notice=_(NOTICES[done]) if done in NOTICES else None)


@router.post("/remote-deactivation")
async def remote_deactivation(request: Request) -> Response:
    visitor, form = _visitor(request), await _form(request)
    if visitor is None:
        return _sign_in_first(request)
    if not sessions.csrf_ok(visitor.csrf, form.get("csrf")):
        return _refused_form()
    enabled = form.get("enabled") == "on"
    c = _ctx(request)
    try:
        with c.transaction() as session:
            devices.set_remote_deactivation(session, _portal_caller(visitor), enabled, c.now())
    except errors.ActiveDeviceExists as exc:
        return _account_page(request, visitor, exc.status, _(SWITCH_REFUSED))
    except errors.ApiError as exc:
        return _account_page(request, visitor, exc.status, said(exc))
    return _redirect("/portal/account?done=" + ("switch-on" if enabled else "switch-off"))


@router.post("/devices/{device_id}/deactivate")
async def deactivate(request: Request, device_id: str) -> Response:
    visitor, form = _visitor(request), await _form(request)
    if visitor is None:
        return _sign_in_first(request)
    if not sessions.csrf_ok(visitor.csrf, form.get("csrf")):
        return _refused_form()
    c = _ctx(request)
    try:
        with c.transaction() as session:
            devices.deactivate(session, _portal_caller(visitor), device_id, c.now())
    except errors.ApiError as exc:
        return _account_page(request, visitor, exc.status, said(exc))
    return _redirect("/portal/account?done=deactivated")


# -- device login approval -------------------------------------------------------------

@router.get("/device")
def device_form(request: Request, code: str = "") -> Response:
    visitor = _visitor(request)
    if visitor is None:
        return _sign_in_first(request)
    c = _ctx(request)
    try:
        with c.transaction() as session:
            pending = _look_up(session, visitor, code, c.now()) if code else None
    except errors.RateLimited as exc:
        return _device_page(request, visitor, "", None, exc)
    return _device_page(request, visitor, code, pending)


def _look_up(session: Session, visitor: Visitor, code: str,
             now: int) -> device_grant.PendingLogin | None:
    """The login waiting behind a typed code; a miss counts toward the guessing limit."""
    limits.check_user_code_guessing(session, visitor.account_id, now)
    pending = device_grant.find_pending(session, code, now)
    if pending is None:
        limits.record_user_code_miss(session, visitor.account_id, now)
    return pending


def _device_page(request: Request, visitor: Visitor, code: str,
                 pending: device_grant.PendingLogin | None,
                 refusal: errors.RateLimited | None = None) -> Response:
    """The approve page: the login waiting, the form for a code, or why neither."""
    now = _ctx(request).now()
    error = said(refusal) if refusal else None if pending or not code else _(
        "No device is waiting for this code: it may be mistyped, used already or expired. "
        "Start the login on the device again for a new code.")
    response = views.page(
        "device.html", status=refusal.status if refusal else 404 if error else 200,
        title=_("Approve a device"), visitor=visitor, code=device_grant.normalise_user_code(code),
        pending=pending, error=error, here_address=client_address(request),
        asked_ago=pending and views.ago(pending.created_at, now),
        asked_utc=pending and views.utc(pending.created_at))
    response.headers.update(refusal.headers if refusal and refusal.headers else {})
    return response


@router.post("/device")
async def device_decide(request: Request) -> Response:
    visitor, form = _visitor(request), await _form(request)
    if visitor is None:
        return _sign_in_first(request)
    if not sessions.csrf_ok(visitor.csrf, form.get("csrf")):
        return _refused_form()
    code = form.get("user_code", "")
    if form.get("decision") not in ("approve", "deny"):
        return _redirect(f"/portal/device?code={quote(code, safe='')}")
    approve = form.get("decision") == "approve"
    c = _ctx(request)
    try:
        with c.transaction() as session:
            # Guessing by posting decisions counts like guessing on the page.
            if _look_up(session, visitor, code, c.now()) is None:
                decided = None
            else:
                decided = device_grant.decide(session, code, visitor.account_id, approve,
                                              c.now())
    except errors.RateLimited as exc:
        return _device_page(request, visitor, "", None, exc)
    if decided is None:
        return _device_page(request, visitor, code, None)
    if approve:
        heading = _("%(device)s is signed in") % {"device": decided.name}
        text = _("The device finishes signing in within a few seconds. You can close this "
                 "page.")
    else:
        heading = _("%(device)s was not signed in") % {"device": decided.name}
        text = _("The device is told its login was denied. Nothing else changed.")
    return views.page("message.html", title=heading, heading=heading, text=text,
                      visitor=visitor, back=True)
