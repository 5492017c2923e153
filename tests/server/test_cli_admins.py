"""`seatkeeper-server admin create-admin` and `reset-password`: the operator's way in to the
console, and back in when a password is lost."""

from __future__ import annotations

import json
import re
from pathlib import Path

from seatkeeper_server import security
from seatkeeper_server.db import make_engine, session_factory
from seatkeeper_server.services import auth

from tests.server.test_cli import cli, one_clear_line


def password_works(db: str, email: str, password: str) -> bool:
    engine = make_engine(db)
    try:
        with session_factory(engine)() as session:
            return security.verify_password(auth.password_hash_for(session, email), password)
    finally:
        engine.dispose()


def test_create_admin_makes_an_administrators_account(tmp_path: Path) -> None:
    """The account has the admin role (in `admin list` too) and the password given; the same
    email again is one clear line."""
    db = f"sqlite:///{tmp_path / 'admins.db'}"
    made = cli(tmp_path, "--db", db, "admin", "create-admin", "--email", "Root@Vendor.test",
               "--password-stdin", stdin="correct horse battery\n")
    assert made.returncode == 0, made.stderr
    account = json.loads(made.stdout)
    assert (account["email"], account["role"]) == ("root@vendor.test", "admin")
    assert password_works(db, "root@vendor.test", "correct horse battery")
    listed = json.loads(cli(tmp_path, "--db", db, "admin", "list").stdout)
    assert [(a["email"], a["role"], a["disabled_at"]) for a in listed] == [
        ("root@vendor.test", "admin", None)]
    again = cli(tmp_path, "--db", db, "admin", "create-admin", "--email", "root@vendor.test")
    assert "exists already" in one_clear_line(again)


def test_reset_password_sets_a_given_or_a_generated_one(tmp_path: Path) -> None:
    """--password-stdin sets that password; without it one is generated and printed once;
    an unknown account is one clear line."""
    db = f"sqlite:///{tmp_path / 'admins.db'}"
    cli(tmp_path, "--db", db, "admin", "create-admin", "--email", "ops@vendor.test",
        "--password-stdin", stdin="first password\n")
    given = cli(tmp_path, "--db", db, "admin", "reset-password", "--account", "ops@vendor.test",
                "--password-stdin", stdin="second password\n")
    assert given.returncode == 0, given.stderr
    assert "shown once" not in given.stdout
    assert password_works(db, "ops@vendor.test", "second password")
    assert not password_works(db, "ops@vendor.test", "first password")
    made = cli(tmp_path, "--db", db, "admin", "reset-password", "--account", "ops@vendor.test")
    found = re.search(r"password \(shown once\): (\S{12,})", made.stdout)
    assert found, made.stdout
    assert password_works(db, "ops@vendor.test", found.group(1))
    short = cli(tmp_path, "--db", db, "admin", "reset-password", "--account", "ops@vendor.test",
                "--password-stdin", stdin="short\n")
    assert "too short" in one_clear_line(short)
    unknown = cli(tmp_path, "--db", db, "admin", "reset-password", "--account", "no@vendor.test")
    assert "No account no@vendor.test" in one_clear_line(unknown)
