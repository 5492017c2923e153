"""Console: the audit trail, filtered and paged, and its CSV; a license's usage as CSV.

CSV cells that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a
carriage return: a device's name in a detail can) are written with a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from seatkeeper_server import errors
from seatkeeper_server.console import common, words
from seatkeeper_server.console.licenses import period
from seatkeeper_server.context import Context
from seatkeeper_server.i18n import _, said
from seatkeeper_server.portal.views import HEADERS
from seatkeeper_server.services import accounts, audit, directory, usage
from seatkeeper_server.text import Text
from seatkeeper_server.timeutil import parse_rfc3339

router = APIRouter()
PAGE_SIZE, EXPORT_PAGE = 50, 1000
_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
COLUMNS = ("at", "event", "actor", "account_id", "account_email", "device_id", "lease_id",
           "license_id", "detail")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Filters:
    """The trail's filters as typed on the page, and what they mean for the query."""

    event: str = ""
    account: str = ""
    device: str = ""
    since: str = ""
    account_id: str | None = None
    since_epoch: int | None = None

    def query(self) -> dict[str, Any]:
        return {"event": self.event or None, "account_id": self.account_id,
                "device_id": self.device or None, "since": self.since_epoch}

    def link(self) -> str:
        """The filters as a query string (for the next page and the CSV)."""
        return urlencode({k: v for k, v in (("event", self.event), ("account", self.account),
                                            ("device", self.device), ("since", self.since))
                          if v})


def _filters(c: Context, event: str, account: str, device: str, since: str) -> Filters:
    """Read the filters; errors.InvalidRequest (with the words to show) for a bad one."""
    event, account, device, since = (event.strip()[:40], account.strip()[:320],
                                     device.strip()[:40], since.strip()[:40])
    if event and event not in audit.EVENTS:
        raise errors.InvalidRequest(Text(words.NO_EVENT, name=event))
    if device and not _ID.match(device):
        raise errors.InvalidRequest(Text(words.NOT_A_DEVICE, text=device))
    since_epoch = None
    if since:
        try:
            since_epoch = (usage.day_epoch(since) if len(since) == 10
                           else parse_rfc3339(since))
        except ValueError:
            raise errors.InvalidRequest(Text(words.BAD_SINCE)) from None
    account_id = None
    if account:
        with c.transaction() as session:
            found = accounts.find_account(session, account)
        if found is None:
            raise errors.InvalidRequest(Text(words.NO_SUCH_ACCOUNT, text=account))
        account_id = found.id
    return Filters(event, account, device, since, account_id, since_epoch)


def _with_emails(c: Context, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with c.transaction() as session:
        known = directory.emails(session, {e["account_id"] for e in events}
                                 | {e["actor"].partition(":")[2] for e in events})
    return [{**e, "account_email": known.get(e["account_id"] or ""),
             "actor_email": known.get(e["actor"].partition(":")[2])} for e in events]


@router.get("/audit")
def audit_page(request: Request, event: str = "", account: str = "", device: str = "",
               since: str = "", cursor: str = "") -> Response:
    admin = common.admin_of(request)
    if admin is None:
        return common.sign_in_first(request)
    c = common.ctx(request)
    shown = Filters(event[:40], account[:320], device[:40], since[:40])
    try:
        shown = _filters(c, event, account, device, since)
        with c.transaction() as session:
            found = audit.events_json(session, **shown.query(), limit=PAGE_SIZE,
                                      cursor=cursor[:100] or None)
    except errors.InvalidRequest as exc:
        return common.page("audit.html", status=400, title=_(words.TITLES["audit"]),
                           admin=admin, filters=shown, events=[], next=None, error=said(exc),
                           names=audit.EVENTS, paged=bool(cursor))
    return common.page("audit.html", title=_(words.TITLES["audit"]), admin=admin, filters=shown,
                       events=_with_emails(c, found["events"]), next=found["next"],
                       names=audit.EVENTS, paged=bool(cursor))


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def _csv(rows: Iterator[list[object]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(value) for value in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _download(rows: Iterator[list[object]], filename: str) -> Response:
    return StreamingResponse(_csv(rows), media_type="text/csv; charset=utf-8",
                             headers={**HEADERS,
                                      "Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/audit.csv")
def audit_csv(request: Request, event: str = "", account: str = "", device: str = "",
              since: str = "") -> Response:
    admin = common.admin_of(request)
    if admin is None:
        return common.sign_in_first(request)
    c = common.ctx(request)
    try:
        filters = _filters(c, event, account, device, since)
    except errors.InvalidRequest as exc:
        return common.message(400, _(words.TITLES["audit"]), said(exc), admin)

    def rows() -> Iterator[list[object]]:
        """Every matching event, newest first, a page per transaction."""
        yield list(COLUMNS)
        cursor = None
        while True:
            with c.transaction() as session:
                found = audit.events_json(session, **filters.query(), limit=EXPORT_PAGE,
                                          cursor=cursor)
            for event in _with_emails(c, found["events"]):
                yield [event[column] for column in COLUMNS]
            cursor = found["next"]
            if cursor is None:
                return

    return _download(rows(), f"audit-{usage.day_name(c.now())}.csv")


@router.get("/licenses/{license_id}/usage.csv")
def usage_csv(request: Request, license_id: str, days: str = "") -> Response:
    admin = common.admin_of(request)
    if admin is None:
        return common.sign_in_first(request)
    c = common.ctx(request)
    now = c.now()
    since = usage.day_name(usage.day_start(now) - (period(days) - 1) * usage.DAY_S)
    try:
        with c.transaction() as session:
            figures = usage.license_usage(session, license_id, since, None, now)
    except errors.NotFound as exc:
        return common.not_found(admin, said(exc))
    rows = iter([["day", "seats_used", "peak", "seats_total", "partial"]]
                + [[d["day"], d["seats_used"], d["peak"], d["seats_total"],
                    "yes" if d["partial"] else "no"] for d in figures["days"]])
    return _download(rows, f"usage-{license_id}-{figures['since']}-{figures['until']}.csv")
