"""`seatkeeper-server`: admin subcommands, start-up errors, --demo, the admin token, SIGTERM."""

from __future__ import annotations

import getpass
import json
import os
import re
import secrets
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.support.api import Api, expect
from tests.support.procs import REPO_ROOT, ServerProcess, free_port

ADMIN_TOKEN_LINE = re.compile(r"Admin token generated: it is in (\S+) \(readable by this user")
DEMO_LINE = re.compile(r"Demo account: demo@example\.com\s+password: (\S+)")


def cli(home: Path, *args: str, stdin: str = "", admin_token: str = ""
        ) -> subprocess.CompletedProcess[str]:
    """Run `python -m seatkeeper_server ARGS` with SEATKEEPER_HOME=home and no admin token set."""
    env = {**os.environ, "SEATKEEPER_HOME": str(home), "SEATKEEPER_ADMIN_TOKEN": admin_token}
    return subprocess.run([sys.executable, "-m", "seatkeeper_server", *args], cwd=REPO_ROOT,
                          env=env, input=stdin, capture_output=True, text=True, timeout=60,
                          check=False)


def one_clear_line(result: subprocess.CompletedProcess[str], status: int | None = None) -> str:
    """Assert a failure told in one line on stderr, without a traceback; return that line."""
    assert result.returncode != 0 if status is None else result.returncode == status, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seatkeeper-server: "), result.stderr
    return lines[0]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'admin.db'}"


def test_admin_commands_create_and_list(tmp_path: Path, db: str) -> None:
    """create-account, create-license (by email) and list work on a fresh database."""
    made = cli(tmp_path, "--db", db, "admin", "create-account", "--email", "Ann@Example.test",
               "--password-stdin", stdin="correct horse\n")
    assert made.returncode == 0, made.stderr
    account = json.loads(made.stdout.splitlines()[0])
    assert account["email"] == "ann@example.test"
    lic = cli(tmp_path, "--db", db, "admin", "create-license", "--account", "ann@example.test",
              "--name", "PIX4Dmapper Yearly", "--seats", "3",
              "--expires-at", "2099-01-01T00:00:00Z")
    assert lic.returncode == 0, lic.stderr
    assert json.loads(lic.stdout)["seats_total"] == 3
    listed = cli(tmp_path, "--db", db, "admin", "list")
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert entry["email"] == "ann@example.test"
    assert [(x["name"], x["seats_total"], x["expires_at"]) for x in entry["licenses"]] == [
        ("PIX4Dmapper Yearly", 3, "2099-01-01T00:00:00Z")]


def test_admin_create_license_sets_max_borrow_s(tmp_path: Path, db: str) -> None:
    """--max-borrow-s lets the license's seats be borrowed; a bad value is one clear line."""
    cli(tmp_path, "--db", db, "admin", "create-account", "--email", "bea@example.test")
    base = ["--db", db, "admin", "create-license", "--account", "bea@example.test", "--name", "X"]
    lic = cli(tmp_path, *base, "--max-borrow-s", "604800")
    assert lic.returncode == 0, lic.stderr
    assert json.loads(lic.stdout)["max_borrow_s"] == 604800
    plain = cli(tmp_path, *base)
    assert json.loads(plain.stdout)["max_borrow_s"] == 0
    bad = cli(tmp_path, *base, "--max-borrow-s", "-5")
    assert bad.returncode == 2 and "--max-borrow-s" in bad.stderr and "must be 0 to" in bad.stderr


def test_admin_create_account_prints_a_generated_password_once(tmp_path: Path, db: str) -> None:
    """Without --password-stdin a password is generated and printed."""
    made = cli(tmp_path, "--db", db, "admin", "create-account", "--email", "bo@example.test")
    assert made.returncode == 0, made.stderr
    assert re.search(r"password \(shown once\): \S{8,}", made.stdout), made.stdout


