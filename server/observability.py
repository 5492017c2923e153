"""Readiness, Prometheus metrics on their own port, and the switchable access log."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from fastapi import Request
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from seatkeeper_server import db, errors
from seatkeeper_server.context import Context
from seatkeeper_server.metrics import LATENCY, RATE_LIMITED, REGISTRY, REQUESTS
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access = logging.getLogger("seatkeeper.server.access")
log = logging.getLogger("seatkeeper.server")

UNMATCHED = "(no route)"  # every unknown path shares one label: no unbounded series


def ready(request: Request) -> dict[str, str]:
    """200 when the database answers and its schema is this server's; else 503 UNAVAILABLE."""
    context: Context = request.app.state.ctx
    with context.transaction() as session:
        state = db.schema_state(session.connection())
    if state != "current":
        raise errors.Unavailable(
            f"The database schema is {state}, not this server's (revision "
            f"{db.head_revision()}): run `seatkeeper-server migrate` with the matching "
            "version.", headers={"Retry-After": "30"})
    return {"status": "ready"}


class SeatCollector(Collector):
    """Live leases and seats used per license, counted from the database at each scrape."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def collect(self) -> Iterator[GaugeMetricFamily]:
        live = GaugeMetricFamily("seatkeeper_leases_live", "Leases held right now (not "
                                 "released, not expired)")
        used = GaugeMetricFamily("seatkeeper_license_seats_used", "Seats in use, for each "
                                 "license with at least one", labels=["license"])
        total = GaugeMetricFamily("seatkeeper_license_seats_total", "Seats a license has, for "
                                  "each license with at least one in use", labels=["license"])
        try:
            with self.context.transaction() as session:
                rows = session.execute(text(
                    "SELECT l.id, l.seats_total, count(*) FROM leases s "
                    "JOIN licenses l ON l.id = s.license_id "
                    "WHERE s.released_at IS NULL AND s.expires_at > :now "
                    "GROUP BY l.id, l.seats_total"), {"now": self.context.now()}).all()
        except Exception:  # a scrape must not fail the server; the gap in the series shows it
            log.warning("metrics: cannot count the seats in use", exc_info=True)
            return
        live.add_metric([], sum(row[2] for row in rows))
        for license_id, seats_total, count in rows:
            used.add_metric([license_id], count)
            total.add_metric([license_id], seats_total)
        yield from (live, used, total)


def start_metrics(listen: str, context: Context) -> None:
    """Serve /metrics on HOST:PORT in a background thread (OSError if it cannot listen).

    With --workers, every process writes its counters to files in PROMETHEUS_MULTIPROC_DIR
    and this (the supervisor's) endpoint adds them up: one scrape, the whole server.
    """
    host, _, port = listen.rpartition(":")
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    registry.register(SeatCollector(context))
    start_http_server(int(port), addr=host.strip("[]"), registry=registry)


class Observe:
    """Count, time and (with --access-log) log every request by its route, not its path."""

    def __init__(self, app: ASGIApp, *, metrics: bool, access_log: bool) -> None:
        self.app, self.metrics, self.access_log = app, metrics, access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        # The router put the matched route in the scope; its template (`/v1/seats/{lease_id}`)
        # keeps the label set small.
        route = getattr(scope.get("route"), "path", None) or UNMATCHED
        method = scope.get("method", "")
        if self.metrics:
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            if status == 429:
                RATE_LIMITED.labels(route).inc()
        if self.access_log:
            client: Any = scope.get("client") or ("-", 0)
            # The path without its query: a query may carry a login code.
            access.info("%s %s %s %d %.1f ms", client[0], method, scope.get("path", ""),
                        status, elapsed * 1000,
                        extra={"client": client[0], "method": method, "route": route,
                               "status": status, "duration_ms": round(elapsed * 1000, 1)})
