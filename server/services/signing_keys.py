"""The lease-signing key set in the database: the first key, rotation, retirement.

The keys live in the `signing_keys` table, so every replica on one database reads the
same set and signs with the same key at the same moment (signing.statuses), and a
backup of the database carries the keys that signed its leases. A server never makes a
key of its own while the database has one: only an empty set gets a first key (the key
file given, or a new one). Changes to the set take PostgreSQL's advisory lock (SQLite:
the write lock every transaction takes), so two `keys rotate` or two first starts
cannot both add a key.
"""

from __future__ import annotations

import base64
import itertools
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from seatkeeper_server.models import Lease, SigningKey
from seatkeeper_server.signing import (
    CURRENT,
    DROPPED,
    NEXT,
    RETIRED,
    KeyRecord,
    Signer,
    SigningKeyError,
    endorsement_statement,
    from_pem,
    key_id,
    public_b64,
    read_key_file,
    signing_record,
    statuses,
    to_pem,
)
from seatkeeper_server.timeutil import Clock, to_rfc3339
from sqlalchemy import Engine, delete, func, or_, select, text
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from seatkeeper_server.context import Context

log = logging.getLogger("seatkeeper.server")
_PG_KEYS_LOCK = 0x5EA7_4E75  # any fixed 64-bit number, the key set's own
MAX_GRACE_S = 60


def grace_s(ttl_s: int) -> int:
    """How long after a key became current its predecessor is assumed to sign no more:
    room for replicas' clocks to differ, within one lease TTL."""
    return min(MAX_GRACE_S, ttl_s)


def refresh_every_s(ttl_s: int) -> float:
    """How often a server reads the key set again: well inside the shortest rotation."""
    return max(1.0, min(30.0, ttl_s / 4))


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_KEYS_LOCK})


def _record(row: SigningKey) -> KeyRecord:
    private = None if row.private_key is None else from_pem(
        row.private_key, f"{row.kid} in the database")
    return KeyRecord(kid=row.kid, public_key=row.public_key, current_from=row.current_from,
                     private=private, endorsed_by=row.endorsed_by, endorsement=row.endorsement,
                     listed_until=row.listed_until)


def load(session: Session) -> tuple[KeyRecord, ...]:
    """Every key of the set, dropped ones too, oldest first."""
    rows = session.scalars(select(SigningKey).order_by(SigningKey.current_from)).all()
    return tuple(_record(row) for row in rows)


def _add(session: Session, key: Ed25519PrivateKey, now: int, current_from: int,
         endorser: KeyRecord | None = None) -> KeyRecord:
    public = public_b64(key)
    kid = key_id(public)
    endorsement = None
    if endorser is not None:
        assert endorser.private is not None
        endorsement = base64.b64encode(endorser.private.sign(endorsement_statement(
            kid, public, current_from, endorser.kid))).decode()
    session.add(SigningKey(kid=kid, alg="Ed25519", public_key=public, private_key=to_pem(key),
                           created_at=now, current_from=current_from,
                           endorsed_by=endorser.kid if endorser else None,
                           endorsement=endorsement))
    session.flush()
    return KeyRecord(kid=kid, public_key=public, current_from=current_from, private=key,
                     endorsed_by=endorser.kid if endorser else None, endorsement=endorsement)


def open_signer(sessions: sessionmaker[Session], path: Path, clock: Clock, ttl_s: int, *,
                announce: bool = True) -> Signer:
    """The signer of this database's key set; a first key only for a set that is empty.

    `path` (--signing-key, or signing-key.pem in the data directory) is imported as the
    first key when it exists and the set is empty (a server of an earlier version signed
    with it). Once the set has keys, a key file that is not one of them stops the start:
    this server would otherwise sign with a key no agent trusts. Raises SigningKeyError.
    """
    file_key = read_key_file(path) if path.exists() else None
    engine = sessions.kw["bind"]
    with sessions.begin() as session:
        _lock(session)
        records = load(session)
        now = int(clock())
        if not records:
            records = (_add(session, file_key or Ed25519PrivateKey.generate(), now, now),)
            how = f"imported from {path}" if file_key else "made"
            if announce:
                print(f"Signing key {records[0].kid} {how}: the database holds the signing "
                      "keys from now on (back it up; docs/operations.md).", flush=True)
        elif file_key is not None and key_id(public_b64(file_key)) not in {
                r.kid for r in records}:
            raise SigningKeyError(
                f"the signing key {path} (key {key_id(public_b64(file_key))}) is not one of "
                f"this database's signing keys ({', '.join(r.kid for r in records)}): every "
                "server on one database signs with the database's keys. Remove --signing-key, "
                "or move the file away, and start again.")
    owner_only(engine)
    signing_record(records, clock())  # a set left without any private key stops the start
    return Signer(records=records, clock=clock, refresh_every_s=refresh_every_s(ttl_s))


