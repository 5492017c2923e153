"""Portal pages: the Jinja2 environment, and the data each page shows, as plain values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from seatkeeper_server import i18n
from seatkeeper_server.i18n import _, ngettext
from seatkeeper_server.services import accounts
from seatkeeper_server.services.auth import Caller
from seatkeeper_server.services.devices import list_devices
from seatkeeper_server.timeutil import parse_rfc3339
from sqlalchemy.orm import Session

HERE = Path(__file__).parent
_templates = i18n.Templates(HERE / "templates")


# Every page of the portal and the console: never cached, never framed, nothing inline.
HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
           "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; "
                                      "form-action 'self'"}


def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    """The page in the reader's language (which the response names, and varies by)."""
    return html_response(_templates.render(template, **values), status)


def html_response(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers={
        **HEADERS, "Content-Language": i18n.current().code, "Vary": "Accept-Language, Cookie"})


def ago(then: int | None, now: int) -> str:
    """`just now`, `5 minutes ago`, `3 hours ago`, `2 days ago`; `never` for None."""
    return i18n.current().ago(then, now)


def utc(epoch: int) -> str:
    return i18n.current().datetime(epoch)


def license_rows(session: Session, account_id: str, now: int) -> list[dict[str, Any]]:
    rows = []
    for lic in accounts.account_json(session, account_id, now)["licenses"]:
        used, total = lic["seats_used"], lic["seats_total"]
        if lic["kind"] == "perpetual":
            until = (_("Support & Upgrade until %(day)s")
                     % {"day": i18n.current().date(lic["support_until"])}
                     if lic["support_until"] else _("Support & Upgrade without end"))
        elif lic["expires_at"]:
            until = _("Expires %(when)s") % {"when": utc(parse_rfc3339(lic["expires_at"]))}
        else:
            until = _("Does not expire")
        kind = _("Perpetual") if lic["kind"] == "perpetual" else _("Subscription")
        rows.append({**lic, "until": until, "kind_words": kind,
                     "borrow_words": _duration(lic["max_borrow_s"]),
                     # In steps of 5, as CSS classes: the CSP allows no inline style.
                     "fill": 0 if not total else min(100, 5 * round(20 * used / total))})
    return rows


def _duration(seconds: int) -> str:
    """`7 days`, `1 day`, `6 hours`: how long a seat may be borrowed."""
    days, hours = divmod(seconds, 86400)[0], max(1, seconds // 3600)
    if days:
        return ngettext("%(num)d day", "%(num)d days", days) % {"num": days}
    return ngettext("%(num)d hour", "%(num)d hours", hours) % {"num": hours}


def device_rows(session: Session, account_id: str, now: int) -> list[dict[str, Any]]:
    rows = []
    for device in list_devices(session, Caller("", account_id, "", None), now):
        beat = device["last_heartbeat_at"]
        epoch = None if beat is None else parse_rfc3339(beat)
        borrowed = (device["seat"] or {}).get("borrowed_until")
        rows.append({**device, "heartbeat_ago": ago(epoch, now),
                     "heartbeat_utc": None if epoch is None else utc(epoch),
                     "borrowed_utc": None if borrowed is None else utc(parse_rfc3339(borrowed))})
    return rows


def remote_deactivation(session: Session, account_id: str, now: int) -> bool:
    return bool(accounts.account_json(session, account_id, now)["remote_deactivation"])

