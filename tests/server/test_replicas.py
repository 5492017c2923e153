"""Replicas on one PostgreSQL database keep the seat rules: several real server processes,
devices spread over them, racing; and every server of one database signs with one key."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest

from tests.server.test_concurrency import live_leases, no_server_errors, race
from tests.support.api import Api, Device, expect
from tests.support.pg import SKIP_REASON, fresh_postgres_database, postgres_url
from tests.support.procs import ServerProcess

CROWD, SEATS, ROUNDS, TURNS = 50, 3, 3, 10

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    """Three server processes on one fresh PostgreSQL database, one key, one admin token."""
    if postgres_url() is None:
        pytest.skip(SKIP_REASON)
    base = tmp_path_factory.mktemp("replicas")
    token = secrets.token_urlsafe(32)
    with fresh_postgres_database() as url:
        servers: list[ServerProcess] = []
        try:
            for n in range(3):  # one after the other: the first makes the schema and the key
                servers.append(ServerProcess(url, home=base / f"replica{n}", admin_token=token,
                                             signing_key_path=base / "signing-key.pem").start())
            yield servers
        finally:
            for server in servers:
                server.stop()


@pytest.fixture(scope="module")
def crowd(replicas: list[ServerProcess]) -> tuple[Api, dict[str, Any], list[Device]]:
    """A 3-seat license and 50 devices of its account, logged in once (through replica 0)."""
    api = Api(replicas[0].url, replicas[0].admin_token)
    account, license = api.new_account(seats=SEATS)
    with ThreadPoolExecutor(max_workers=4) as pool:
        devices = list(pool.map(lambda i: api.login(account["email"], account["password"],
                                                    name=f"station-{i:02d}"), range(CROWD)))
    return api, license, devices


def on(device: Device, server: ServerProcess) -> Device:
    """The same device (same token) talking to another replica."""
    return Device(server.url, token=device.token, id=device.id, name=device.name,
                  fingerprint=device.fingerprint)


@pytest.mark.parametrize("count", [2, 3])
def test_fifty_devices_on_replicas_racing_for_three_seats_get_exactly_three(
        replicas: list[ServerProcess], crowd: tuple[Api, dict[str, Any], list[Device]],
        count: int) -> None:
    """Round after round, 50 devices spread over 2 (or 3) replicas ask at one instant:
    exactly three 201s, 47 SEAT_LIMIT_REACHED, three live leases, whichever replica asked."""
    api, license, devices = crowd
    spread = [on(d, replicas[i % count]) for i, d in enumerate(devices)]
    for round_no in range(ROUNDS):
        responses = race([partial(d.acquire, license["id"]) for d in spread])
        no_server_errors(responses)
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {201: SEATS, 409: CROWD - SEATS}, f"round {round_no}: {statuses}"
        winners = {d.id: r.json()["lease"] for d, r in zip(spread, responses, strict=True)
                   if r.status_code == 201}
        assert live_leases(api, license["id"]) == {
            lease["lease_id"]: device_id for device_id, lease in winners.items()}
        by_id = {d.id: d for d in spread}
        for device_id, lease in winners.items():  # each released through another replica
            other = on(by_id[device_id], replicas[(spread.index(by_id[device_id]) + 1) % count])
            expect(other.release(lease["lease_id"]), 204)
        assert live_leases(api, license["id"]) == {}


def test_a_heartbeat_on_one_replica_and_a_release_on_another_take_turns(
        replicas: list[ServerProcess], crowd: tuple[Api, dict[str, Any], list[Device]]) -> None:
    """The same lease beaten on replica 0 and released on replica 1 at one instant, again and
    again: the release always wins in the end (a heartbeat never revives a released lease),
    the heartbeat is 200 (it came first) or 410 (it came second), one release is recorded."""
    api, license, devices = crowd
    device = devices[0]
    beating, releasing = on(device, replicas[0]), on(device, replicas[1])
    seen: Counter[int] = Counter()
    for _ in range(TURNS):
        lease = expect(beating.acquire(license["id"]), 201)["lease"]
        beat, released = race([partial(beating.heartbeat, lease["lease_id"]),
                               partial(releasing.release, lease["lease_id"])])
        no_server_errors([beat, released])
        assert released.status_code == 204
        assert beat.status_code in (200, 410), beat.text
        seen[beat.status_code] += 1
        assert lease["lease_id"] not in live_leases(api, license["id"])
        expect(beating.heartbeat(lease["lease_id"]), 410)
        trail = expect(api.admin_get("/v1/admin/audit", params={
            "device_id": device.id, "event": "release"}), 200)["events"]
        assert [e["lease_id"] for e in trail].count(lease["lease_id"]) == 1
    assert sum(seen.values()) == TURNS
