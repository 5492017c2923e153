"""Secrets at rest: hashes of tokens, argon2 hashes of passwords, never the secrets."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.support.api import Api, expect
from tests.support.procs import ServerProcess


@pytest.fixture(scope="module")
def database(db_url: str) -> Iterator[Engine]:
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


def rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(text(sql), params).mappings()]


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def test_device_tokens_are_stored_as_hashes_only(api: Api, database: Engine) -> None:
    """The tokens table holds the SHA-256 of a device token, and the token nowhere."""
    device = api.new_device()
    stored = rows(database, "SELECT * FROM tokens WHERE device_id = :d", d=device.id)
    assert [row["hash"] for row in stored] == [sha256(device.token)]
    assert device.token not in repr(stored)


def test_release_tokens_are_stored_as_hashes_only(api: Api, database: Engine) -> None:
    """A lease row holds the SHA-256 of its release token, and the token nowhere."""
    device = api.new_device()
    lease = expect(device.acquire(), 201)["lease"]
    (row,) = rows(database, "SELECT * FROM leases WHERE id = :l", l=lease["lease_id"])
    assert row["release_token_hash"] == sha256(lease["release_token"])
    assert lease["release_token"] not in repr(row)


def test_passwords_are_stored_as_argon2_hashes(api: Api, database: Engine) -> None:
    """An account's password is kept as an argon2id hash, never in clear."""
    account = api.create_account()
    (row,) = rows(database, "SELECT password_hash FROM accounts WHERE id = :a",
                  a=account["id"])
    assert row["password_hash"].startswith("$argon2id$")
    assert account["password"] not in row["password_hash"]


def test_admin_token_is_stored_as_a_hash(server: ServerProcess, database: Engine) -> None:
    """The settings table holds the admin token's hash, not the token."""
    stored = repr(rows(database, "SELECT * FROM settings"))
    assert sha256(server.admin_token) in stored and server.admin_token not in stored
