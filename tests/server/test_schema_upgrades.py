"""`seatkeeper-server migrate` and how serve and admin treat an empty, older or newer schema."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from seatkeeper_server.db import MIGRATIONS, head_revision, make_engine
from seatkeeper_server.models import Base
from sqlalchemy import text

from tests.server.test_cli import cli, one_clear_line
from tests.support.pg import fresh_postgres_database
from tests.support.procs import REPO_ROOT, ServerProcess, free_port


@pytest.fixture
def empty_db(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of this backend, as a --db URL."""
    database: AbstractContextManager[str] = (
        nullcontext(f"sqlite:///{tmp_path / 'ops.db'}") if backend == "sqlite"
        else fresh_postgres_database())
    with database as url:
        yield url


def revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            found: str | None = MigrationContext.configure(connection).get_current_revision()
            return found
    finally:
        engine.dispose()


def upgrade_to(url: str, target: str) -> None:
    """Bring the database to an older revision, as an earlier release would have left it."""
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)
    engine.dispose()


def test_concurrent_migrate_runs_build_the_schema_once(empty_db: str, tmp_path: Path) -> None:
    """Three `migrate` runs started together all succeed and leave exactly the newest schema."""
    env = {**os.environ, "SEATKEEPER_HOME": str(tmp_path)}
    runs = [subprocess.Popen([sys.executable, "-m", "seatkeeper_server", "migrate", "--db",
                              empty_db], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(run.wait(timeout=60), *run.communicate()) for run in runs]
    assert [code for code, _, _ in results] == [0] * 3, results
    assert all(f"schema revision {head_revision()}" in out for _, out, _ in results)
    engine = make_engine(empty_db)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


def test_an_older_schema_is_upgraded_only_when_asked(empty_db: str, tmp_path: Path) -> None:
    """serve and admin refuse an older schema naming `seatkeeper-server migrate` and leave it
    as it was; `serve --migrate` upgrades it and serves."""
    upgrade_to(empty_db, "0002")
    served = cli(tmp_path, "serve", "--db", empty_db, "--port", str(free_port()))
    assert "seatkeeper-server migrate" in one_clear_line(served, status=2)
    listed = cli(tmp_path, "admin", "list", "--db", empty_db)
    assert "seatkeeper-server migrate" in one_clear_line(listed, status=2)
    assert revision(empty_db) == "0002"
    with ServerProcess(empty_db, home=tmp_path / "home", signing_key_path=tmp_path / "key.pem",
                       extra_args=["--migrate"]):
        assert revision(empty_db) == head_revision()


def test_migrate_upgrades_an_older_schema_and_serve_then_starts(empty_db: str,
                                                                tmp_path: Path) -> None:
    """After `seatkeeper-server migrate`, a plain serve starts on the upgraded database."""
    upgrade_to(empty_db, "0001")
    migrated = cli(tmp_path, "migrate", "--db", empty_db)
    assert migrated.returncode == 0, migrated.stderr
    assert revision(empty_db) == head_revision()
    with ServerProcess(empty_db, home=tmp_path / "home", signing_key_path=tmp_path / "key.pem"):
        pass


def test_a_newer_schema_is_always_refused(empty_db: str, tmp_path: Path) -> None:
    """A schema from a newer release: serve (even with --migrate), migrate and admin exit 2."""
    upgrade_to(empty_db, "head")
    engine = make_engine(empty_db)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    for args in (["serve", "--migrate"], ["migrate"], ["admin", "list"]):
        result = cli(tmp_path, *args, "--db", empty_db, "--port", str(free_port()))
        assert "newer than this server" in one_clear_line(result, status=2), args
    assert revision(empty_db) == "9999_future"
