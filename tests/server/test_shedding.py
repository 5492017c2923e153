"""Load shedding: a saturated server answers 503 UNAVAILABLE with Retry-After at once, never a
timeout, and serves again when the crowd is gone."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import requests

from tests.server.test_concurrency import race
from tests.support.api import Api, Device, expect
from tests.support.procs import ServerProcess

CROWD = 40


def shed_server(tmp_path: Path, *args: str) -> ServerProcess:
    return ServerProcess(f"sqlite:///{tmp_path / 'server.db'}", home=tmp_path / "home",
                         signing_key_path=tmp_path / "key.pem", extra_args=args)


def crowd(api: Api) -> list[tuple[Device, str]]:
    """CROWD devices of one account, each holding a seat: (device, lease id)."""
    first = api.new_device(seats=CROWD)
    assert first.account is not None
    devices = [first] + [api.login(first.account["email"], first.account["password"])
                         for _ in range(CROWD - 1)]
    return [(d, expect(d.acquire(), 201)["lease"]["lease_id"]) for d in devices]


def assert_shed_properly(responses: list[requests.Response], reason: str) -> None:
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[503] > 0, f"nothing was shed: {statuses}"
    for r in responses:
        if r.status_code == 503:
            body = r.json()["error"]
            assert body["code"] == "UNAVAILABLE" and reason in body["message"], body
            assert 1 <= int(r.headers["Retry-After"]) <= 120


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[Api, list[tuple[Device, str]]]]:
    """A server that works on at most 2 requests at once."""
    with shed_server(tmp_path, "--max-in-flight", "2") as server:
        api = Api(server.url, server.admin_token)
        yield api, crowd(api)
        api.close()


def test_past_the_in_flight_bound_heartbeats_get_503_with_retry_after(
        limited: tuple[Api, list[tuple[Device, str]]]) -> None:
    """40 heartbeats at once against a bound of 2: the excess is answered 503 UNAVAILABLE
    with a Retry-After at once (no request waits out its timeout); the rest renew; the
    seats are all still held; health is never refused."""
    api, held = limited
    started = time.monotonic()
    responses = race([partial(d.heartbeat, lease) for d, lease in held])
    assert time.monotonic() - started < 8, "the crowd waited instead of being refused"
    assert_shed_properly(responses, "too many requests at once")
    assert any(r.status_code == 200 for r in responses)
    health = race([partial(requests.get, f"{api.url}/v1/health", timeout=10)] * 20)
    assert {r.status_code for r in health} == {200}
    for device, lease in held:  # the crowd gone, every one is served again
        expect(device.heartbeat(lease), 200)


def test_a_request_that_waited_too_long_for_the_database_gets_503(tmp_path: Path) -> None:
    """With --max-queue-wait 20 (ms), 40 heartbeats at once queue for SQLite's one writer:
    those whose turn came too late are answered 503 with Retry-After, not served late."""
    with shed_server(tmp_path) as plain:  # the set-up goes through a server without limits
        api = Api(plain.url, plain.admin_token)
        held = crowd(api)
        with ServerProcess(plain.db_url, home=tmp_path / "limited", admin_token=plain.admin_token,
                           signing_key_path=tmp_path / "key.pem",
                           extra_args=["--max-queue-wait", "20"]) as limited:
            on_limited = [(Device(limited.url, token=d.token, id=d.id, name=d.name,
                                  fingerprint=d.fingerprint), lease) for d, lease in held]
            responses: list[requests.Response] = []
            for _ in range(3):  # a turn that late is likely, not certain, in any one round
                responses += race([partial(d.heartbeat, lease) for d, lease in on_limited])
                if any(r.status_code == 503 for r in responses):
                    break
        assert_shed_properly(responses, "waiting too long for the database")
        api.close()
