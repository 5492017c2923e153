"""A simulated fleet written straight into the server's PostgreSQL database, for fleet_sim.py.

Logging 100,000 devices in through the API would take hours of argon2; the rows the API
would have made are copied in instead (COPY): accounts of `per_account` devices, one
license each with a seat per device, a device token each (stored as its SHA-256, as the
server stores them) and a live lease each. The server then sees an ordinary database.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import time
from dataclasses import dataclass

import psycopg
from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class SimDevice:
    index: int
    token: str
    lease_id: str


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _copy(conn: psycopg.Connection, table: str, columns: str, rows: list[tuple]) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        copy.write(buffer.getvalue())


def populate(url: str, devices: int, per_account: int, ttl_s: int) -> list[SimDevice]:
    """`devices` devices holding a lease each, their leases expiring one TTL from now."""
    now = int(time.time())
    accounts, licenses, rows, tokens, leases, fleet = [], [], [], [], [], []
    for index in range(devices):
        account = index // per_account
        if index % per_account == 0:
            accounts.append((f"acc_sim{account:07d}", f"sim{account}@example.test",
                             "$argon2id$not-a-real-hash", "false", now))
            licenses.append((f"lic_sim{account:07d}", f"acc_sim{account:07d}", "Fleet",
                             "subscription", per_account, 0, time.time_ns() + account))
        token = f"skd_{secrets.token_urlsafe(32)}"
        device_id, lease_id = f"dev_sim{index:08d}", f"lea_sim{index:08d}"
        rows.append((device_id, f"acc_sim{account:07d}", f"sim-fp-{index}", f"sim-{index}",
                     "linux", "true", now, now))
        tokens.append((hashlib.sha256(token.encode()).hexdigest(), device_id,
                       f"acc_sim{account:07d}", now))
        leases.append((lease_id, f"lic_sim{account:07d}", device_id, f"acc_sim{account:07d}",
                       now, now + ttl_s, now, secrets.token_hex(32)))
        fleet.append(SimDevice(index, token, lease_id))
    with psycopg.connect(libpq(url)) as conn:
        _copy(conn, "accounts", "id, email, password_hash, remote_deactivation, created_at",
              accounts)
        _copy(conn, "licenses", "id, account_id, name, kind, seats_total, max_borrow_s, "
              "created_ns", licenses)
        _copy(conn, "devices", "id, account_id, fingerprint, name, platform, logged_in, "
              "created_at, last_heartbeat_at", rows)
        _copy(conn, "tokens", "hash, device_id, account_id, created_at", tokens)
        _copy(conn, "leases", "id, license_id, device_id, account_id, issued_at, expires_at, "
              "last_heartbeat_at, release_token_hash", leases)
        conn.execute("ANALYZE")
    return fleet


def fall_silent(url: str, fleet: list[SimDevice], within_s: float) -> int:
    """Back-date these devices' leases as if their last heartbeat was a TTL ago: each
    expires at a moment spread over the next `within_s` seconds. Returns the latest."""
    now = time.time()
    ends = [int(now + 1 + within_s * i / max(1, len(fleet))) for i in range(len(fleet))]
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        cur.executemany("UPDATE leases SET expires_at = %s WHERE id = %s",
                        [(end, d.lease_id) for end, d in zip(ends, fleet, strict=True)])
    return max(ends)


def reclaim_lags(url: str, fleet: list[SimDevice]) -> list[float]:
    """Seconds from each silent lease's expiry to the reclaim the sweep recorded."""
    ids = [d.lease_id for d in fleet]
    with psycopg.connect(libpq(url)) as conn:
        rows = conn.execute(
            "SELECT e.at - l.expires_at FROM audit_events e JOIN leases l ON l.id = e.lease_id "
            "WHERE e.event = 'reclaim' AND e.lease_id = ANY(%s)", (ids,)).fetchall()
    return sorted(float(r[0]) for r in rows)


def reclaimed_count(url: str) -> int:
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute("SELECT count(*) FROM leases WHERE release_reason = 'expired'"
                           ).fetchone()
    return int(row[0]) if row else 0
