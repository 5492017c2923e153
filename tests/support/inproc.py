"""The server in this process on a real database, with a clock only the test moves.

For what takes days of real time (the daily usage count, audit retention): the app is
served through Starlette's TestClient, not entered as a context manager, so no sweep
thread runs; the test runs the count itself, as the sweep would.

    with station(url) as s:
        s.clock.at("2027-03-01T09:00:00Z")
        device = s.device(account)            # POST /v1/auth/password
        lease = s.acquire(device, license_id)  # POST /v1/seats
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from seatkeeper_server.app import create_app
from seatkeeper_server.context import Context
from seatkeeper_server.db import make_engine, migrate, session_factory
from seatkeeper_server.services import auth
from seatkeeper_server.services.seats import LeaseTerms
from seatkeeper_server.signing import Signer

from tests.support.api import DEFAULT_APP
from tests.support.pg import fresh_postgres_database

ADMIN_TOKEN = secrets.token_urlsafe(32)


def epoch(rfc3339: str) -> int:
    return int(dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp())


@dataclass
class Clock:
    """Whole seconds that only the test moves."""

    now: int = 1_900_000_000

    def __call__(self) -> float:
        return float(self.now)

    def at(self, rfc3339: str) -> None:
        self.now = epoch(rfc3339)


@dataclass
class Station:
    context: Context
    client: TestClient
    clock: Clock
    admin: dict[str, str] = field(default_factory=lambda: {
        "Authorization": f"Bearer {ADMIN_TOKEN}"})

    def check(self, response: httpx.Response, status: int) -> Any:
        assert response.status_code == status, (
            f"{response.request.method} {response.request.url.path}: expected {status}, got "
            f"{response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def account(self, seats: int = 3, **license: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """A new account with a license of `seats`: (account with its password, license)."""
        password = secrets.token_urlsafe(12)
        account = self.check(self.client.post("/v1/admin/accounts", headers=self.admin, json={
            "email": f"u-{secrets.token_hex(5)}@example.test", "password": password}), 201)
        lic = self.license(account["id"], seats, **license)
        return {**account, "password": password}, lic

    def license(self, account_id: str, seats: int = 3, **fields: Any) -> dict[str, Any]:
        body = {"account_id": account_id, "name": "PIX4Dmapper Yearly", "kind": "subscription",
                "seats": seats, **fields}
        made: dict[str, Any] = self.check(
            self.client.post("/v1/admin/licenses", headers=self.admin, json=body), 201)
        return made

    def device(self, account: dict[str, Any], name: str = "laptop") -> dict[str, str]:
        """A device logged in to the account: its `Authorization` header."""
        body = self.check(self.client.post("/v1/auth/password", json={
            "email": account["email"], "password": account["password"],
            "device": {"fingerprint": secrets.token_hex(32), "name": name,
                       "platform": "linux"}}), 200)
        return {"Authorization": f"Bearer {body['token']}"}

    def acquire(self, device: dict[str, str], license_id: str) -> str:
        body = self.check(self.client.post("/v1/seats", headers=device, json={
            "license_id": license_id, "app": DEFAULT_APP}), 201)
        lease_id: str = body["lease"]["lease_id"]
        return lease_id

    def heartbeat(self, device: dict[str, str], lease_id: str) -> None:
        self.check(self.client.post(f"/v1/seats/{lease_id}/heartbeat", headers=device), 200)

    def release(self, device: dict[str, str], lease_id: str) -> None:
        self.check(self.client.delete(f"/v1/seats/{lease_id}", headers=device), 204)


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """A fresh, empty database of this backend, as a URL."""
    made: AbstractContextManager[str] = (
        nullcontext(f"sqlite:///{folder / f'inproc-{secrets.token_hex(4)}.db'}")
        if backend == "sqlite" else fresh_postgres_database())
    with made as url:
        yield url


@contextmanager
def station(url: str, *, ttl_s: int = 3600, heartbeat_s: int = 600,
            retention_days: int = 400) -> Iterator[Station]:
    """The app on the database at `url` (migrated), its clock at 1_900_000_000."""
    engine = make_engine(url)
    migrate(engine)
    clock = Clock()
    context = Context(session_factory(engine), Signer(Ed25519PrivateKey.generate()),
                      LeaseTerms(ttl_s, heartbeat_s), clock=clock,
                      audit_retention_days=retention_days)
    with context.transaction() as session:
        auth.set_admin_token(session, ADMIN_TOKEN)
    client = TestClient(create_app(context))
    try:
        yield Station(context, client, clock)
    finally:
        client.close()
        engine.dispose()
