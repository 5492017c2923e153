"""Backup and restore as docs/operations.md tells it: the agents' leases still verify after."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from seatkeeper.core.protocol import verify_lease

from tests.support.api import Api, Device, expect
from tests.support.procs import ServerProcess


def server_on(data: Path, token: str) -> ServerProcess:
    """A server whose database and signing key are the defaults inside the folder `data`."""
    return ServerProcess(f"sqlite:///{data / 'server.db'}", home=data.parent / f"{data.name}-home",
                         signing_key_path=data / "signing-key.pem", admin_token=token)


def test_a_restored_sqlite_server_keeps_every_lease_and_key(tmp_path: Path) -> None:
    """Back up a running SQLite server (sqlite3 .backup plus the signing key), restore into a new
    folder: the device's lease renews there, and old and new leases verify against the key it
    pinned at login."""
    sqlite3 = shutil.which("sqlite3")
    if sqlite3 is None:
        pytest.skip("the sqlite3 command is not installed (scripts/test installs it)")
    old, backup, new = tmp_path / "old", tmp_path / "backup", tmp_path / "new"
    old.mkdir()
    token = secrets.token_urlsafe(32)
    with server_on(old, token) as first:
        api = Api(first.url, first.admin_token)
        device = api.new_device(seats=1)
        held = expect(device.acquire(), 201)
        pinned = {key["kid"]: key["public_key"]
                  for key in expect(requests.get(f"{first.url}/v1/keys", timeout=10), 200)["keys"]}
        # The documented backup, taken while the server runs.
        backup.mkdir(mode=0o700)
        subprocess.run([sqlite3, str(old / "server.db"), f".backup '{backup / 'server.db'}'"],
                       check=True, timeout=60)
        shutil.copy2(old / "signing-key.pem", backup / "signing-key.pem")
    new.mkdir(mode=0o700)
    for name in ("server.db", "signing-key.pem"):
        shutil.copy2(backup / name, new / name)
    with server_on(new, token) as restored:
        keys = expect(requests.get(f"{restored.url}/v1/keys", timeout=10), 200)["keys"]
        assert {key["kid"]: key["public_key"] for key in keys} == pinned
        again = Device(restored.url, token=device.token, id=device.id, name=device.name,
                       fingerprint=device.fingerprint)
        renewed = expect(again.heartbeat(held["lease"]["lease_id"]), 200)
        assert verify_lease(renewed, pinned).lease_id == held["lease"]["lease_id"]
        assert verify_lease(held, pinned).lease_id == held["lease"]["lease_id"]
        assert device.account is not None and device.license is not None
        second = Api(restored.url, token).login(device.account["email"],
                                                device.account["password"], name="second")
        # The one seat is still the first device's.
        assert second.acquire(device.license["id"]).status_code == 409
