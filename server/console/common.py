"""What every console page shares: the templates, the signed-in administrator, CSRF, cookies.

The console's session cookie is its own (`seatkeeper_admin`, Path=/admin, SameSite=Strict):
a portal cookie opens nothing here, and this one nothing on the portal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from seatkeeper_server import i18n
from seatkeeper_server.console import words
from seatkeeper_server.context import Context
from seatkeeper_server.i18n import _, ngettext, said
from seatkeeper_server.models import Account
from seatkeeper_server.portal import forms, sessions
from seatkeeper_server.portal.sessions import Visitor
from seatkeeper_server.portal.views import ago, html_response
from seatkeeper_server.services import administration
from seatkeeper_server.timeutil import parse_rfc3339

HERE = Path(__file__).parent
COOKIE = "seatkeeper_admin"
PRE_COOKIE = "seatkeeper_admin_signin"  # the sign-in form's CSRF token, before any session
SCOPE = "admin"
SESSION_TTL_S = 8 * 3600
PATH = "/admin"



def utc(epoch: int | None) -> str:
    """A moment to the minute, as the reader's locale writes it, in UTC; empty for none."""
    return i18n.current().datetime(epoch)


def days(seconds: int) -> str:
    """Seconds as days, `7` or `0.5`: a form field's value (never localised)."""
    return f"{seconds / 86400:.4g}"


def stamp(rfc3339: str | None) -> str:
    """`2026-11-29T08:00:00Z` to the second, as the reader's locale writes it; empty for none."""
    return i18n.current().datetime(parse_rfc3339(rfc3339), seconds=True) if rfc3339 else ""


def borrowing(seconds: int) -> str:
    """`up to 7 days`, `bis zu 0,5 Tage`: how long a seat may be borrowed."""
    count = seconds / 86400
    # Babel's plural rules take a whole number; a fraction of a day reads as plural.
    return ngettext("up to %(num)s day", "up to %(num)s days",
                    int(count) if count.is_integer() else 2) % {
        "num": i18n.current().number(count)}


_templates = i18n.Templates(HERE / "templates", words=words, ago=ago, borrowing=borrowing)
for _environment in _templates.environments.values():
    _environment.filters.update(utc=utc, days=days, stamp=stamp)


def ctx(request: Request) -> Context:
    context: Context = request.app.state.ctx
    return context


def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    return html_response(_templates.render(template, **values), status)


def message(status: int, heading: str, text: str, admin: Visitor | None = None) -> Response:
    return page("message.html", status=status, title=heading, heading=heading, text=text,
                admin=admin)


def bad_form_page(exc: forms.BadForm) -> Response:
    return message(400, _(words.BAD_FORM_HEADING), f"{said(exc)} {_(words.BAD_FORM_AGAIN)}")


def not_found(admin: Visitor, text: str) -> Response:
    return message(404, _(words.NOT_FOUND_HEADING), text, admin)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def set_cookie(request: Request, response: Response, name: str, value: str,
               max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PATH, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def admin_of(request: Request) -> Visitor | None:
    """The administrator signed in on this browser; None when there is none (or no longer:
    a disabled account, or one that is not an administrator's)."""
    c = ctx(request)
    with c.transaction() as session:
        visitor = sessions.find(session, request.cookies.get(COOKIE), c.now(), scope=SCOPE)
        if visitor is None:
            return None
        account = session.get(Account, visitor.account_id)
        return visitor if administration.console_refusal(account) is None else None


def sign_in_first(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(f"{PATH}/sign-in?next={quote(target, safe='')}")


def refused_form(admin: Visitor | None = None) -> Response:
    return message(403, _(words.FORM_REFUSED_HEADING), _(words.FORM_REFUSED), admin)


async def posted(request: Request) -> tuple[Visitor, dict[str, str]] | Response:
    """The administrator and the form of a POST, or the answer when either fails: sign in
    first, or the form refused (no CSRF token, or another session's)."""
    admin, form = admin_of(request), await forms.read(request)
    if admin is None:
        return sign_in_first(request)
    if not sessions.csrf_ok(admin.csrf, form.get("csrf")):
        return refused_form(admin)
    return admin, form


def done(url: str, key: str) -> RedirectResponse:
    """Back to the page, saying what happened (a key of words.NOTICES)."""
    return redirect(f"{url}?done={key}")


def notice(key: str) -> str | None:
    return _(words.NOTICES[key]) if key in words.NOTICES else None
