"""An account's devices: the listing, and remote deactivation with its switch."""

from __future__ import annotations

import secrets

import requests

from tests.server.checks import RFC3339, error, wait_for
from tests.support.api import Api, Device, expect

DEVICE_FIELDS = {"id", "name", "platform", "current", "seat", "last_heartbeat_at"}


def switch(device: Device, enabled: object) -> requests.Response:
    return device.put("/v1/account/remote-deactivation", json={"enabled": enabled})


def two_devices(api: Api, seats: int = 3) -> tuple[Device, Device]:
    """Two logged-in devices of a new account with one license."""
    first = api.new_device(seats=seats, device_name="office-pc")
    assert first.account is not None
    second = api.login(first.account["email"], first.account["password"], name="field-laptop",
                       platform="windows")
    second.account, second.license = first.account, first.license
    return first, second


def with_deactivation_on(api: Api) -> tuple[Device, Device]:
    """Two devices of an account whose remote deactivation is switched on."""
    first, second = two_devices(api)
    expect(first.put("/v1/account/remote-deactivation", json={"enabled": True}), 200)
    return first, second


def test_devices_lists_the_accounts_logged_in_devices(api: Api) -> None:
    """GET /v1/devices lists every logged-in device, marks the caller current, shows seats."""
    first, second = two_devices(api)
    lease = expect(second.acquire(), 201)["lease"]
    listed = {d["id"]: d for d in expect(first.get("/v1/devices"), 200)["devices"]}
    assert set(listed) == {first.id, second.id}
    assert all(set(d) == DEVICE_FIELDS for d in listed.values())
    me, other = listed[first.id], listed[second.id]
    assert (me["current"], other["current"]) == (True, False)
    assert (me["name"], me["platform"]) == ("office-pc", "linux")
    assert (other["name"], other["platform"]) == ("field-laptop", "windows")
    assert me["seat"] is None and me["last_heartbeat_at"] is None
    assert other["seat"] == {"lease_id": lease["lease_id"], "license_id": lease["license"]["id"],
                             "expires_at": lease["expires_at"], "borrowed_until": None}
    assert RFC3339.match(other["last_heartbeat_at"])


def test_devices_leaves_out_logged_out_devices(api: Api) -> None:
    """A device that logged out is not listed; its seat is gone with it."""
    first, second = two_devices(api)
    expect(second.acquire(), 201)
    expect(second.logout(), 204)
    listed = expect(first.get("/v1/devices"), 200)["devices"]
    assert [d["id"] for d in listed] == [first.id]


def test_devices_lists_only_the_callers_account(api: Api) -> None:
    """Another account's devices never appear."""
    first, _ = two_devices(api)
    stranger = api.new_device()
    ids = {d["id"] for d in expect(stranger.get("/v1/devices"), 200)["devices"]}
    assert ids == {stranger.id} and first.id not in ids


def test_switching_on_while_another_device_holds_a_seat_is_409(api: Api) -> None:
    """Remote deactivation cannot be switched on while another device holds a seat."""
    first, second = two_devices(api)
    expect(second.acquire(), 201)
    error(switch(first, True), 409, "ACTIVE_DEVICE_EXISTS")
    assert expect(first.get("/v1/account"), 200)["remote_deactivation"] is False


def test_switching_on_while_the_caller_holds_a_seat_is_409(api: Api) -> None:
    """The caller's own seat counts too: 409 ACTIVE_DEVICE_EXISTS."""
    first, _ = two_devices(api)
    expect(first.acquire(), 201)
    error(switch(first, True), 409, "ACTIVE_DEVICE_EXISTS")


def test_switching_on_after_every_seat_is_released_is_200(api: Api) -> None:
    """Once no device holds a seat it switches on; switching on again is 200 too."""
    first, second = two_devices(api)
    lease = expect(second.acquire(), 201)["lease"]
    expect(second.release(lease["lease_id"]), 204)
    assert expect(switch(first, True), 200) == {"enabled": True}
    assert expect(first.get("/v1/account"), 200)["remote_deactivation"] is True
    expect(second.acquire(), 201)
    assert expect(switch(first, True), 200) == {"enabled": True}


