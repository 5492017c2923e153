"""What every request handler needs: the database, the signer, the lease terms, the clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field

from seatkeeper_server.services.device_grant import GrantTerms
from seatkeeper_server.services.seats import LeaseTerms
from seatkeeper_server.signing import Signer
from seatkeeper_server.timeutil import Clock
from sqlalchemy.orm import Session, sessionmaker


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

    def now(self) -> int:
        """Whole seconds, as the protocol counts them."""
        return int(self.clock())

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed if the block returns, rolled back if it raises."""
        with self.serialize, self.sessions() as session, session.begin():
            yield session
