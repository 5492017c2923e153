"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from seatkeeper_server.db import MIGRATIONS, make_engine, migrate
from seatkeeper_server.models import Base
from sqlalchemy import Engine, text

from tests.support.pg import fresh_postgres_database


@pytest.fixture
def migrated(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """A fresh database of this backend, brought to the newest revision."""
    database: AbstractContextManager[str] = (
        nullcontext(f"sqlite:///{tmp_path / 'migrated.db'}") if backend == "sqlite"
        else fresh_postgres_database())
    with database as url:
        engine = make_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()


def test_migrations_match_the_models(migrated: Engine) -> None:
    """No table, column, index or type differs between the migrated schema and the models."""
    with migrated.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_events_recorded_before_the_actor_column_get_one(backend: str, tmp_path: Path) -> None:
    """A database of revision 0002 upgrades in place: a device's own events name the device,
    the rest are the system's."""
    database: AbstractContextManager[str] = (
        nullcontext(f"sqlite:///{tmp_path / 'old.db'}") if backend == "sqlite"
        else fresh_postgres_database())
    with database as url:
        engine = make_engine(url)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0002")
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO audit_events (at, event, device_id, detail) VALUES "
                "(1, 'login', 'dev_a', NULL), (2, 'reclaim', 'dev_a', 'expired')"))
        migrate(engine)
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT event, actor FROM audit_events ORDER BY at")).all()
        engine.dispose()
    assert [tuple(row) for row in rows] == [("login", "device:dev_a"), ("reclaim", "system")]
