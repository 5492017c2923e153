"""Backup and restore as docs/operations.md tells it, on SQLite and on PostgreSQL: accounts,
leases and the signing keys come back, and the agents' leases still verify."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from seatkeeper.core.keys import first_pin, follow, parse_listing
from seatkeeper.core.protocol import verify_b64, verify_lease

from tests.support.api import Api, Device, expect
from tests.support.keys import keys_cli, wait_listing
from tests.support.pg import fresh_postgres_database
from tests.support.procs import ServerProcess

TTL_S = 15  # long enough to back up and restore within one lease, short enough to wait out


def tool(name: str, package: str) -> str:
    """The backup tool `name`; missing, the test skips (fails under CI), naming its package."""
    found = shutil.which(name)
    if found is None:
        message = f"the {name} command is not installed (Debian package {package})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """An empty database of `backend`: a SQLite file in `folder`, or a fresh PostgreSQL one."""
    if backend == "sqlite":
        folder.mkdir(mode=0o700)
        yield f"sqlite:///{folder / 'server.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


def libpq(url: str) -> str:
    """pg_dump's and pg_restore's form of a SQLAlchemy URL."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def back_up(backend: str, url: str, backup: Path) -> None:
    """The documented backup, taken while the server runs: the database, keys included."""
    backup.mkdir(mode=0o700)
    if backend == "sqlite":
        source = url.removeprefix("sqlite:///")
        subprocess.run([tool("sqlite3", "sqlite3"), source,
                        f".backup '{backup / 'server.db'}'"], check=True, timeout=60)
    else:
        subprocess.run([tool("pg_dump", "postgresql-client"), "--format=custom",
                        f"--file={backup / 'seatkeeper.dump'}", libpq(url)],
                       check=True, timeout=60)


def restore(backend: str, backup: Path, url: str) -> None:
    if backend == "sqlite":
        shutil.copy2(backup / "server.db", url.removeprefix("sqlite:///"))
    else:
        subprocess.run([tool("pg_restore", "postgresql-client"), "--no-owner",
                        f"--dbname={libpq(url)}", str(backup / "seatkeeper.dump")],
                       check=True, timeout=60)


def test_a_restored_server_keeps_accounts_leases_and_signing_keys(backend: str,
                                                                 tmp_path: Path) -> None:
    """Back up a running server in the middle of a key rotation, restore into a new database:
    the device's lease renews there, the account signs in, the seat count holds; old and new
    leases verify against the key the agent pinned at login, and once the restored server
    switches to the next key its leases verify through that key's endorsement."""
    token = "t" * 40
    with database(backend, tmp_path / "old") as old_url, \
            database(backend, tmp_path / "new") as new_url:
        first = ServerProcess(old_url, home=tmp_path / "old-home", lease_ttl=TTL_S,
                              signing_key_path=tmp_path / "old-home" / "signing-key.pem",
                              heartbeat_interval=1, admin_token=token).start()
        try:
            api = Api(first.url, token)
            device = api.new_device(seats=1)
            held = expect(device.acquire(), 201)
            listed = parse_listing(requests.get(f"{first.url}/v1/keys", timeout=10).json())
            pinned = first_pin(listed, None, verify_b64)  # what an agent pins at login
            assert pinned is not None and len(pinned) == 1
            assert keys_cli(first, "rotate", "--in", str(TTL_S)).returncode == 0
            before = wait_listing(first.url, lambda ks: len(ks) == 2)
            lease_id = held["lease"]["lease_id"]
            expect(device.heartbeat(lease_id), 200)
            back_up(backend, old_url, tmp_path / "backup")
        finally:
            first.stop()
        restore(backend, tmp_path / "backup", new_url)

        with ServerProcess(new_url, home=tmp_path / "new-home", lease_ttl=TTL_S,
                           signing_key_path=tmp_path / "new-home" / "signing-key.pem",
                           heartbeat_interval=1, admin_token=token) as restored:
            after = requests.get(f"{restored.url}/v1/keys", timeout=10).json()["keys"]
            assert after == before
            again = Device(restored.url, token=device.token, id=device.id, name=device.name,
                           fingerprint=device.fingerprint)
            renewed = expect(again.heartbeat(lease_id), 200)
            trusted = follow(pinned, parse_listing({"keys": after}), verify_b64).trusted
            assert verify_lease(renewed, trusted).lease_id == lease_id
            assert verify_lease(held, pinned).lease_id == lease_id
            assert device.account is not None and device.license is not None
            second = Api(restored.url, token).login(device.account["email"],
                                                    device.account["password"], name="second")
            assert second.acquire(device.license["id"]).status_code == 409  # still the first's

            upcoming = next(k for k in after if k["status"] == "next")
            deadline = time.monotonic() + TTL_S + 10
            while renewed["signature"]["kid"] != upcoming["kid"]:
                assert time.monotonic() < deadline, renewed["signature"]
                time.sleep(0.5)
                renewed = expect(again.heartbeat(lease_id), 200)
            assert upcoming["kid"] not in pinned
            assert verify_lease(renewed, trusted).lease_id == lease_id
