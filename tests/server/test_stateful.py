"""Seat rules as a state machine: random sequences of acquire, heartbeat, release, expiry,
logout and remote deactivation, each answer checked against a small model of PROTOCOL.md.

The real app runs in-process on a real database (a SQLite file or a fresh PostgreSQL
database) with a fake clock, so expiry is a step, not a wait.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from seatkeeper_server import security
from seatkeeper_server.app import create_app
from seatkeeper_server.context import Context
from seatkeeper_server.db import make_engine, migrate, session_factory
from seatkeeper_server.services import auth, seats
from seatkeeper_server.services.seats import LeaseTerms
from seatkeeper_server.signing import Signer
from sqlalchemy import Engine

from tests.support.api import DEFAULT_APP
from tests.support.pg import fresh_postgres_database

TTL_S, HEARTBEAT_S = 60, 20
DEVICES = 3
ADMIN_TOKEN = "ska_" + secrets.token_urlsafe(16)
REVOKING = ("remote_deactivation", "admin")
# Steps of time that sit on both sides of a lease's end (live means expires_at > now).
STEPS_S = (1, HEARTBEAT_S, TTL_S - 1, TTL_S, TTL_S + 1)

SETTINGS = settings(max_examples=30, stateful_step_count=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

devices = st.integers(0, DEVICES - 1)
picks = st.integers(0, 63)  # an index into the leases issued so far, modulo their number


@dataclass
class FakeClock:
    """The server's clock: whole seconds that only the test moves forward."""

    now: int = 1_900_000_000

    def __call__(self) -> float:
        return float(self.now)


@dataclass
class LeaseModel:
    id: str
    license: int
    device: int
    expires_at: int
    release_token: str
    ended: str | None = None  # the release reason once it is closed


@dataclass
class TokenModel:
    value: str
    device: int
    revoked: str | None = None


@dataclass
class World:
    """What the model believes about one account."""

    clock: FakeClock
    seats: list[int] = field(default_factory=list)
    license_ids: list[str] = field(default_factory=list)
    device_ids: list[str] = field(default_factory=list)
    tokens: list[TokenModel] = field(default_factory=list)  # each device's newest token
    leases: list[LeaseModel] = field(default_factory=list)
    remote_deactivation: bool = False

    def live(self, lease: LeaseModel) -> bool:
        return lease.ended is None and lease.expires_at > self.clock.now

    def live_on(self, license: int) -> list[LeaseModel]:
        return [x for x in self.leases if x.license == license and self.live(x)]

    def end(self, lease: LeaseModel, reason: str) -> None:
        """Close a lease as the server does: one already past its time closes as expired."""
        if lease.ended is None:
            lease.ended = "expired" if lease.expires_at <= self.clock.now else reason


def check(response: httpx.Response, status: int, code: str | None = None) -> Any:
    """Assert the status (and error code); the parsed body, if any."""
    request = response.request
    assert response.status_code == status, (
        f"{request.method} {request.url.path}: expected {status} {code or ''}, "
        f"got {response.status_code}: {response.text[:500]}")
    body: Any = response.json() if response.content else None
    if code is not None:
        assert body["error"]["code"] == code, body
    return body


