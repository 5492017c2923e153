"""Daily usage per license, counted from its leases; the audit trail is pruned only behind it.

A day (UTC) of a license has two figures: `seats_used`, the devices that held one of its
seats at any time that day, and `peak`, the most seats held at one moment. They are
counted from the leases table (each lease is a seat held from `issued_at` until it was
released, or until `expires_at` if it ran out), which records exactly what the audit
trail's acquire, release and reclaim events tell, to the second.

The count runs with the server's sweep. A day is counted for good once it is over, and
`usage_counted_until` (a setting: the first day not yet counted for good) moves past it;
today is counted so far every few minutes. Counting a day again gives the same figures
(a lease's past never changes), so a run that is cut short, or repeated, does no harm;
replicas take turns through an advisory lock (PostgreSQL) or the write lock every
transaction takes (SQLite, BEGIN IMMEDIATE). Audit events are deleted after
`audit_retention_days`, and never before the day they fall in is counted for good.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from seatkeeper_server import errors
from seatkeeper_server.models import Lease, License, Setting, UsageDay
from seatkeeper_server.services import audit
from seatkeeper_server.text import Text
from seatkeeper_server.timeutil import to_rfc3339
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

DAY_S = 86400
COUNTED_KEY = "usage_counted_until"
TODAY_KEY = "usage_today_counted_at"
TODAY_EVERY_S = 300
DAYS_PER_RUN = 31  # a first run over years of history goes on at the next sweeps
PRUNE_BATCH = 5000
MAX_SPAN_DAYS = 731
_PG_LOCK = 0x5EA7_05A6  # any fixed number: the replicas' usage count takes turns on it

# One day's figures for every license with a seat held in [:d0, :d1): each lease as a span
# clipped to the window (at least a second, so a seat taken and given back at once counts),
# then the running count of seats held, an end before a start at the same second.
# {key} is the license id to sort and group by: byte order on PostgreSQL (COLLATE "C";
# its locale's rules would only cost time), SQLite's own order there.
_DAY_SQL = """
WITH spans AS (
  SELECT license_id, device_id,
         CASE WHEN issued_at > :d0 THEN issued_at ELSE :d0 END AS s,
         CASE WHEN e > :d1 THEN :d1 ELSE e END AS e
  FROM (SELECT license_id, device_id, issued_at,
               CASE WHEN COALESCE(released_at, expires_at) > issued_at
                    THEN COALESCE(released_at, expires_at) ELSE issued_at + 1 END AS e
        FROM leases
        WHERE issued_at < :d1 AND (released_at IS NULL OR released_at >= :d0)) AS raw
  WHERE e > :d0
),
edges AS (
  SELECT license_id, s AS t, 1 AS delta FROM spans
  UNION ALL
  SELECT license_id, e AS t, -1 AS delta FROM spans
),
running AS (
  SELECT license_id, SUM(delta) OVER (PARTITION BY {key} ORDER BY t, delta
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS held
  FROM edges
),
peaks AS (SELECT {key} AS license_id, MAX(held) AS peak FROM running GROUP BY 1),
devices AS (SELECT {key} AS license_id, COUNT(DISTINCT device_id) AS used FROM spans
            GROUP BY 1)
SELECT p.license_id, l.account_id, d.used, p.peak, l.seats_total
FROM peaks AS p JOIN devices AS d ON d.license_id = p.license_id
JOIN licenses AS l ON l.id = p.license_id
"""
_DAY = {"postgresql": text(_DAY_SQL.format(key='license_id COLLATE "C"')),
        "sqlite": text(_DAY_SQL.format(key="license_id"))}


@dataclass(frozen=True)
class Counted:
    """What one run of the count did."""

    days: int          # days counted for good
    today: bool        # whether today was counted so far
    busy: bool = False  # another replica was counting


def day_start(epoch: int) -> int:
    return epoch - epoch % DAY_S


def day_name(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).date().isoformat()


def day_epoch(name: str) -> int:
    return int(dt.datetime.combine(dt.date.fromisoformat(name), dt.time(), dt.UTC).timestamp())


def _setting(session: Session, key: str) -> int | None:
    row = session.get(Setting, key)
    return None if row is None else int(row.value)


def _store(session: Session, key: str, value: int) -> None:
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=str(value)))
    else:
        row.value = str(value)


def counted_until(session: Session) -> int | None:
    """The start of the first day not yet counted for good (None before the first count)."""
    return _setting(session, COUNTED_KEY)


def count_day(session: Session, start: int, now: int) -> None:
    end = min(start + DAY_S, now)
    name = day_name(start)
    session.execute(delete(UsageDay).where(UsageDay.day == name))
    if end <= start:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":  # the day's sort in memory, not in temporary files
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    rows = [{"license_id": license_id, "day": name, "account_id": account_id,
             "seats_used": int(used), "peak": int(peak), "seats_total": int(total)}
            for license_id, account_id, used, peak, total in session.execute(
                _DAY[dialect], {"d0": start, "d1": end})]
    if rows:
        session.execute(insert(UsageDay), rows)


def _turn(session: Session) -> bool:
    """Whether this process counts now: one replica at a time (SQLite: already alone)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"),
                               {"key": _PG_LOCK}))


