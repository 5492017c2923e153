"""Server-side set-up and checks for the heartbeat benchmark: key, account, leases, workloads."""

from __future__ import annotations

import datetime as dt
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import make_url

APP = {"name": "PIX4Dmapper", "version": "4.9.0", "release_date": "2025-01-15"}


# -- the server and its data ---------------------------------------------------------------

def make_signing_key(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)


def populate(url: str, admin_token: str, devices: int,
             licenses: int) -> tuple[list[str], list[tuple[str, str]]]:
    """One account with `licenses` licenses of `devices` seats each; `devices` devices, each
    logged in once and holding one lease on every license. Returns the license ids and the
    (lease id, device token) pairs, lease k of device d at index k * devices + d."""
    admin = {"Authorization": f"Bearer {admin_token}"}
    email, password = f"bench-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)
    made = requests.post(f"{url}/v1/admin/accounts", json={"email": email, "password": password},
                         headers=admin, timeout=30)
    made.raise_for_status()
    license_ids = []
    for number in range(licenses):
        lic = requests.post(f"{url}/v1/admin/licenses",
                            json={"account_id": made.json()["id"], "name": f"Bench {number}",
                                  "kind": "subscription", "seats": devices},
                            headers=admin, timeout=30)
        lic.raise_for_status()
        license_ids.append(lic.json()["id"])

    def device(index: int) -> list[tuple[str, str]]:
        with requests.Session() as http:
            login = http.post(f"{url}/v1/auth/password", timeout=120, json={
                "email": email, "password": password,
                "device": {"fingerprint": f"bench-fp-{index:04d}", "name": f"bench-{index:04d}",
                           "platform": "linux"}})
            login.raise_for_status()
            token = login.json()["token"]
            held = []
            for license_id in license_ids:
                seat = http.post(f"{url}/v1/seats", timeout=60,
                                 json={"license_id": license_id, "app": APP},
                                 headers={"Authorization": f"Bearer {token}"})
                if seat.status_code != 201:
                    raise RuntimeError(f"acquire {index}: HTTP {seat.status_code} "
                                       f"{seat.text[:300]}")
                held.append((seat.json()["lease"]["lease_id"], token))
            return held

    # Logins verify argon2 hashes on the server: a few at a time is as fast as it gets.
    with ThreadPoolExecutor(max_workers=4) as pool:
        per_device = list(pool.map(device, range(devices)))
    return license_ids, [per_device[d][k] for k in range(licenses) for d in range(devices)]


def check_after(url: str, admin_token: str, license_ids: list[str], devices: int,
                started: int) -> dict[str, Any]:
    """Every lease still live and renewed during the run; no seat lost or gained."""
    live, used, total, beats = 0, 0, 0, []
    for license_id in license_ids:
        got = requests.get(f"{url}/v1/admin/licenses/{license_id}", timeout=30,
                           headers={"Authorization": f"Bearer {admin_token}"})
        got.raise_for_status()
        body = got.json()
        live += len(body["leases"])
        used += body["seats_used"]
        total += body["seats_total"]
        beats += [lease["last_heartbeat_at"] for lease in body["leases"]]
    return {"licenses": len(license_ids), "seats_total": total, "seats_used": used,
            "live_leases": live, "leases": devices * len(license_ids),
            "oldest_heartbeat_at": min(beats) if beats else None,
            "run_started_at": dt.datetime.fromtimestamp(started, dt.UTC)
            .strftime("%Y-%m-%dT%H:%M:%SZ")}


def workload_clients(workload: str, leases: list[tuple[str, str]],
                     count: int) -> list[list[dict[str, Any]]]:
    """Per client, the requests it sends in turn: health, or heartbeats of its own leases
    (lease j goes to client j mod count, so no two clients share a lease)."""
    if workload == "health":
        return [[{"method": "GET", "path": "/v1/health", "must_contain": '"ok"'}]] * count
    return [[{"method": "POST", "path": f"/v1/seats/{lease_id}/heartbeat",
              "headers": {"Authorization": f"Bearer {token}"}, "must_contain": lease_id}
             for lease_id, token in leases[client::count]]
            for client in range(count)]


class LeaseWrites:
    """PostgreSQL only: rows updated in `leases`, from the statistics views (approximate:
    backends report their counts within about a second)."""

    def __init__(self, db_url: str | None) -> None:
        self.url = None if db_url is None else make_url(db_url).set(
            drivername="postgresql").render_as_string(hide_password=False)

    def read(self) -> int | None:
        if self.url is None:
            return None
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute("SELECT n_tup_upd FROM pg_stat_user_tables "
                               "WHERE relname = 'leases'").fetchone()
        return None if row is None else int(row[0])
