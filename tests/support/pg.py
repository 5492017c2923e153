"""Throwaway PostgreSQL databases for tests, on the server in SEATKEEPER_TEST_POSTGRES_URL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

ENV_VAR = "SEATKEEPER_TEST_POSTGRES_URL"
SKIP_REASON = f"{ENV_VAR} is not set: PostgreSQL tests skipped"


def postgres_url() -> str | None:
    """The PostgreSQL URL the tests may use, or None when they must skip."""
    return os.environ.get(ENV_VAR) or None


def _with(url: str, *, drivername: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername=drivername)
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL (postgresql+psycopg://), drop it."""
    url = postgres_url()
    if url is None:
        raise RuntimeError(SKIP_REASON)
    # psycopg wants a libpq URL, whatever driver name the variable carries.
    admin_url = _with(url, drivername="postgresql")
    name = f"seatkeeper_test_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with(url, drivername="postgresql+psycopg", database=name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
