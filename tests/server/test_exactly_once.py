"""Exactly once, proved: simultaneous logouts or releases of one token or lease, one event each.

A logout queued offline may be delivered twice at the same instant (a retry racing a
late answer); each pair here is sent at one instant from two connections, repeated, and
the audit trail must hold exactly one `logout` and one `release` per device or lease.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import requests

from tests.server.test_concurrency import clone, no_server_errors, race
from tests.support.api import Api, Device, expect

ROUNDS = 8


def events(api: Api, device: Device, event: str) -> list[dict[str, Any]]:
    body = expect(api.admin_get("/v1/admin/audit", params={"device_id": device.id,
                                                            "event": event}), 200)
    rows: list[dict[str, Any]] = body["events"]
    return rows


def release_with_token(api: Api, lease: dict[str, Any]) -> Callable[[], requests.Response]:
    session = requests.Session()
    return partial(session.delete, f"{api.url}/v1/seats/{lease['lease_id']}", timeout=30,
                   headers={"Seat-Release-Token": lease["release_token"]})


def test_two_logouts_of_one_token_at_once_record_one_logout(api: Api) -> None:
    """Round after round, two logouts of one token at once: both 204, one logout, one release."""
    for _ in range(ROUNDS):
        device = api.new_device()
        lease = expect(device.acquire(), 201)["lease"]
        twin = clone(device, api)
        responses = race([device.logout, twin.logout])
        no_server_errors(responses)
        assert [r.status_code for r in responses] == [204, 204]
        assert len(events(api, device, "logout")) == 1
        (released,) = events(api, device, "release")
        assert (released["lease_id"], released["detail"]) == (lease["lease_id"], "logout")


def test_two_releases_of_one_lease_at_once_record_one_release(api: Api) -> None:
    """Round after round, the lease released twice at once (by its release token, or by the
    device and its release token together): both 204, one release."""
    for round_no in range(ROUNDS):
        device = api.new_device()
        lease = expect(device.acquire(), 201)["lease"]
        first = release_with_token(api, lease)
        second = (release_with_token(api, lease) if round_no % 2 else
                  partial(clone(device, api).release, lease["lease_id"], "shutdown"))
        responses = race([first, second])
        no_server_errors(responses)
        assert [r.status_code for r in responses] == [204, 204]
        (released,) = events(api, device, "release")
        assert released["lease_id"] == lease["lease_id"]


def test_a_logout_and_an_admin_release_at_once_record_one_release(api: Api) -> None:
    """The device logging out while the operator frees its seat: the lease ends once."""
    for _ in range(ROUNDS // 2):
        device = api.new_device()
        lease = expect(device.acquire(), 201)["lease"]
        responses = race([device.logout, partial(
            api.admin_delete, f"/v1/admin/leases/{lease['lease_id']}")])
        no_server_errors(responses)
        assert [r.status_code for r in responses] == [204, 204]
        assert len(events(api, device, "release")) == 1
        assert len(events(api, device, "logout")) == 1


def test_two_deactivations_of_one_device_at_once_record_one(api: Api) -> None:
    """Another device deactivated twice at once (two taps, two tabs): both 200, one
    `deactivate` and one release of its seat."""
    for _ in range(ROUNDS // 2):
        caller = api.new_device()
        assert caller.account is not None
        target = api.login(caller.account["email"], caller.account["password"])
        expect(caller.put("/v1/account/remote-deactivation", json={"enabled": True}), 200)
        lease = expect(target.acquire(), 201)["lease"]
        twin = clone(caller, api)
        responses = race([partial(d.post, f"/v1/devices/{target.id}/deactivate")
                          for d in (caller, twin)])
        no_server_errors(responses)
        assert [r.status_code for r in responses] == [200, 200]
        assert len(events(api, target, "deactivate")) == 1
        (released,) = events(api, target, "release")
        assert (released["lease_id"], released["detail"]) == (lease["lease_id"],
                                                              "remote_deactivation")
