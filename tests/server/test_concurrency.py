"""Seats under concurrency: devices racing at the same instant never hold more seats than exist."""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
import requests

from tests.support.api import Api, Device, expect

CROWD = 50
SEATS = 3
ROUNDS = 4
LOGIN_WORKERS = 4  # argon2 is slow and the machine small: a few logins at a time is fastest


def race(calls: Sequence[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Start every call at the same instant, one thread each; their responses, in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], requests.Response]) -> requests.Response:
        barrier.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def no_server_errors(responses: Sequence[requests.Response]) -> None:
    failures = [f"{r.status_code}: {r.text[:300]}" for r in responses if r.status_code >= 500]
    assert not failures, f"{len(failures)} server error(s), first: {failures[0]}"


def clone(device: Device, api: Api) -> Device:
    """Another client of the same device (same token), with its own connection."""
    return Device(api.url, token=device.token, id=device.id, name=device.name,
                  fingerprint=device.fingerprint)


def live_leases(api: Api, license_id: str) -> dict[str, str]:
    """The admin view of a license's live leases: {lease_id: device_id}."""
    body = expect(api.admin_get(f"/v1/admin/licenses/{license_id}"), 200)
    leases = {lease["lease_id"]: lease["device"]["id"] for lease in body["leases"]}
    assert body["seats_used"] == len(leases)
    return leases


@pytest.fixture(scope="module")
def crowd(api: Api) -> tuple[dict[str, Any], list[Device]]:
    """A 3-seat license and 50 logged-in devices of its account, each with its own connection."""
    account, license = api.new_account(seats=SEATS)

    def login(i: int) -> Device:
        return api.login(account["email"], account["password"], name=f"station-{i:02d}")

    with ThreadPoolExecutor(max_workers=LOGIN_WORKERS) as pool:
        devices = list(pool.map(login, range(CROWD)))
    # Open every connection now, so the first race is between requests, not TCP handshakes.
    for device in devices:
        expect(device.get("/v1/account"), 200)
    return license, devices


def test_fifty_devices_racing_for_three_seats_get_exactly_three(
    api: Api, crowd: tuple[dict[str, Any], list[Device]]
) -> None:
    """Each round, 50 simultaneous acquires: three 201s, 47 SEAT_LIMIT_REACHED, 3 live leases."""
    license, devices = crowd
    assert len(devices) >= 50
    for round_no in range(ROUNDS):
        # Alternate between naming the license and letting the server pick it.
        license_id = license["id"] if round_no % 2 == 0 else None
        responses = race([partial(d.acquire, license_id) for d in devices])
        no_server_errors(responses)
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {201: SEATS, 409: CROWD - SEATS}, f"round {round_no}: {statuses}"

        winners = {d.id: r.json() for d, r in zip(devices, responses, strict=True)
                   if r.status_code == 201}
        for r in responses:
            if r.status_code == 409:
                error = r.json()["error"]
                assert error["code"] == "SEAT_LIMIT_REACHED"
                assert error["details"]["seats_total"] == SEATS
                # Holders are listed from the same transaction that counted them: the winners.
                assert {d["id"] for d in error["details"]["devices"]} == set(winners)
        for envelope in winners.values():
            assert envelope["lease"]["license"]["seats_used"] <= SEATS
            assert envelope["lease"]["release_token"]

        leases = live_leases(api, license["id"])
        assert leases == {e["lease"]["lease_id"]: device_id for device_id, e in winners.items()}

        by_id = {d.id: d for d in devices}
        for device_id, envelope in winners.items():
            lease = envelope["lease"]
            if round_no % 2 == 0:
                expect(by_id[device_id].release(lease["lease_id"]), 204)
            else:
                token = {"Seat-Release-Token": lease["release_token"]}
                expect(api.delete(f"/v1/seats/{lease['lease_id']}", headers=token), 204)
        assert live_leases(api, license["id"]) == {}


def test_seats_freed_mid_race_go_to_newcomers_without_overflow(
    api: Api, crowd: tuple[dict[str, Any], list[Device]]
) -> None:
    """Three holders releasing while 47 others acquire: never more than three live leases."""
    license, devices = crowd
    holders, others = devices[:SEATS], devices[SEATS:]
    for holder in holders:
        expect(holder.acquire(license["id"]), 201)
    held = live_leases(api, license["id"])
    assert len(held) == SEATS
    lease_of = {device_id: lease_id for lease_id, device_id in held.items()}

    calls = [partial(h.release, lease_of[h.id]) for h in holders]
    calls += [partial(d.acquire, license["id"]) for d in others]
    responses = race(calls)
    no_server_errors(responses)
    assert [r.status_code for r in responses[:SEATS]] == [204] * SEATS
    acquired = Counter(r.status_code for r in responses[SEATS:])
    assert set(acquired) <= {201, 409}
    assert acquired[201] <= SEATS

    leases = live_leases(api, license["id"])
    assert len(leases) == acquired[201]
    assert not set(leases) & set(held)
    for lease_id, device_id in leases.items():
        expect(next(d for d in others if d.id == device_id).release(lease_id), 204)
    assert live_leases(api, license["id"]) == {}


def test_one_device_acquiring_from_ten_threads_holds_one_lease(api: Api) -> None:
    """Ten simultaneous acquires by one device: one 201, nine 200 with that same lease."""
    device = api.new_device(seats=SEATS)
    assert device.license is not None
    clients = [clone(device, api) for _ in range(10)]
    try:
        for _ in range(3):
            responses = race([c.acquire for c in clients])
            no_server_errors(responses)
            assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
            lease_ids = {r.json()["lease"]["lease_id"] for r in responses}
            assert len(lease_ids) == 1
            (lease_id,) = lease_ids
            assert live_leases(api, device.license["id"]) == {lease_id: device.id}
            expect(device.release(lease_id), 204)
    finally:
        for c in clients:
            c.close()


def test_simultaneous_logins_with_one_fingerprint_are_one_device(api: Api) -> None:
    """Six simultaneous logins from one machine: six tokens, one device id, no server error."""
    account, _ = api.new_account(seats=SEATS)
    for _ in range(2):
        fingerprint = secrets.token_hex(32)
        body = {"email": account["email"], "password": account["password"],
                "device": {"fingerprint": fingerprint, "name": "twin", "platform": "linux"}}
        sessions = [requests.Session() for _ in range(6)]
        try:
            url = f"{api.url}/v1/auth/password"
            responses = race([partial(s.post, url, json=body, timeout=30) for s in sessions])
        finally:
            for s in sessions:
                s.close()
        no_server_errors(responses)
        assert [r.status_code for r in responses] == [200] * 6
        assert len({r.json()["device"]["id"] for r in responses}) == 1
        assert len({r.json()["token"] for r in responses}) == 6

    device = api.login(account["email"], account["password"])
    listed = expect(device.get("/v1/devices"), 200)["devices"]
    assert len(listed) == 3  # two fingerprints raced, plus this one
