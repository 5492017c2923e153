"""What every request handler needs: the database, the signer, the lease terms, the clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from server.services.seats import LeaseTerms
from server.signing import Signer
from server.timeutil import Clock


@dataclass(frozen=True)
class Context:
    sessions: sessionmaker[Session]
    signer: Signer
    terms: LeaseTerms
    clock: Clock

    def now(self) -> int:
        """Whole seconds, as the protocol counts them."""
        return int(self.clock())

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed if the block returns, rolled back if it raises."""
        with self.sessions() as session, session.begin():
            yield session