def test_an_expired_lease_does_not_block_switching_on(short_api: Api) -> None:
    """A seat whose lease ran out without a heartbeat is not held: switching on is 200."""
    device = short_api.new_device()
    lease = expect(device.acquire(), 201)["lease"]
    error(switch(device, True), 409, "ACTIVE_DEVICE_EXISTS")
    wait_for(lambda: expect(device.get("/v1/devices"), 200)["devices"][0]["seat"] is None)
    assert expect(switch(device, True), 200) == {"enabled": True}
    error(device.heartbeat(lease["lease_id"]), 410, "LEASE_EXPIRED")


def test_switching_off_is_always_allowed(api: Api) -> None:
    """Switching off is 200 even while seats are held."""
    first, second = with_deactivation_on(api)
    expect(second.acquire(), 201)
    assert expect(switch(first, False), 200) == {"enabled": False}
    assert expect(first.get("/v1/account"), 200)["remote_deactivation"] is False


def test_deactivating_another_device_frees_its_seat_and_revokes_its_token(api: Api) -> None:
    """Deactivation answers the device, frees its seat, and its token is 401 from then on."""
    first, second = with_deactivation_on(api)
    lease = expect(second.acquire(), 201)["lease"]
    body = expect(first.post(f"/v1/devices/{second.id}/deactivate"), 200)
    assert set(body) == DEVICE_FIELDS
    assert (body["id"], body["name"], body["current"], body["seat"]) == (
        second.id, "field-laptop", False, None)
    admin_view = expect(api.admin_get(f"/v1/admin/licenses/{lease['license']['id']}"), 200)
    assert admin_view["seats_used"] == 0
    error(second.get("/v1/devices"), 401, "UNAUTHENTICATED")
    error(second.acquire(), 401, "UNAUTHENTICATED")
    listed = expect(first.get("/v1/devices"), 200)["devices"]
    assert [d["id"] for d in listed] == [first.id]


def test_deactivated_device_learns_why_at_its_next_heartbeat(api: Api) -> None:
    """Its next heartbeat is 410 LEASE_REVOKED, reason remote_deactivation, despite the token."""
    first, second = with_deactivation_on(api)
    lease = expect(second.acquire(), 201)["lease"]
    expect(first.post(f"/v1/devices/{second.id}/deactivate"), 200)
    details = error(second.heartbeat(lease["lease_id"]), 410, "LEASE_REVOKED")
    assert details["reason"] == "remote_deactivation"
    expect(second.logout(), 204)


def test_deactivated_device_can_log_in_again(api: Api) -> None:
    """A deactivated device logs in again as the same device and can take a seat."""
    first, second = with_deactivation_on(api)
    assert second.account is not None
    expect(first.post(f"/v1/devices/{second.id}/deactivate"), 200)
    again = api.login(second.account["email"], second.account["password"],
                      fingerprint=second.fingerprint)
    assert again.id == second.id
    expect(again.acquire(), 201)


def test_deactivation_while_switched_off_is_403(api: Api) -> None:
    """With remote deactivation off: 403 REMOTE_DEACTIVATION_DISABLED, and nothing changes."""
    first, second = two_devices(api)
    lease = expect(second.acquire(), 201)["lease"]
    error(first.post(f"/v1/devices/{second.id}/deactivate"), 403,
          "REMOTE_DEACTIVATION_DISABLED")
    expect(second.heartbeat(lease["lease_id"]), 200)


def test_deactivating_the_callers_own_device_is_400(api: Api) -> None:
    """The caller's own device cannot be deactivated (log out instead): 400."""
    first, _ = with_deactivation_on(api)
    error(first.post(f"/v1/devices/{first.id}/deactivate"), 400, "INVALID_REQUEST")
    expect(first.get("/v1/account"), 200)


def test_deactivating_another_accounts_device_is_404(api: Api) -> None:
    """Another account's device, or one that does not exist, is 404 NOT_FOUND."""
    first, _ = with_deactivation_on(api)
    stranger = api.new_device()
    error(first.post(f"/v1/devices/{stranger.id}/deactivate"), 404, "NOT_FOUND")
    error(first.post(f"/v1/devices/dev_{secrets.token_hex(12)}/deactivate"), 404, "NOT_FOUND")
    expect(stranger.get("/v1/account"), 200)
