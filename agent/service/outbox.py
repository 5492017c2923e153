"""The durable outbox: releases and logouts that wait, across crashes, for the server.

SQLite in WAL mode with `synchronous=FULL`, in a file only its owner can read
(it keeps release and device tokens, never a password). Several processes
(the daemon and the CLI) may use it at once: every write is one
`BEGIN IMMEDIATE` transaction under a busy timeout. An item is deleted only
once the server has confirmed it; `deliver()` sends what waits, in order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from seatkeeper.core.errors import (
    LeaseExpired,
    LeaseRevoked,
    NetworkError,
    NotFound,
    RateLimited,
    Refusal,
    StorageError,
    Unauthenticated,
    Unavailable,
)
from seatkeeper.core.state import PendingItem
from seatkeeper.service.private import open_private, private_dir

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 10.0
RELEASE_REASONS = ("user", "shutdown", "logout")

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL CHECK (kind IN ('release', 'logout')),
    dedupe_key      TEXT NOT NULL UNIQUE,
    lease_id        TEXT,
    release_token   TEXT,
    device_token    TEXT,
    reason          TEXT NOT NULL,
    server_url      TEXT,
    release_done    INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_attempt_at INTEGER
)
"""


@dataclass(frozen=True, kw_only=True)
class Item:
    """One queued release or logout; its tokens never appear in repr or logs."""

    id: int
    kind: str
    lease_id: str | None
    release_token: str | None
    device_token: str | None
    reason: str
    release_done: bool
    created_at: dt.datetime
    server_url: str | None = None
    attempts: int
    last_error: str | None

    def __repr__(self) -> str:
        def hidden(token: str | None) -> str:
            return "None" if token is None else "'<hidden>'"

        return (f"Item(id={self.id}, kind={self.kind!r}, lease_id={self.lease_id!r}, "
                f"reason={self.reason!r}, release_done={self.release_done}, "
                f"attempts={self.attempts}, release_token={hidden(self.release_token)}, "
                f"device_token={hidden(self.device_token)})")

    __str__ = __repr__

    @property
    def needs_release(self) -> bool:
        """Whether this item still has a lease to give back."""
        return self.lease_id is not None and not self.release_done

    def summary(self) -> PendingItem:
        """The item as front ends show it."""
        return PendingItem(kind=self.kind, created_at=self.created_at,
                           attempts=self.attempts, last_error=self.last_error)


def _token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _private_file(path: Path) -> None:
    """Create the folder (0700) and the file (0600) before SQLite opens it; no symlink."""
    private_dir(path.parent)
    os.close(open_private(path, os.O_RDWR))


class Outbox:
    """Queued releases and logouts in one SQLite file; safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        _private_file(self.path)
        try:
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S,
                                       isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            with self._write() as db:
                db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"The outbox {self.path} cannot be opened: {exc}.") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: the write lock is taken up front, so no upgrade deadlock."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(f"The outbox {self.path} cannot be written: {exc}.") from None

    def enqueue_logout(self, device_token: str, *, lease_id: str | None = None,
                       release_token: str | None = None, server_url: str | None = None) -> int:
        """Queue a logout (release the lease it holds, then revoke the token); returns its id.

        The same device token queued twice is one item. A queued release of the
        same lease is folded into the logout, whose first step releases it.
        """
        with self._write() as db:
            db.execute(
                "INSERT INTO items (kind, dedupe_key, lease_id, release_token, device_token,"
                " reason, created_at, server_url) VALUES ('logout', ?, ?, ?, ?, 'logout', ?, ?)"
                " ON CONFLICT (dedupe_key) DO UPDATE SET"
                " lease_id = COALESCE(items.lease_id, excluded.lease_id),"
                " release_token = COALESCE(items.release_token, excluded.release_token)",
                ("logout:" + _token_key(device_token), lease_id, release_token, device_token,
                 int(time.time()), server_url))
            if lease_id is not None:
                db.execute("DELETE FROM items WHERE kind = 'release' AND lease_id = ?",
                           (lease_id,))
            row = db.execute("SELECT id FROM items WHERE dedupe_key = ?",
                             ("logout:" + _token_key(device_token),)).fetchone()
        return int(row[0])

    def enqueue_release(self, lease_id: str, *, reason: str = "user",
                        release_token: str | None = None,
                        device_token: str | None = None, server_url: str | None = None) -> int:
        """Queue giving one lease back, by release token or device token; returns its id.

        A lease already queued (on its own or inside a logout) is not queued again.
        """
        if reason not in RELEASE_REASONS:
            raise ValueError(f"reason must be one of {RELEASE_REASONS}")
        if release_token is None and device_token is None:
            raise ValueError("a release needs the release token or the device token")
        with self._write() as db:
            inside = db.execute("SELECT id FROM items WHERE kind = 'logout' AND lease_id = ?",
                                (lease_id,)).fetchone()
            if inside is not None:
                return int(inside[0])
            db.execute(
                "INSERT INTO items (kind, dedupe_key, lease_id, release_token, device_token,"
                " reason, created_at, server_url) VALUES ('release', ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (dedupe_key) DO NOTHING",
                ("release:" + lease_id, lease_id, release_token, device_token, reason,
                 int(time.time()), server_url))
            row = db.execute("SELECT id FROM items WHERE dedupe_key = ?",
                             ("release:" + lease_id,)).fetchone()
        return int(row[0])

    def pending(self) -> list[Item]:
        """Every queued item, oldest first."""
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT id, kind, lease_id, release_token, device_token, reason,"
                    " release_done, created_at, attempts, last_error, server_url"
                    " FROM items ORDER BY id"
                ).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"The outbox {self.path} cannot be read: {exc}.") from None
        return [_item(row) for row in rows]

    def get(self, item_id: int) -> Item | None:
        """One item by id, or None once it is done."""
        return next((item for item in self.pending() if item.id == item_id), None)

    def has_logout(self) -> bool:
        """Whether a logout waits for the server (the state is then `logout_pending`)."""
        return any(item.kind == "logout" for item in self.pending())

    def mark_release_done(self, item_id: int) -> None:
        """Record, durably, that a logout's release step was confirmed by the server."""
        with self._write() as db:
            db.execute("UPDATE items SET release_done = 1 WHERE id = ?", (item_id,))

    def mark_done(self, item_id: int) -> None:
        """Delete an item the server has confirmed; unknown ids are ignored (idempotent)."""
        with self._write() as db:
            db.execute("DELETE FROM items WHERE id = ?", (item_id,))

    def record_attempt(self, item_id: int, error: str) -> None:
        """Count a failed delivery attempt and keep its message (never a token)."""
        with self._write() as db:
            db.execute("UPDATE items SET attempts = attempts + 1, last_error = ?,"
                       " last_attempt_at = ? WHERE id = ?",
                       (error[:500], int(time.time()), item_id))


