"""`seatkeeper-server keys`: the key set an operator rotates, on both databases, replicas too."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from seatkeeper_server.signing import to_pem

from tests.server.test_cli import one_clear_line
from tests.support.api import Api, Device, expect
from tests.support.keys import by_status, endorsed, keys_cli, listing, signed_by, wait_listing
from tests.support.pg import SKIP_REASON, fresh_postgres_database, postgres_url
from tests.support.procs import REPO_ROOT, ServerProcess

TTL_S = 4


@pytest.fixture
def empty_db(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of this backend of its own (a rotation must not touch the shared one)."""
    database: AbstractContextManager[str] = (
        nullcontext(f"sqlite:///{tmp_path / 'keys.db'}") if backend == "sqlite"
        else fresh_postgres_database())
    with database as url:
        yield url


def replica(url: str, home: Path, **kw: Any) -> ServerProcess:
    return ServerProcess(url, home=home, signing_key_path=home / "signing-key.pem",
                         lease_ttl=TTL_S, heartbeat_interval=1, **kw)


def test_rotate_cancel_and_drop_refuse_what_would_break_an_agent(empty_db: str,
                                                                 tmp_path: Path) -> None:
    """A next key published for less than a lease TTL, a second next key, cancelling none,
    dropping the current or an unknown key: each refused in one line; cancel withdraws the
    next key before it signs; `list` never shows a private key."""
    with replica(empty_db, tmp_path / "a") as server:
        (first,) = listing(server.url)
        short = keys_cli(server, "rotate", "--in", str(TTL_S - 1))
        assert "shorter than the lease TTL" in one_clear_line(short, status=1)
        assert "no next key" in one_clear_line(keys_cli(server, "cancel"), status=1)
        assert "only a retired key" in one_clear_line(
            keys_cli(server, "drop", first["kid"]), status=1)
        assert "there is no key" in one_clear_line(keys_cli(server, "drop", "nope"), status=1)

        assert keys_cli(server, "rotate", "--in", "1h").returncode == 0
        again = keys_cli(server, "rotate", "--in", "1h")
        assert "is already next" in one_clear_line(again, status=1)
        upcoming = next(k for k in wait_listing(server.url, lambda ks: len(ks) == 2)
                        if k["status"] == "next")
        assert endorsed(upcoming, by=first["public_key"])
        assert time.time() + 3500 < _epoch(upcoming["current_from"]) <= time.time() + 3600
        shown = keys_cli(server, "list")
        assert shown.returncode == 0 and upcoming["kid"] in shown.stdout
        assert "PRIVATE KEY-----" not in shown.stdout and "BEGIN" not in shown.stdout

        cancelled = keys_cli(server, "cancel")
        assert cancelled.returncode == 0 and upcoming["kid"] in cancelled.stdout
        wait_listing(server.url, lambda ks: [k["kid"] for k in ks] == [first["kid"]])
        assert "BEGIN" not in server.log_path.read_text()  # nor in the server's log


def test_a_retired_key_is_listed_until_its_leases_ended_then_dropped(
        empty_db: str, tmp_path: Path) -> None:
    """After the switch the old key is `retired`, its private half erased. A seat borrowed
    under it (its envelope signed by the old key, offline until `borrowed_until`) keeps it
    listed until that borrow ends, long after a lease TTL; then it is dropped from
    /v1/keys, and the server goes on signing with the new key."""
    with replica(empty_db, tmp_path / "a") as server:
        (old,) = listing(server.url)
        api = Api(server.url, server.admin_token)
        device = api.new_device(seats=1, max_borrow_s=3600)
        lease_id = expect(device.acquire(), 201)["lease"]["lease_id"]
        until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=TTL_S * 5)
        borrowed = expect(device.borrow(lease_id, until.strftime("%Y-%m-%dT%H:%M:%SZ")), 200)
        assert signed_by(borrowed, old["public_key"])
        ends = _epoch(borrowed["lease"]["expires_at"])
        assert keys_cli(server, "rotate", "--in", str(TTL_S)).returncode == 0
        keys = wait_listing(server.url, lambda ks: by_status(ks).get("retired") == [old["kid"]],
                            timeout=TTL_S + 10)
        new = next(k for k in keys if k["status"] == "current")
        renewed = expect(device.heartbeat(lease_id), 200)
        assert signed_by(renewed, new["public_key"]) and not signed_by(renewed, old["public_key"])
        # Past the switch and its grace (a lease TTL here), the borrow still runs: listed.
        time.sleep(max(0.0, _epoch(new["current_from"]) + TTL_S + 3 - time.time()))
        assert time.time() < ends - 1
        assert by_status(listing(server.url)).get("retired") == [old["kid"]]
        listed = {k["kid"]: k for k in json.loads(keys_cli(server, "list", "--json").stdout)}
        assert listed[old["kid"]]["private_key"] == "erased"
        assert listed[old["kid"]]["listed_until"] == borrowed["lease"]["expires_at"]

        dropped = wait_listing(server.url, lambda ks: old["kid"] not in {k["kid"] for k in ks},
                               timeout=TTL_S * 5 + 20)
        assert time.time() >= ends
        assert [k["kid"] for k in dropped] == [new["kid"]]
        assert signed_by(expect(device.acquire(), 201), new["public_key"])
        api.close()


