"""The background sweep: reclaims of silent leases, in batches until caught up, the daily
usage count, and pruning.

Seat counts never wait for it (a silent lease stops counting the moment it expires); it
records the reclaims in the audit trail and the metrics, counts the daily usage figures
(services/usage.py, read from the leases), then deletes closed leases past their retention
(never one of a day not yet counted) and audit events past theirs (only once counted), and
prunes the rate-limit tables. One sweep per server: with `--workers` the
supervising process runs it, not every worker; replicas on one database share the work
(SKIP LOCKED), so running it on each is safe.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from seatkeeper_server.context import Context
from seatkeeper_server.services import limits, seats, usage

log = logging.getLogger("seatkeeper.server")
BATCH = 2000  # leases reclaimed per transaction: a few tens of milliseconds of locks
PRUNE_BATCH = 5000


@dataclass(frozen=True)
class Round:
    reclaimed: int
    pruned_leases: int
    seconds: float


def period_s(context: Context) -> float:
    """How often: a quarter of a lease's life, between 1 and 30 seconds."""
    return max(1.0, min(30.0, context.terms.ttl_s / 4))


def sweep_round(context: Context, budget_s: float = 20.0) -> Round:
    """Reclaim every lease expired by now (batch after batch, within `budget_s`), then prune."""
    started = time.monotonic()
    reclaimed = 0
    while True:
        with context.transaction() as session:
            count = seats.sweep(session, context.now(), limit=BATCH)
        reclaimed += count
        if count < BATCH or time.monotonic() - started > budget_s:
            break
    _count_usage(context)
    pruned = 0
    cutoff = context.now() - context.closed_lease_retention_s
    with context.transaction() as session:
        counted = usage.counted_until(session)
    # The usage count reads the leases: one closed on a day not yet counted stays.
    cutoff = min(cutoff, counted if counted is not None else 0)
    while time.monotonic() - started <= budget_s:
        with context.transaction() as session:
            count = seats.prune_closed(session, cutoff, limit=PRUNE_BATCH)
        pruned += count
        if count < PRUNE_BATCH:
            break
    with context.transaction() as session:
        limits.prune(session, context.now(), context.grant.expires_in_s)
    return Round(reclaimed, pruned, time.monotonic() - started)


def _count_usage(context: Context) -> None:
    """The daily usage figures, then the audit events past their retention (in batches)."""
    with context.transaction() as session:
        counted = usage.count(session, context.now())
    if counted.days:
        log.info("counted the usage of %d day(s)", counted.days)
    for _ in range(4):  # a backlog goes at the next sweeps: short transactions
        with context.transaction() as session:
            pruned = usage.prune_audit(session, context.now(), context.audit_retention_days)
        if pruned:
            log.info("pruned %d audit event(s) older than %d days", pruned,
                     context.audit_retention_days)
        if pruned < usage.PRUNE_BATCH:
            break


def run(context: Context, stop: threading.Event, period: float) -> None:
    """Sweep every `period` seconds until `stop` is set (the first round soon after the
    start); a failed round is logged, not fatal."""
    wait = min(1.0, period)
    while not stop.wait(wait):
        wait = period
        try:
            done = sweep_round(context)
        except Exception:
            log.exception("reclaim sweep failed; trying again in %.0f s", period)
            continue
        if done.reclaimed:
            log.info("reclaimed %d lease(s) whose heartbeat stopped (%.1f s)",
                     done.reclaimed, done.seconds)
        if done.pruned_leases:
            log.info("deleted %d lease(s) closed before the retention of %d days",
                     done.pruned_leases, context.closed_lease_retention_s // 86400)


def start(context: Context, every_s: float | None = None) -> tuple[threading.Thread,
                                                                   threading.Event]:
    """The sweep on a daemon thread; set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(context, stop, every_s or period_s(context)),
                              name="reclaim-sweep", daemon=True)
    thread.start()
    return thread, stop