def _item(row: tuple[Any, ...]) -> Item:
    (item_id, kind, lease_id, release_token, device_token, reason, release_done, created_at,
     attempts, last_error, server_url) = row
    return Item(id=int(item_id), kind=str(kind), lease_id=lease_id, release_token=release_token,
                device_token=device_token, reason=str(reason), release_done=bool(release_done),
                created_at=dt.datetime.fromtimestamp(int(created_at), dt.UTC),
                attempts=int(attempts), last_error=last_error, server_url=server_url)


class DeliveryClient(Protocol):
    """The two calls `deliver` needs; `seatkeeper.service.client.Client` provides them."""

    def release(self, lease_id: str, *, reason: str = "user", release_token: str | None = None,
                token: str | None = None) -> None: ...

    def logout(self, *, token: str | None = None) -> None: ...


# The lease is already gone (released, expired, revoked with its token): the step is done.
ALREADY_RELEASED = (LeaseExpired, LeaseRevoked, NotFound, Unauthenticated)
# "Not now": keep the item and try again later, like a network failure.
TRY_LATER = (NetworkError, Unavailable, RateLimited)


def _release_step(item: Item, client: DeliveryClient) -> None:
    assert item.lease_id is not None
    with suppress(*ALREADY_RELEASED):
        client.release(item.lease_id, reason=item.reason, release_token=item.release_token,
                       token=None if item.release_token else item.device_token)


def _logout_step(item: Item, client: DeliveryClient) -> None:
    with suppress(Unauthenticated):  # the token is already revoked: logged out in effect
        client.logout(token=item.device_token)


def deliver(outbox: Outbox, client: DeliveryClient, server_url: str | None = None, *,
            told_to_wait: Callable[[float | None], None] | None = None) -> int:
    """Send every queued item in order; returns how many are finished (removed).

    A logout first releases its lease (then records that step durably, so a
    crash never repeats it in effect), then revokes its token. The first
    network failure stops the round and leaves the item, with the attempt
    recorded; the caller retries with backoff. A refusal that no retry can
    change (a 400 or 403) removes the item with a warning, so a logout can
    never stay pending forever. Two processes delivering the same item at once
    is harmless: release and logout are idempotent on the server. With
    `server_url`, only items queued for that server (or for none) are sent. A busy
    server's Retry-After (429, 503) goes to `told_to_wait`.
    """
    finished = 0
    for item in outbox.pending():
        if server_url is not None and item.server_url not in (None, server_url):
            continue  # queued for another server; delivered by a client for that one
        try:
            if item.needs_release:
                _release_step(item, client)
                if item.kind == "logout":
                    outbox.mark_release_done(item.id)
            if item.kind == "logout":
                _logout_step(item, client)
        except TRY_LATER as exc:
            if told_to_wait is not None:
                told_to_wait(getattr(exc, "retry_after", None))
            outbox.record_attempt(item.id, str(exc))
            log.info("outbox: %s %d waits: %s", item.kind, item.id, exc)
            break
        except Refusal as exc:
            log.warning("outbox: the server refused %s %d for good (%s): %s; dropping it",
                        item.kind, item.id, exc.code, exc)
        outbox.mark_done(item.id)
        finished += 1
        log.info("outbox: %s %d delivered", item.kind, item.id)
    return finished
