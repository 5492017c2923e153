"""The process's Prometheus metrics: what the server counts, served by observability."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# This process's metrics; served only on --metrics-listen, a port of their own.
REGISTRY = CollectorRegistry()
REQUESTS = Counter("seatkeeper_http_requests", "HTTP requests answered, by route and status",
                   ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram("seatkeeper_http_request_duration_seconds",
                    "Time from request to the end of the answer, by route",
                    ["method", "route"], registry=REGISTRY,
                    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
RATE_LIMITED = Counter("seatkeeper_rate_limit_refusals",
                       "Requests refused with 429 (rate limits), by route", ["route"],
                       registry=REGISTRY)
RECLAIMS = Counter("seatkeeper_sweep_reclaims",
                   "Leases reclaimed because their heartbeats stopped (by the sweep, or found "
                   "expired by a release)", registry=REGISTRY)
HEARTBEAT_BATCH = Histogram("seatkeeper_heartbeat_batch_size",
                            "Heartbeats renewed together in one transaction (the heartbeat "
                            "door's group commit)", registry=REGISTRY,
                            buckets=(1, 2, 4, 8, 16, 32, 64))
