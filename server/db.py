"""Database engines: SQLite (embedded, WAL, immediate write transactions) or PostgreSQL."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseURLError(ValueError):
    """The --db value cannot be used; the message says why and what to give instead."""


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` as psycopg 3 URLs; check the scheme."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    if url.startswith(("sqlite:///", "postgresql+psycopg://")):
        return url
    raise DatabaseURLError(
        f"--db {url!r} is not a database URL this server supports; give "
        "sqlite:////absolute/path/server.db or postgresql+psycopg://user@host:5432/dbname"
    )


def make_engine(url: str) -> Engine:
    """An engine whose transactions are safe for the seat rules on either database."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    try:
        import psycopg  # noqa: F401  (the postgresql extra)
    except ImportError:
        raise DatabaseURLError(
            "--db names a PostgreSQL database, but its driver (psycopg) is not installed: "
            "pip install 'seatkeeper[server,postgresql]'") from None
    # A request that cannot get a connection within 10 s is answered 503 (app.py), not held.
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True,
                         pool_timeout=10)


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=20,
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Every transaction takes the write lock up front: seat counting and the insert
        # that follows it are one atomic step, and no transaction upgrades a read lock
        # (which SQLite could only answer with SQLITE_BUSY).
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class SchemaError(RuntimeError):
    """The database's schema is not one this server can run on; the message says what to do."""


# Any fixed 64-bit number: every process migrating one PostgreSQL database takes this lock.
_PG_MIGRATION_LOCK = 0x5EA7_4EE9


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision this server's code knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def schema_state(connection: Connection) -> str:
    """`empty`, `current`, `older` or `newer` (a revision this code does not know)."""
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None:
        return "empty" if not inspect(connection).get_table_names() else "unversioned"
    if revision == head_revision():
        return "current"
    try:
        ScriptDirectory.from_config(_alembic_config()).get_revision(revision)
    except CommandError:
        return "newer"
    return "older"


def ensure_schema(engine: Engine, *, upgrade: bool) -> str:
    """Create the schema of an empty database; bring an older one up only if `upgrade`.

    Returns what was found (`empty`, `current`, `older`). One process at a time decides and
    migrates: PostgreSQL's advisory lock, and on SQLite the write lock every transaction
    here takes (BEGIN IMMEDIATE) -- so replicas or `migrate` runs started together are safe.
    Raises SchemaError for a newer schema, an unversioned one, or an older one without
    `upgrade`.
    """
    with engine.begin() as connection:
        if is_postgres(engine):
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": _PG_MIGRATION_LOCK})
        state = schema_state(connection)
        if state == "newer":
            revision = MigrationContext.configure(connection).get_current_revision()
            raise SchemaError(
                f"the database's schema (revision {revision}) is newer than this server "
                f"(which knows up to {head_revision()}): run the newer seatkeeper-server, or "
                "restore a backup made before the upgrade")
        if state == "unversioned":
            raise SchemaError("the database has tables but no Seatkeeper schema version: "
                              "give --db an empty database or one this server made")
        if state == "older" and not upgrade:
            raise SchemaError(
                "the database's schema is older than this server: run "
                "`seatkeeper-server migrate` (with the same --db) first, or start with "
                "--migrate on a single node")
        if state in ("empty", "older"):
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        return state


def migrate(engine: Engine) -> str:
    """Bring the schema up to the newest Alembic revision (safe to run concurrently)."""
    return ensure_schema(engine, upgrade=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
