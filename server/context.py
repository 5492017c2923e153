"""What every request handler needs: the database, the signer, the lease terms, the clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from threading import Lock

from seatkeeper_server import shedding
from seatkeeper_server.services.device_grant import GrantTerms
from seatkeeper_server.services.seats import LeaseTerms
from seatkeeper_server.signing import Signer
from seatkeeper_server.timeutil import Clock
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

LockType = type(Lock())


@dataclass(frozen=True)
class Context:
    sessions: sessionmaker[Session]
    signer: Signer
    terms: LeaseTerms
    clock: Clock
    # Held around every transaction. SQLite has one writer at a time and every transaction
    # here takes its write lock (BEGIN IMMEDIATE): waiting on a lock in this process hands
    # over as soon as it is free, where SQLite's busy handler polls with sleeps of up to
    # 100 ms (seconds of tail latency under load). PostgreSQL needs none.
    serialize: AbstractContextManager[object] = field(default_factory=nullcontext)
    grant: GrantTerms = field(default_factory=GrantTerms)
    # --public-url: the address browsers reach the server at, for links it writes; None: the
    # request's own (right unless a reverse proxy is in front).
    public_url: str | None = None
    # Audit events older than this many days are pruned once counted into usage; 0: never.
    audit_retention_days: int = 400
    # Closed leases are deleted this long after they closed (the audit trail keeps them).
    closed_lease_retention_s: int = 90 * 86400
    # Whether this process runs the reclaim sweep (not a --workers worker: the supervisor does).
    sweep: bool = True
    # Load shedding (shedding.py): requests in flight per process, and the longest a request
    # waits for the database before it is answered 503 (0: no limit).
    max_in_flight: int = 256
    max_queue_wait_s: float = 0.0

    @property
    def engine(self) -> Engine:
        engine: Engine = self.sessions.kw["bind"]
        return engine

    def now(self) -> int:
        """Whole seconds, as the protocol counts them."""
        return int(self.clock())

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed if the block returns, rolled back if it raises."""
        with self._turn(), self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def connection(self, *, one_statement: bool = False) -> Iterator[Connection]:
        """A unit of work without the ORM (the hot paths): a Core connection in a transaction.

        `one_statement`: the block issues a single statement on PostgreSQL, atomic on its
        own, so it runs in autocommit mode: no BEGIN and COMMIT round trips.
        """
        engine = self.engine
        if one_statement and engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                yield conn
            return
        with self._turn(), engine.begin() as conn:
            yield conn

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """This request's turn at the database: 503 once it has waited past its deadline."""
        left = shedding.check_deadline()
        lock = self.serialize
        if not isinstance(lock, LockType):
            with lock:
                shedding.begun()
                yield
            return
        if not lock.acquire(timeout=-1 if left is None else left):
            raise shedding.unavailable("requests are waiting too long for the database")
        try:
            shedding.begun()
            yield
        finally:
            lock.release()
