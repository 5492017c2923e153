"""Crash drill support: forked agent processes, drill devices, what the outbox and server say."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import seatkeeper.cli
import seatkeeper.runner
import sqlalchemy
from seatkeeper.config import load_config
from seatkeeper.service.control import ControlClient, socket_path
from seatkeeper.service.credentials import CredentialStore
from seatkeeper.service.daemon import Agent
from seatkeeper.service.session import load as load_session
from sqlalchemy.pool import NullPool

from tests.support.api import Api
from tests.support.proxy import FaultProxy

NO_KEYRING = "keyring.backends.fail.Keyring"
NOWHERE = Path("/nonexistent/seatkeeper/config.toml")  # no system-wide file in the drill


# -- processes ---------------------------------------------------------------------------


def _child_env(home: Path) -> None:
    os.environ["SEATKEEPER_HOME"] = str(home)
    os.environ["PYTHON_KEYRING_BACKEND"] = NO_KEYRING
    os.environ["SEATKEEPER_PLATFORM"] = "null"  # never the machine's logind, nor a D-Bus thread
    import keyring
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())


def fork_child(home: Path, body: Callable[[], int]) -> int:
    """Run `body()` in a forked child with SEATKEEPER_HOME=home; output to home/drill.log."""
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:
        fd = os.open(home / "drill.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = sys.stderr = open(os.dup(fd), "w", buffering=1)  # noqa: SIM115
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        root = logging.getLogger()
        for old in list(root.handlers):
            root.removeHandler(old)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        _child_env(home)
        print(f"--- pid {os.getpid()}", flush=True)
        code = body()
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def run_daemon() -> int:
    return seatkeeper.runner.run(load_config(system_file=NOWHERE), headless=True)


def run_cli(*argv: str) -> Callable[[], int]:
    def body() -> int:
        seatkeeper.config.system_config_file = lambda: NOWHERE
        return seatkeeper.cli.main(list(argv))

    return body


def reap(pid: int, timeout: float = 10.0) -> int | None:
    """Wait for a child; SIGKILL it if it has not exited in time. Its raw wait status."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.005)


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


# -- one device --------------------------------------------------------------------------


@dataclass
class DrillDevice:
    home: Path
    token: str
    device_id: str

    @property
    def runtime_dir(self) -> Path:
        return self.home / "run"

    @property
    def outbox(self) -> Path:
        return self.home / "data" / "outbox.sqlite3"

    def control(self, timeout: float = 5.0) -> ControlClient:
        return ControlClient(str(socket_path(self.runtime_dir)), timeout=timeout)


def login_device(url: str, email: str, password: str, home: Path) -> DrillDevice:
    """Log a new device in through the agent's own login (keys pinned, session saved)."""
    config = load_config(env={"SEATKEEPER_HOME": str(home)}, system_file=NOWHERE)
    store = CredentialStore(config.paths.data_dir, use_keyring=False)
    agent = Agent(config, credentials=store)
    try:
        agent.login(email, password, url)
    finally:
        agent.outbox.close()
    session = load_session(config.paths.data_dir)
    token = store.load()
    assert session is not None and token is not None
    return DrillDevice(home=home, token=token, device_id=session.device_id)


# -- what the files and the server say ---------------------------------------------------


def outbox_rows(path: Path) -> list[tuple[str, int]]:
    """(kind, release_done) of every item; asserts the file is intact first."""
    db = sqlite3.connect(path, timeout=10)
    try:
        (check,) = db.execute("PRAGMA integrity_check").fetchone()
        assert check == "ok", f"outbox {path} is corrupt: {check}"
        return [(str(k), int(d)) for k, d in db.execute(
            "SELECT kind, release_done FROM items ORDER BY id")]
    finally:
        db.close()


class ServerView:
    """What the server says, as its operator reads it (its admin API: leases and the audit
    trail), and the fault proxy in front of it, which counts the requests that reached it."""

    def __init__(self, api: Api, license_id: str, proxy: FaultProxy) -> None:
        self.api, self.license_id, self.proxy = api, license_id, proxy
        self.http = requests.Session()

    def close(self) -> None:
        self.http.close()

    def events(self, device_id: str, event: str) -> list[str | None]:
        """The `detail` of each audit event of this kind for the device, oldest first, read
        as an operator reads the trail: `GET /v1/admin/audit`."""
        return [e["detail"] for e in self.api.audit(device_id=device_id, event=event)]

    def lease_events(self, device_id: str, lease_id: str, event: str) -> list[str | None]:
        """The `detail` of each audit event of this kind for one lease of the device."""
        return [e["detail"] for e in self.api.audit(device_id=device_id, event=event)
                if e["lease_id"] == lease_id]

    def logouts(self, device_id: str) -> int:
        return len(self.events(device_id, "logout"))

    def token_status(self, token: str) -> int:
        return self.http.get(f"{self.api.url}/v1/account", timeout=10,
                             headers={"Authorization": f"Bearer {token}"}).status_code

    def live_leases(self) -> list[dict[str, Any]]:
        response = self.api.admin_get(f"/v1/admin/licenses/{self.license_id}")
        assert response.status_code == 200, response.text
        leases: list[dict[str, Any]] = response.json()["leases"]
        return leases

    def holds_seat(self, device_id: str) -> bool:
        return any(lease["device"]["id"] == device_id for lease in self.live_leases())

    def lease_live(self, lease_id: str) -> bool:
        return any(lease["lease_id"] == lease_id for lease in self.live_leases())


def cheap_password_hash(db_url: str, account_id: str, password: str) -> None:
    """Re-hash the drill account's password with minimal argon2 costs.

    The drill is about logging out; each of its ~100 logins would otherwise spend
    half a second in argon2 (the server's production cost) on a busy machine.
    argon2 verifies with the costs recorded in the hash, so the server needs no change.
    """
    from argon2 import PasswordHasher

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(password)
    engine = sqlalchemy.create_engine(db_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("UPDATE accounts SET password_hash = :hash "
                                         "WHERE id = :id"), {"hash": cheap, "id": account_id})
    finally:
        engine.dispose()