def test_a_replica_never_signs_with_a_key_of_its_own(empty_db: str, tmp_path: Path) -> None:
    """Two servers started together on an empty database make one key between them; a third
    without any key file signs with it too; one given a key file the database does not know
    refuses to start, naming the key and what to do."""
    servers = [replica(empty_db, tmp_path / name) for name in ("a", "b")]
    with ExitStack() as stack:
        starting = [threading.Thread(target=s.start) for s in servers]
        for thread in starting:
            thread.start()
        for thread, server in zip(starting, servers, strict=True):
            thread.join(timeout=60)
            stack.callback(server.stop)
        keys = [listing(server.url) for server in servers]
        assert keys[0] == keys[1] and len(keys[0]) == 1
        third = stack.enter_context(replica(empty_db, tmp_path / "c"))
        assert listing(third.url) == keys[0]

        foreign = tmp_path / "foreign.pem"
        foreign.write_text(to_pem(Ed25519PrivateKey.generate()))
        stranger = ServerProcess(empty_db, home=tmp_path / "d", signing_key_path=foreign,
                                 lease_ttl=TTL_S, heartbeat_interval=1)
        env = {**os.environ, "SEATKEEPER_HOME": str(stranger.home),
               "SEATKEEPER_ADMIN_TOKEN": stranger.admin_token}
        done = subprocess.run(stranger.command, cwd=REPO_ROOT, env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        line = one_clear_line(done, status=2)
        assert "is not one of this database's signing keys" in line
        assert keys[0][0]["kid"] in line and "Remove --signing-key" in line


@pytest.mark.postgres
def test_replicas_on_one_postgresql_agree_on_the_signing_key_through_a_rotation(
        tmp_path: Path) -> None:
    """Two replicas: before the switch both sign with the old key, from its second on both
    with the new one (a lease's server_time tells which), and both list the same keys."""
    if postgres_url() is None:
        pytest.skip(SKIP_REASON)
    token = secrets.token_urlsafe(32)
    with fresh_postgres_database() as url, \
            replica(url, tmp_path / "a", admin_token=token) as a, \
            replica(url, tmp_path / "b", admin_token=token) as b:
        (old,) = listing(a.url)
        api = Api(a.url, a.admin_token)
        devices = [api.new_device(seats=2) for _ in range(2)]
        leases = [expect(d.acquire(), 201)["lease"]["lease_id"] for d in devices]
        on_b = [Device(b.url, token=d.token, id=d.id, name=d.name, fingerprint=d.fingerprint)
                for d in devices]
        done = keys_cli(a, "rotate", "--in", str(TTL_S))
        assert done.returncode == 0, done.stderr
        new = next(k for k in wait_listing(b.url, lambda ks: len(ks) == 2)
                   if k["status"] == "next")
        switch = new["current_from"]
        signed: list[tuple[str, str, str]] = []
        deadline = time.monotonic() + TTL_S + 8
        while time.monotonic() < deadline:
            for replica_url, device, lease_id in zip([a.url] * 2 + [b.url] * 2,
                                                     [*devices, *on_b], leases * 2,
                                                     strict=True):
                envelope = expect(device.heartbeat(lease_id), 200)
                signed.append((envelope["lease"]["server_time"],
                               envelope["signature"]["kid"], replica_url))
            time.sleep(0.2)
        assert {kid for at, kid, _ in signed if at < switch} == {old["kid"]}
        assert {kid for at, kid, _ in signed if at >= switch} == {new["kid"]}
        assert {url for at, _, url in signed if at >= switch} == {a.url, b.url}
        assert listing(a.url) == listing(b.url)
        assert by_status(listing(b.url))["current"] == [new["kid"]]
        api.close()


def _epoch(rfc3339: str) -> float:
    return dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
