"""The sweep at scale: it catches up batch after batch, counts every reclaim (its own and the
ones a late release finds) in the metric, and deletes closed leases past their retention."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from seatkeeper_server import errors, metrics, security, sweeper
from seatkeeper_server.context import Context
from seatkeeper_server.db import make_engine, migrate, session_factory
from seatkeeper_server.models import AuditEvent, Lease
from seatkeeper_server.services import accounts, auth, seats
from seatkeeper_server.services.auth import Caller
from seatkeeper_server.services.seats import AppInfo, LeaseTerms
from seatkeeper_server.signing import Signer
from sqlalchemy import func, select

from tests.server.test_stateful import FakeClock
from tests.support.pg import fresh_postgres_database

TTL_S = 60
APP = AppInfo("PIX4Dmapper", "4.9.0", dt.date(2026, 1, 1))
TOKENS: dict[str, str] = {}  # device id -> its token, as the fixture logged it in


@pytest.fixture
def world(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[tuple[Context, FakeClock, list[Caller], str]]:
    """A server context on a fresh database with a fake clock; 7 devices of one account."""
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=256,
                                                            parallelism=1))
    database: AbstractContextManager[str] = (
        nullcontext(f"sqlite:///{tmp_path / 'sweep.db'}") if backend == "sqlite"
        else fresh_postgres_database())
    with database as url:
        engine = make_engine(url)
        migrate(engine)
        clock = FakeClock()
        context = Context(session_factory(engine), Signer(Ed25519PrivateKey.generate()),
                          LeaseTerms(TTL_S, 20), clock, closed_lease_retention_s=7 * 86400)
        email = f"sweep-{secrets.token_hex(4)}@example.test"
        with context.transaction() as session:
            made = accounts.create_account(session, email, "long-enough", context.now())
            lic = accounts.create_license(session, made["id"], "Fleet", "subscription", 7,
                                          None, None, context.now())
        callers = []
        for n in range(7):
            with context.transaction() as session:
                token = auth.complete_login(session, email, f"fp-{n}", f"pc-{n}", "linux",
                                            context.now())["token"]
                callers.append(auth.device_caller(session, str(token)))
                TOKENS[callers[-1].device_id] = str(token)
        yield context, clock, callers, lic["id"]
        engine.dispose()


def take_seats(context: Context, callers: list[Caller], license_id: str) -> list[str]:
    leases = []
    for caller in callers:
        with context.transaction() as session:
            envelope, _ = seats.acquire(session, caller, license_id, APP, context.now(),
                                        context.terms, context.signer)
        leases.append(envelope["lease"]["lease_id"])
    return leases


def reclaims(context: Context) -> int:
    with context.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.event == "reclaim")) or 0)


def test_one_round_catches_up_past_its_batch(
        world: tuple[Context, FakeClock, list[Caller], str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Seven leases expired at once, batches of three: one round reclaims all seven, one
    event each, and the metric counts seven."""
    context, clock, callers, license_id = world
    take_seats(context, callers, license_id)
    monkeypatch.setattr(sweeper, "BATCH", 3)
    clock.now += TTL_S + 1
    before = metrics.RECLAIMS._value.get()
    assert sweeper.sweep_round(context).reclaimed == 7
    assert reclaims(context) == 7
    assert metrics.RECLAIMS._value.get() - before == 7
    assert sweeper.sweep_round(context).reclaimed == 0


def test_a_release_that_finds_its_lease_expired_counts_as_a_reclaim(
        world: tuple[Context, FakeClock, list[Caller], str]) -> None:
    """The device gives back a seat whose time had run out before the sweep came: the
    lease closes as reclaimed (at its expiry), and the reclaim metric counts it."""
    context, clock, callers, license_id = world
    (lease,) = take_seats(context, callers[:1], license_id)
    clock.now += TTL_S + 5
    before = metrics.RECLAIMS._value.get()
    with context.transaction() as session:
        seats.release_by_device(session, callers[0], lease, "user", context.now())
    assert metrics.RECLAIMS._value.get() - before == 1
    assert reclaims(context) == 1


def test_closed_leases_past_the_retention_are_deleted(
        world: tuple[Context, FakeClock, list[Caller], str]) -> None:
    """A lease released more than the retention ago is deleted by the sweep (a heartbeat on
    it is then 404); one released since stays (410)."""
    context, clock, callers, license_id = world
    (old,) = take_seats(context, callers[:1], license_id)
    with context.transaction() as session:
        seats.release_by_device(session, callers[0], old, "user", context.now())
    clock.now += 8 * 86400
    (recent,) = take_seats(context, callers[1:2], license_id)
    with context.transaction() as session:
        seats.release_by_device(session, callers[1], recent, "user", context.now())
    assert sweeper.sweep_round(context).pruned_leases == 1
    with context.transaction() as session:
        assert {row.id for row in session.scalars(select(Lease))} == {recent}
    for lease, caller, status in ((old, callers[0], 404), (recent, callers[1], 410)):
        with pytest.raises(errors.ApiError) as refused:
            seats.heartbeat(context.connection, TOKENS[caller.device_id], lease,
                            context.now(), context.terms, context.signer)
        assert refused.value.status == status
