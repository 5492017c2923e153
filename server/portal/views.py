"""Portal pages: the Jinja2 environment, and the data each page shows, as plain values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from seatkeeper_server.services import accounts
from seatkeeper_server.services.auth import Caller
from seatkeeper_server.services.devices import list_devices
from seatkeeper_server.timeutil import parse_rfc3339
from sqlalchemy.orm import Session

HERE = Path(__file__).parent
_env = Environment(loader=FileSystemLoader(HERE / "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True,
                   lstrip_blocks=True)


# Every page of the portal and the console: never cached, never framed, nothing inline.
HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
           "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; "
                                      "form-action 'self'"}


def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def ago(then: int | None, now: int) -> str:
    """`just now`, `5 minutes ago`, `3 hours ago`, `2 days ago`; `never` for None."""
    if then is None:
        return "never"
    seconds = max(0, now - then)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def utc(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def license_rows(session: Session, account_id: str, now: int) -> list[dict[str, Any]]:
    rows = []
    for lic in accounts.account_json(session, account_id, now)["licenses"]:
        used, total = lic["seats_used"], lic["seats_total"]
        if lic["kind"] == "perpetual":
            until = (f"Support & Upgrade until {lic['support_until']}" if lic["support_until"]
                     else "Support & Upgrade without end")
        elif lic["expires_at"]:
            until = f"Expires {utc(parse_rfc3339(lic['expires_at']))}"
        else:
            until = "Does not expire"
        rows.append({**lic, "until": until, "borrow_words": _duration(lic["max_borrow_s"]),
                     # In steps of 5, as CSS classes: the CSP allows no inline style.
                     "fill": 0 if not total else min(100, 5 * round(20 * used / total))})
    return rows


def _duration(seconds: int) -> str:
    """`7 days`, `1 day`, `6 hours`: how long a seat may be borrowed."""
    days, hours = divmod(seconds, 86400)[0], seconds // 3600
    if days:
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{max(hours, 1)} hour{'s' if hours != 1 else ''}"


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

