"""What every console page shares: the templates, the signed-in administrator, CSRF, cookies.

The console's session cookie is its own (`seatkeeper_admin`, Path=/admin, SameSite=Strict):
a portal cookie opens nothing here, and this one nothing on the portal.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from seatkeeper_server.console import words
from seatkeeper_server.context import Context
from seatkeeper_server.models import Account
from seatkeeper_server.portal import forms, sessions
from seatkeeper_server.portal.sessions import Visitor
from seatkeeper_server.portal.views import HEADERS, ago
from seatkeeper_server.services import administration

HERE = Path(__file__).parent
COOKIE = "seatkeeper_admin"
PRE_COOKIE = "seatkeeper_admin_signin"  # the sign-in form's CSRF token, before any session
SCOPE = "admin"
SESSION_TTL_S = 8 * 3600
PATH = "/admin"

_env = Environment(loader=FileSystemLoader(HERE / "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True,
                   lstrip_blocks=True)


def utc(epoch: int | None, *, seconds: bool = False) -> str:
    if epoch is None:
        return ""
    form = "%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime(form)


def days(seconds: int) -> str:
    """Seconds as days, `7` or `0.5`."""
    return f"{seconds / 86400:.4g}"


def stamp(rfc3339: str | None) -> str:
    """`2026-11-29T08:00:00Z` as `2026-11-29 08:00:00 UTC`; empty for none."""
    return f"{rfc3339[:10]} {rfc3339[11:19]} UTC" if rfc3339 else ""


_env.filters.update(utc=utc, days=days, stamp=stamp)
_env.globals.update(words=words, ago=ago)


def ctx(request: Request) -> Context:
    context: Context = request.app.state.ctx
    return context


def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def message(status: int, heading: str, text: str, admin: Visitor | None = None) -> Response:
    return page("message.html", status=status, title=heading, heading=heading, text=text,
                admin=admin)


def bad_form_page(exc: forms.BadForm) -> Response:
    return message(400, words.BAD_FORM_HEADING, f"{exc} Go back, reload the page and try again.")


def not_found(admin: Visitor, text: str) -> Response:
    return message(404, words.NOT_FOUND_HEADING, text, admin)


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
    return message(403, words.FORM_REFUSED_HEADING, words.FORM_REFUSED, admin)


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
    return words.NOTICES.get(key)