def test_admin_duplicate_email_is_one_clear_line(tmp_path: Path, db: str) -> None:
    """The API's rules hold: a duplicate email (any case) is a one-line error, non-zero exit."""
    first = cli(tmp_path, "--db", db, "admin", "create-account", "--email", "cy@example.test")
    assert first.returncode == 0, first.stderr
    again = cli(tmp_path, "--db", db, "admin", "create-account", "--email", "CY@example.test")
    assert "exists already" in one_clear_line(again)


@pytest.mark.parametrize(("args", "says"), [
    (["create-account", "--email", "not-an-email"], "email"),
    (["create-license", "--account", "nobody@example.test", "--name", "X"], "nobody@"),
    (["create-account", "--email", "ann\u202e@example.test"], "bidirectional"),
], ids=["bad-email", "unknown-account", "bidi-email"])
def test_admin_refusals_are_one_clear_line(tmp_path: Path, db: str, args: list[str],
                                           says: str) -> None:
    """Refused admin commands say why in one line and exit non-zero."""
    assert says in one_clear_line(cli(tmp_path, "--db", db, "admin", *args))


def test_admin_bad_time_is_one_clear_line(tmp_path: Path, db: str) -> None:
    """A bad --expires-at or --support-until is a one-line error."""
    cli(tmp_path, "--db", db, "admin", "create-account", "--email", "dee@example.test")
    for flag, value in (("--expires-at", "tomorrow"), ("--support-until", "2026-02-30")):
        result = cli(tmp_path, "--db", db, "admin", "create-license", "--account",
                     "dee@example.test", "--name", "X", flag, value)
        assert "must be" in one_clear_line(result)


@pytest.mark.parametrize("problem", ["scheme", "sqlite-dir", "postgres-down", "signing-key"])
def test_startup_problems_are_one_clear_line_and_exit_2(tmp_path: Path, problem: str) -> None:
    """A bad --db, an unreachable PostgreSQL or a bad --signing-key: one line, exit 2."""
    db = f"sqlite:///{tmp_path / 'server.db'}"
    args = {
        "scheme": ["--db", "mysql://root@localhost/seats"],
        "sqlite-dir": ["--db", "sqlite:////proc/no-such-dir/server.db"],
        "postgres-down": ["--db", "postgresql://postgres:hunter2@127.0.0.1:1/seats"],
        "signing-key": ["--db", db, "--signing-key", str(tmp_path / "key.pem")],
    }[problem]
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n")
    line = one_clear_line(cli(tmp_path, *args, "--port", str(free_port())), status=2)
    assert "hunter2" not in line  # a database password is never printed


def demo_server(tmp_path: Path, db: str) -> ServerProcess:
    """A server started with --demo and no SEATKEEPER_ADMIN_TOKEN, so it makes its own."""
    return ServerProcess(db, tmp_path / "home", tmp_path / "key.pem", extra_args=["--demo"],
                         env={"SEATKEEPER_ADMIN_TOKEN": ""})


def _log_since(server: ServerProcess, offset: int) -> str:
    return server.log_path.read_text(encoding="utf-8")[offset:]


def test_demo_account_is_made_once_and_the_admin_token_written_once(tmp_path: Path) -> None:
    """The generated admin token goes to an owner-only file, never to the log; a restart
    reprints the demo password, keeps the token and makes no second demo."""
    db = f"sqlite:///{tmp_path / 'server.db'}"
    with demo_server(tmp_path, db) as first:
        log = _log_since(first, 0)
        path_match, demo = ADMIN_TOKEN_LINE.search(log), DEMO_LINE.search(log)
        assert path_match and demo, log
        token_file = Path(path_match.group(1))
        assert token_file == tmp_path / "home" / "server" / "admin-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32 and token not in log
        api = Api(first.url, token)
        device = api.login("demo@example.com", demo.group(1))
        lease = expect(device.acquire(), 201)["lease"]
        assert lease["license"]["seats_total"] == 2
        api.close()
    offset = first.log_path.stat().st_size
    with demo_server(tmp_path, db) as second:
        log = _log_since(second, offset)
        again = DEMO_LINE.search(log)
        assert again and again.group(1) == demo.group(1), log
        assert not ADMIN_TOKEN_LINE.search(log), log
        # The token written at first start still works.
        expect(requests.post(f"{second.url}/v1/admin/accounts", timeout=10,
                             headers={"Authorization": f"Bearer {token}"},
                             json={"email": "x@example.test", "password": "long-enough"}), 201)
    listed = json.loads(cli(tmp_path, "--db", db, "admin", "list").stdout)
    assert [a["email"] for a in listed].count("demo@example.com") == 1
    (demo_account,) = [a for a in listed if a["email"] == "demo@example.com"]
    assert len(demo_account["licenses"]) == 1


