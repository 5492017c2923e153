"""What no limit or login needs any more is deleted by the server's periodic sweep.

Login failures are kept an hour (the longest limit's window), device-login codes ten
minutes past their expiry (so a late poll still hears `expired_token`), portal sessions
until they expire, user codes that matched nothing for the 5 minutes they count. Old
rows are written straight into the database; the short-lease server sweeps every second.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.server.checks import wait_for
from tests.support.api import Api


@pytest.fixture(scope="module")
def database(db_url: str) -> Iterator[Engine]:
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


def insert(engine: Engine, sql: str, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), values)


def count(engine: Engine, sql: str, **values: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), values).scalar_one())


def test_old_failures_codes_and_sessions_are_pruned_fresh_ones_kept(
        short_api: Api, database: Engine) -> None:
    """An hour-old failure, a long-expired code, an expired session and an old code miss
    go; fresh ones stay."""
    now, tag = int(time.time()), secrets.token_hex(6)
    account = short_api.create_account()
    for at in (now - 3700, now - 60):
        insert(database, "INSERT INTO login_failures (at, email, address) "
               "VALUES (:at, :email, 'unknown')", at=at, email=f"{tag}@example.test")
    for suffix, expires in (("old", now - 1300), ("new", now + 500)):
        insert(database, "INSERT INTO device_codes (hash, user_code, fingerprint, name, "
               "platform, created_at, expires_at, interval_s, status, address) VALUES "
               "(:hash, :code, 'f', 'n', 'linux', :created, :expires, 5, 'pending', 'unknown')",
               hash=f"{tag}{suffix}", code=f"{tag[:6]}{suffix}", created=expires - 600,
               expires=expires)
    for suffix, expires in (("old", now - 5), ("new", now + 3600)):
        insert(database, "INSERT INTO portal_sessions (hash, account_id, csrf, created_at, "
               "expires_at) VALUES (:hash, :account, 'c', :created, :expires)",
               hash=f"{tag}{suffix}", account=account["id"], created=expires - 43200,
               expires=expires)

    for at in (now - 400, now - 30):
        insert(database, "INSERT INTO user_code_misses (at, account_id) VALUES (:at, :a)",
               at=at, a=account["id"])

    def remaining() -> tuple[int, int, int, int]:
        return (count(database, "SELECT count(*) FROM login_failures WHERE email = :e",
                      e=f"{tag}@example.test"),
                count(database, "SELECT count(*) FROM device_codes WHERE hash LIKE :h",
                      h=f"{tag}%"),
                count(database, "SELECT count(*) FROM portal_sessions WHERE hash LIKE :h",
                      h=f"{tag}%"),
                count(database, "SELECT count(*) FROM user_code_misses WHERE account_id = :a",
                      a=account["id"]))

    # The server sweeps every second, so the old rows may be gone already: wait for exactly
    # the fresh ones to be left (a sweep that pruned nothing would leave two of each).
    wait_for(lambda: remaining() == (1, 1, 1, 1), timeout=10)
    with database.connect() as conn:
        kept = conn.execute(text("SELECT hash FROM device_codes WHERE hash LIKE :h"),
                            {"h": f"{tag}%"}).scalars().all()
    assert kept == [f"{tag}new"]