def keep_fresh(context: Context) -> None:
    """Have the context's signer read the key set again now and then, tending it."""
    signer = context.signer
    if isinstance(signer, Signer):
        signer.refresh_with(lambda: refreshed(context))


def refreshed(context: Context) -> tuple[KeyRecord, ...]:
    with context.transaction() as session:
        tend(session, context.now(), grace_s(context.terms.ttl_s))
        return load(session)


def owner_only(engine: Engine) -> None:
    """A SQLite database holds the private keys: its files are made readable by us alone.

    (SQLite makes its -wal and -shm files with the database file's mode.)
    """
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return
    for suffix in ("", "-wal", "-shm"):
        path = Path(engine.url.database + suffix)
        try:
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                os.chmod(path, 0o600)
                log.info("made %s owner-only: it holds the signing keys", path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot make %s owner-only (%s): it holds the signing keys",
                        path, exc.strerror or exc)


def tend(session: Session, now: int, grace: int) -> list[str]:
    """Retire what a newer key has replaced: once the newer key has been current for
    `grace`, erase the older one's private half and fix how long it stays listed: until
    every lease that ended after the switch (the only ones it may have signed still
    running) has expired. Returns what changed, in words; idempotent."""
    rows = session.scalars(select(SigningKey).order_by(SigningKey.current_from)
                           .with_for_update()).all()
    done: list[str] = []
    for older, newer in itertools.pairwise(rows):
        if newer.current_from + grace > now:
            continue
        if older.private_key is not None:
            older.private_key = None
            done.append(f"key {older.kid} retired: its private half is erased")
        if older.listed_until is None:
            switch = newer.current_from
            last = session.scalar(select(func.max(Lease.expires_at)).where(
                Lease.expires_at > switch,
                or_(Lease.released_at.is_(None), Lease.released_at > switch)))
            older.listed_until = max(switch + grace, last or 0)
            done.append(f"key {older.kid} stays listed until {to_rfc3339(older.listed_until)}")
    for line in done:
        log.info("%s", line)
    return done


def rotate(session: Session, now: int, after_s: int) -> tuple[KeyRecord, KeyRecord]:
    """Publish a new key as next, endorsed by the current one, current `after_s` from now.

    Returns (the new key, the endorsing key). SigningKeyError if a next key waits already.
    """
    _lock(session)
    records = load(session)
    if not records:
        raise SigningKeyError("this database has no signing key yet: start the server once "
                              "(it makes the first key, or imports --signing-key), then rotate")
    state = statuses(records, now)
    waiting = [r for r in records if state[r.kid] == NEXT]
    if waiting:
        raise SigningKeyError(
            f"key {waiting[0].kid} is already next, current from "
            f"{to_rfc3339(waiting[0].current_from)}: wait until then, or withdraw it with "
            "`seatkeeper-server keys cancel`")
    endorser = signing_record(records, now)
    return _add(session, Ed25519PrivateKey.generate(), now, now + after_s, endorser), endorser


def cancel(session: Session, now: int) -> KeyRecord:
    """Withdraw the next key before it becomes current (it has signed nothing)."""
    _lock(session)
    records = load(session)
    state = statuses(records, now)
    waiting = [r for r in records if state[r.kid] == NEXT]
    if not waiting:
        raise SigningKeyError("there is no next key to cancel (`seatkeeper-server keys list`)")
    session.execute(delete(SigningKey).where(SigningKey.kid == waiting[0].kid))
    return waiting[0]


def drop(session: Session, kid: str, now: int) -> KeyRecord:
    """Stop listing a retired key now, before its leases have ended (a stolen key)."""
    _lock(session)
    records = load(session)
    found = next((r for r in records if r.kid == kid), None)
    if found is None:
        raise SigningKeyError(f"there is no key {kid} (`seatkeeper-server keys list`)")
    state = statuses(records, now)[kid]
    if state in (CURRENT, NEXT):
        raise SigningKeyError(
            f"key {kid} is {state}: only a retired key can be dropped. Rotate first "
            "(`seatkeeper-server keys rotate`), or `keys cancel` a next key")
    if state == DROPPED:
        raise SigningKeyError(f"key {kid} is no longer listed already")
    row = session.get(SigningKey, kid, with_for_update=True)
    assert row is not None and state == RETIRED
    row.listed_until, row.private_key = now, None
    return found


def described(records: Sequence[KeyRecord], now: int) -> list[dict[str, object]]:
    """The set as `keys list` shows it: no private key, only whether it is still there."""
    state = statuses(records, now)
    return [{"kid": r.kid, "status": state[r.kid], "current_from": to_rfc3339(r.current_from),
             "endorsed_by": r.endorsed_by, "listed_until": to_rfc3339(r.listed_until),
             "private_key": "in the database" if r.private is not None else "erased"}
            for r in sorted(records, key=lambda r: r.current_from, reverse=True)]