def test_sigterm_with_requests_in_flight_loses_nothing_and_exits_0(
        tmp_path: Path, db_url: str, signing_key_path: Path, server: ServerProcess) -> None:
    """Accounts created while SIGTERM arrives: every confirmed one is there after a restart."""
    # On the session database, so with the session's admin token (a start sets the token).
    token = server.admin_token
    proc = ServerProcess(db_url, tmp_path / "home", signing_key_path, admin_token=token).start()
    confirmed: list[str] = []
    stop = threading.Event()

    def create() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                email = f"term-{secrets.token_hex(6)}@example.test"
                try:
                    response = session.post(
                        f"{proc.url}/v1/admin/accounts", timeout=15,
                        headers={"Authorization": f"Bearer {token}"},
                        json={"email": email, "password": "long-enough"})
                except requests.RequestException:
                    return
                if response.status_code == 201:
                    confirmed.append(email)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(confirmed) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert proc.stop() == 0  # SIGTERM, with the creators still sending
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
    assert len(confirmed) >= 8
    with ServerProcess(db_url, tmp_path / "home", signing_key_path, admin_token=token) as again:
        for email in confirmed:
            # The email is taken: the account was committed before the server stopped.
            response = requests.post(
                f"{again.url}/v1/admin/accounts", timeout=10,
                headers={"Authorization": f"Bearer {again.admin_token}"},
                json={"email": email, "password": "long-enough"})
            assert response.status_code == 400, (email, response.text)
            assert "email" in response.json()["error"]["details"]["fields"]


@pytest.mark.parametrize("token", ["x", "s" * 31, "é" * 40])
def test_a_weak_admin_token_stops_the_start(tmp_path: Path, db: str, token: str) -> None:
    """SEATKEEPER_ADMIN_TOKEN shorter than 32 characters (or not ASCII): one line, exit 2."""
    result = cli(tmp_path, "--db", db, "--port", str(free_port()), admin_token=token)
    line = one_clear_line(result, status=2)
    assert "SEATKEEPER_ADMIN_TOKEN" in line and "32" in line
    assert token not in line


@pytest.mark.parametrize("value", ["proxy.example.net", "10.0.0.0/33", "127.0.0.1,,nope"])
def test_a_bad_forwarded_allow_ips_stops_the_start(tmp_path: Path, db: str, value: str) -> None:
    """--forwarded-allow-ips takes addresses and networks only: anything else, one line, exit 2."""
    result = cli(tmp_path, "--db", db, "--port", str(free_port()),
                 "--forwarded-allow-ips", value)
    assert "--forwarded-allow-ips" in one_clear_line(result, status=2)


def test_admin_commands_are_recorded_as_the_user_who_ran_them(tmp_path: Path, db: str) -> None:
    """`seatkeeper-server admin` records its changes as `admin:<operating-system user>`."""
    made = cli(tmp_path, "--db", db, "admin", "create-account", "--email", "eve@example.test")
    assert made.returncode == 0, made.stderr
    account = json.loads(made.stdout.splitlines()[0])
    assert cli(tmp_path, "--db", db, "admin", "create-license", "--account", account["id"],
               "--name", "PIX4Dmatic Yearly").returncode == 0
    engine = create_engine(db)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT event, actor FROM audit_events WHERE account_id = :a ORDER BY id"),
                {"a": account["id"]}).all()
    finally:
        engine.dispose()
    me = f"admin:{getpass.getuser()}"
    assert [tuple(row) for row in rows] == [("account_created", me), ("license_created", me)]
