"""The background sweep: reclaims of silent leases, in batches until caught up, and pruning.

Seat counts never wait for it (a silent lease stops counting the moment it expires); it
records the reclaims in the audit trail and the metrics, deletes closed leases past their
retention, and prunes the rate-limit tables. One sweep per server: with `--workers` the
supervising process runs it, not every worker; replicas on one database share the work
(SKIP LOCKED), so running it on each is safe.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from seatkeeper_server.context import Context
from seatkeeper_server.services import limits, seats

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
    pruned = 0
    cutoff = context.now() - context.closed_lease_retention_s
    while time.monotonic() - started <= budget_s:
        with context.transaction() as session:
            count = seats.prune_closed(session, cutoff, limit=PRUNE_BATCH)
        pruned += count
        if count < PRUNE_BATCH:
            break
    with context.transaction() as session:
        limits.prune(session, context.now(), context.grant.expires_in_s)
    return Round(reclaimed, pruned, time.monotonic() - started)


def run(context: Context, stop: threading.Event, period: float) -> None:
    """Sweep every `period` seconds until `stop` is set; a failed round is logged, not fatal."""
    while not stop.wait(period):
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