def count(session: Session, now: int, *, today_every_s: int = TODAY_EVERY_S) -> Counted:
    """Count the days that ended since the last run (a month at most), and today so far."""
    if not _turn(session):
        return Counted(0, False, busy=True)
    today = day_start(now)
    done = counted_until(session)
    if done is None:  # the first count: from the first lease this database holds
        first = session.scalar(select(func.min(Lease.issued_at)))
        done = today if first is None else min(today, day_start(int(first)))
    days = 0
    while done < today and days < DAYS_PER_RUN:
        count_day(session, done, now)
        done, days = done + DAY_S, days + 1
    _store(session, COUNTED_KEY, done)
    last = _setting(session, TODAY_KEY)
    counted_today = done == today and (days > 0 or last is None or last < today
                                       or now - last >= today_every_s)
    if counted_today:
        count_day(session, today, now)
        _store(session, TODAY_KEY, now)
    return Counted(days, counted_today)


def prune_audit(session: Session, now: int, retention_days: int,
                batch: int = PRUNE_BATCH) -> int:
    """Delete up to `batch` audit events older than the retention, of days counted for good.

    `retention_days` 0 keeps the trail forever.
    """
    done = counted_until(session)
    if retention_days <= 0 or done is None:
        return 0
    return audit.prune(session, min(now - retention_days * DAY_S, done), batch)


def _parse_day(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        if len(value) != 10:
            raise ValueError
        return day_epoch(value)
    except ValueError:
        raise errors.InvalidRequest(f"The request is not valid: {name} must be a date in the "
                                    "form YYYY-MM-DD.",
                                    {"fields": {name: "must be a date YYYY-MM-DD"}}) from None


def license_usage(session: Session, license_id: str, since: str | None, until: str | None,
                  now: int, *, default_days: int = 30) -> dict[str, Any]:
    """Every counted day of the license from `since` to `until` (dates, inclusive; the last
    30 days by default), days without a seat held as zeros; today flagged `partial`."""
    lic = session.get(License, license_id)
    if lic is None:
        raise errors.NotFound(Text("No license %(id)s.", id=license_id))
    today = day_start(now)
    last = _parse_day(until, "until", today)
    first = _parse_day(since, "since", last - (default_days - 1) * DAY_S)
    if first > last:
        raise errors.InvalidRequest("The request is not valid: since is after until.",
                                    {"fields": {"since": "must be on or before until"}})
    if (last - first) // DAY_S >= MAX_SPAN_DAYS:
        raise errors.InvalidRequest(
            f"The request is not valid: at most {MAX_SPAN_DAYS} days at once.",
            {"fields": {"since": f"must be fewer than {MAX_SPAN_DAYS} days before until"}})
    done = counted_until(session)
    today_at = _setting(session, TODAY_KEY)
    counted_today = done is not None and done >= today and (today_at or 0) >= today
    stored = {row.day: row for row in session.scalars(
        select(UsageDay).where(UsageDay.license_id == license_id,
                               UsageDay.day >= day_name(first), UsageDay.day <= day_name(last)))}
    # Nothing before the license existed (or, should its clock have been behind, was used).
    first_use = session.scalar(select(func.min(UsageDay.day))
                               .where(UsageDay.license_id == license_id))
    created = day_start(lic.created_ns // 1_000_000_000)
    if first_use is not None:
        created = min(created, day_epoch(first_use))
    days = []
    for start in range(max(first, created), last + 1, DAY_S):
        final = done is not None and start < done
        if not (final or (start == today and counted_today)):
            continue
        row = stored.get(day_name(start))
        days.append({"day": day_name(start), "seats_used": row.seats_used if row else 0,
                     "peak": row.peak if row else 0,
                     "seats_total": row.seats_total if row else None,
                     "partial": not final})
    return {"license_id": lic.id, "name": lic.name, "seats_total": lic.seats_total,
            "since": day_name(first), "until": day_name(last),
            "counted_until": None if done is None else day_name(done),
            "today_counted_at": to_rfc3339(today_at) if counted_today else None,
            "days": days}