class SeatMachine(RuleBasedStateMachine):
    """One account, one or two licenses of one or two seats, three devices."""

    client: TestClient
    context: Context
    clock: FakeClock

    def __init__(self) -> None:
        super().__init__()
        self.world = World(self.clock)

    # -- helpers -----------------------------------------------------------------------------

    def call(self, method: str, path: str, token: str | None = None,
             **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.request(method, path, headers=headers, **kw)

    def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.call(method, path, ADMIN_TOKEN, **kw)

    def login(self, device: int) -> TokenModel:
        """Log the device in; its new token, which the device uses from now on."""
        w = self.world
        body = check(self.call("POST", "/v1/auth/password", json={
            "email": self.email, "password": self.password,
            "device": {"fingerprint": f"machine-{device}", "name": f"station-{device}",
                       "platform": "linux"}}), 200)
        if device < len(w.device_ids):
            assert body["device"]["id"] == w.device_ids[device]
        else:
            w.device_ids.append(body["device"]["id"])
        return TokenModel(body["token"], device)

    def pick(self, n: int) -> LeaseModel:
        return self.world.leases[n % len(self.world.leases)]

    def check_lease(self, body: dict[str, Any], lease: LeaseModel, *, new: bool) -> None:
        w = self.world
        got = body["lease"]
        assert got["lease_id"] == lease.id
        assert got["license"]["id"] == w.license_ids[lease.license]
        assert got["license"]["seats_used"] == len(w.live_on(lease.license))
        assert got["device"]["id"] == w.device_ids[lease.device]
        assert ("release_token" in got) is new
        assert got["ttl_s"] == TTL_S and got["heartbeat_interval_s"] == HEARTBEAT_S

    # -- set-up ------------------------------------------------------------------------------

    @initialize(seats=st.lists(st.integers(1, 2), min_size=1, max_size=2),
                remote_deactivation=st.booleans())
    def setup(self, seats: list[int], remote_deactivation: bool) -> None:
        w = self.world
        self.email = f"s-{secrets.token_hex(6)}@example.test"
        self.password = secrets.token_urlsafe(12)
        account = check(self.admin("POST", "/v1/admin/accounts",
                                   json={"email": self.email, "password": self.password}), 201)
        for n in seats:
            lic = check(self.admin("POST", "/v1/admin/licenses", json={
                "account_id": account["id"], "name": f"Mapper {n}", "kind": "subscription",
                "seats": n}), 201)
            w.seats.append(n)
            w.license_ids.append(lic["id"])
        w.tokens = [self.login(d) for d in range(DEVICES)]
        if remote_deactivation:  # no seat is held yet, so switching it on succeeds
            check(self.call("PUT", "/v1/account/remote-deactivation", w.tokens[0].value,
                            json={"enabled": True}), 200)
            w.remote_deactivation = True

    # -- rules -------------------------------------------------------------------------------

    @rule(device=devices, which=st.none() | st.integers(0, 1))
    def acquire(self, device: int, which: int | None) -> None:
        w = self.world
        token = w.tokens[device]
        body: dict[str, Any] = {"app": DEFAULT_APP}
        candidates = list(range(len(w.seats)))
        if which is not None:
            candidates = [which % len(w.seats)]
            body["license_id"] = w.license_ids[candidates[0]]
        response = self.call("POST", "/v1/seats", token.value, json=body)
        if token.revoked:
            check(response, 401, "UNAUTHENTICATED")
            return
        for lic in candidates:
            held = [x for x in w.live_on(lic) if x.device == device]
            if held:
                held[0].expires_at = self.clock.now + TTL_S
                self.check_lease(check(response, 200), held[0], new=False)
                return
        for lic in candidates:
            if len(w.live_on(lic)) < w.seats[lic]:
                got = check(response, 201)["lease"]
                lease = LeaseModel(got["lease_id"], lic, device, self.clock.now + TTL_S,
                                   got["release_token"])
                assert lease.id not in {x.id for x in w.leases}
                w.leases.append(lease)
                self.check_lease({"lease": got}, lease, new=True)
                return
        details = check(response, 409, "SEAT_LIMIT_REACHED")["error"]["details"]
        assert details["seats_total"] == w.seats[candidates[0]]
        holders = {w.device_ids[x.device] for x in w.live_on(candidates[0])}
        assert {d["id"] for d in details["devices"]} == holders

    @precondition(lambda self: self.world.leases)
    @rule(pick=picks, stranger=st.none() | devices)
    def heartbeat(self, pick: int, stranger: int | None) -> None:
        """A heartbeat from the lease's own device (or, if given, from another)."""
        w = self.world
        lease = self.pick(pick)
        device = lease.device if stranger is None else stranger
        token = w.tokens[device]
        response = self.call("POST", f"/v1/seats/{lease.id}/heartbeat", token.value)
        own = lease.device == device
        if token.revoked:
            if own and lease.ended in REVOKING:
                details = check(response, 410, "LEASE_REVOKED")["error"]["details"]
                assert details["reason"] == lease.ended
            else:
                check(response, 401, "UNAUTHENTICATED")
        elif not own:
            check(response, 403, "FORBIDDEN")
        elif lease.ended in REVOKING:
            details = check(response, 410, "LEASE_REVOKED")["error"]["details"]
            assert details["reason"] == lease.ended
        elif not w.live(lease):
            check(response, 410, "LEASE_EXPIRED")
        else:
            lease.expires_at = self.clock.now + TTL_S
            self.check_lease(check(response, 200), lease, new=False)

    @precondition(lambda self: self.world.leases)
    @rule(pick=picks, stranger=st.none() | devices,
          reason=st.sampled_from([None, "user", "shutdown", "logout"]))
    def release(self, pick: int, stranger: int | None, reason: str | None) -> None:
        """A release from the lease's own device (or, if given, from another)."""
        w = self.world
        lease = self.pick(pick)
        device = lease.device if stranger is None else stranger
        token = w.tokens[device]
        params = {} if reason is None else {"reason": reason}
        response = self.call("DELETE", f"/v1/seats/{lease.id}", token.value, params=params)
        if token.revoked:
            check(response, 401, "UNAUTHENTICATED")
        elif lease.device != device:
            check(response, 403, "FORBIDDEN")
        else:
            check(response, 204)
            w.end(lease, reason or "user")

    @precondition(lambda self: self.world.leases)
    @rule(pick=picks, other=picks)
    def release_with_release_token(self, pick: int, other: int) -> None:
        """Anyone holding a lease's release token can release it; no other lease's token can."""
        lease, token_of = self.pick(pick), self.pick(other)
        response = self.call("DELETE", f"/v1/seats/{lease.id}",
                             headers={"Seat-Release-Token": token_of.release_token})
        if token_of is lease:
            check(response, 204)
            self.world.end(lease, "user")
        else:
            check(response, 401, "UNAUTHENTICATED")

    @precondition(lambda self: self.world.leases)
    @rule(pick=picks)
    def admin_release(self, pick: int) -> None:
        lease = self.pick(pick)
        check(self.admin("DELETE", f"/v1/admin/leases/{lease.id}"), 204)
        self.world.end(lease, "admin")

    @rule(seconds=st.sampled_from(STEPS_S))
    def time_passes(self, seconds: int) -> None:
        self.clock.now += seconds

    @rule()
    def sweep(self) -> None:
        """The periodic reclaim changes no answer: a silent lease was already not live."""
        with self.context.transaction() as session:
            seats.sweep(session, self.context.now())
        for lease in self.world.leases:
            if lease.ended is None and lease.expires_at <= self.clock.now:
                lease.ended = "expired"

    @rule(device=devices, enabled=st.booleans())
    def switch_remote_deactivation(self, device: int, enabled: bool) -> None:
        w = self.world
        token = w.tokens[device]
        response = self.call("PUT", "/v1/account/remote-deactivation", token.value,
                             json={"enabled": enabled})
        if token.revoked:
            check(response, 401, "UNAUTHENTICATED")
        elif enabled and not w.remote_deactivation and any(w.live(x) for x in w.leases):
            check(response, 409, "ACTIVE_DEVICE_EXISTS")
        else:
            assert check(response, 200) == {"enabled": enabled}
            w.remote_deactivation = enabled

    @rule(device=devices, victim=devices)
    def deactivate(self, device: int, victim: int) -> None:
        w = self.world
        token = w.tokens[device]
        response = self.call("POST", f"/v1/devices/{w.device_ids[victim]}/deactivate",
                             token.value)
        if token.revoked:
            check(response, 401, "UNAUTHENTICATED")
        elif not w.remote_deactivation:
            check(response, 403, "REMOTE_DEACTIVATION_DISABLED")
        elif victim == device:
            check(response, 400, "INVALID_REQUEST")
        else:
            body = check(response, 200)
            assert body["id"] == w.device_ids[victim] and body["seat"] is None
            for lease in w.leases:
                if lease.device == victim:
                    w.end(lease, "remote_deactivation")
            if w.tokens[victim].revoked is None:
                w.tokens[victim].revoked = "remote_deactivation"

    @rule(device=devices)
    def logout(self, device: int) -> None:
        w = self.world
        token = w.tokens[device]
        check(self.call("POST", "/v1/auth/logout", token.value), 204)
        if token.revoked is None:
            token.revoked = "logout"
            for lease in w.leases:
                if lease.device == device:
                    w.end(lease, "logout")

    @rule(device=devices)
    def log_in_again(self, device: int) -> None:
        """A device signed out (or deactivated) logs in again: the same device, a new token.

        Only signed-out devices do, so a device never has two valid tokens.
        """
        if self.world.tokens[device].revoked:
            self.world.tokens[device] = self.login(device)

    @rule()
    def list_devices(self) -> None:
        """The device list shows the signed-in devices, each with its live seat or none."""
        w = self.world
        valid = [t for t in w.tokens if t.revoked is None]
        if not valid:
            return
        listed = check(self.call("GET", "/v1/devices", valid[0].value), 200)["devices"]
        assert {d["id"] for d in listed} == {w.device_ids[t.device] for t in valid}
        for d in listed:
            device = w.device_ids.index(d["id"])
            held = {x.id for x in w.leases if x.device == device and w.live(x)}
            seat = d["seat"]["lease_id"] if d["seat"] else None
            assert seat in held if held else seat is None, (d, held)
            assert d["current"] is (device == valid[0].device)

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def live_leases_match_the_model_and_never_exceed_seats(self) -> None:
        w = self.world
        for lic, license_id in enumerate(w.license_ids):
            body = check(self.admin("GET", f"/v1/admin/licenses/{license_id}"), 200)
            live = {x.id for x in w.live_on(lic)}
            assert {x["lease_id"] for x in body["leases"]} == live
            assert body["seats_used"] == len(live) <= w.seats[lic] == body["seats_total"]

@pytest.fixture
def engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database of this backend, for this test alone."""
    database: AbstractContextManager[str] = (
        nullcontext(f"sqlite:///{tmp_path / 'stateful.db'}") if backend == "sqlite"
        else fresh_postgres_database())
    with database as url:
        engine = make_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def quick_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: this test is about seats, and logs in hundreds of times."""
    monkeypatch.setattr(security, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=256, parallelism=1))


def test_seat_rules_hold_for_any_sequence_of_steps(engine: Engine, quick_passwords: None) -> None:
    """Any sequence of seat, session and time steps gets the answers the model predicts."""
    clock = FakeClock()
    context = Context(session_factory(engine), Signer(Ed25519PrivateKey.generate()),
                      LeaseTerms(TTL_S, HEARTBEAT_S), clock=clock)
    with context.transaction() as session:
        auth.set_admin_token(session, ADMIN_TOKEN)
    # Not entered as a context manager: no lifespan, so no sweep thread racing the steps.
    client = TestClient(create_app(context))

    class Machine(SeatMachine):
        pass

    Machine.client, Machine.context, Machine.clock = client, context, clock
    try:
        run_state_machine_as_test(Machine, settings=SETTINGS)
    finally:
        client.close()
