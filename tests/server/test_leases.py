"""A lease's life: heartbeats, release by device or release token, expiry, admin revocation."""

from __future__ import annotations

import secrets

import pytest
import requests

from tests.server.checks import epoch, error, next_second, verify, wait_for
from tests.support.api import Api, Device, expect


def release_with_token(api: Api, lease: dict, token: str | None = None,
                       reason: str | None = None) -> requests.Response:
    """DELETE the lease with only a Seat-Release-Token (its own unless `token` is given)."""
    params = {"reason": reason} if reason else None
    return api.delete(f"/v1/seats/{lease['lease_id']}", params=params,
                      headers={"Seat-Release-Token": token or lease["release_token"]})


def test_heartbeat_extends_the_lease_to_now_plus_ttl(short_api: Api) -> None:
    """A heartbeat answers the signed lease with expires_at moved to server_time + ttl_s."""
    device = short_api.new_device()
    first = expect(device.acquire(), 201)["lease"]
    next_second()
    envelope = expect(device.heartbeat(first["lease_id"]), 200)
    lease = envelope["lease"]
    verify(short_api, envelope)
    assert "release_token" not in lease
    assert lease["lease_id"] == first["lease_id"] and lease["issued_at"] == first["issued_at"]
    assert epoch(lease["expires_at"]) == epoch(lease["server_time"]) + lease["ttl_s"]
    assert epoch(lease["expires_at"]) > epoch(first["expires_at"])
    assert lease["ttl_s"] == 2 and lease["heartbeat_interval_s"] == 1
    (listed,) = expect(device.get("/v1/devices"), 200)["devices"]
    assert listed["last_heartbeat_at"] == lease["server_time"]
    assert listed["seat"]["expires_at"] == lease["expires_at"]


def test_heartbeats_keep_a_lease_alive_past_its_ttl(short_api: Api) -> None:
    """A lease kept beating outlives its first ttl_s and is still the device's seat."""
    device = short_api.new_device(seats=1)
    lease = expect(device.acquire(), 201)["lease"]
    for _ in range(4):
        next_second()
        expect(device.heartbeat(lease["lease_id"]), 200)
    listed = expect(device.get("/v1/devices"), 200)["devices"]
    assert listed[0]["seat"]["lease_id"] == lease["lease_id"]


def test_heartbeat_on_another_devices_lease_is_403(api: Api) -> None:
    """A device of the same account may not heartbeat another device's lease: 403 FORBIDDEN."""
    owner = api.new_device()
    assert owner.account is not None
    other = api.login(owner.account["email"], owner.account["password"])
    lease = expect(owner.acquire(), 201)["lease"]
    error(other.heartbeat(lease["lease_id"]), 403, "FORBIDDEN")
    error(other.release(lease["lease_id"]), 403, "FORBIDDEN")
    expect(owner.heartbeat(lease["lease_id"]), 200)


def test_heartbeat_on_another_accounts_lease_is_404(api: Api) -> None:
    """Another account's lease is not found: 404, for heartbeat and release alike."""
    owner, stranger = api.new_device(), api.new_device()
    lease = expect(owner.acquire(), 201)["lease"]
    error(stranger.heartbeat(lease["lease_id"]), 404, "NOT_FOUND")
    error(stranger.release(lease["lease_id"]), 404, "NOT_FOUND")
    error(stranger.heartbeat("lea_" + secrets.token_hex(12)), 404, "NOT_FOUND")
    expect(owner.heartbeat(lease["lease_id"]), 200)


def test_release_by_device_frees_the_seat(api: Api) -> None:
    """DELETE with the device token is 204 and frees the seat; the lease's heartbeat is then 410."""
    device = api.new_device(seats=1)
    assert device.account is not None
    lease = expect(device.acquire(), 201)["lease"]
    expect(device.release(lease["lease_id"]), 204)
    error(device.heartbeat(lease["lease_id"]), 410, "LEASE_EXPIRED")
    other = api.login(device.account["email"], device.account["password"])
    expect(other.acquire(), 201)


def test_release_by_release_token_alone_frees_the_seat(api: Api) -> None:
    """DELETE with only the lease's Seat-Release-Token is 204 and frees the seat."""
    device = api.new_device(seats=1)
    lease = expect(device.acquire(), 201)["lease"]
    expect(release_with_token(api, lease, reason="shutdown"), 204)
    new = expect(device.acquire(), 201)["lease"]
    assert new["lease_id"] != lease["lease_id"]


def test_wrong_release_token_is_401(api: Api) -> None:
    """A release token that is not this lease's is 401, and the lease lives on."""
    device = api.new_device()
    lease = expect(device.acquire(), 201)["lease"]
    error(release_with_token(api, lease, token="skr_" + "x" * 43), 401, "UNAUTHENTICATED")
    error(release_with_token(api, lease, token="y" * 300), 401, "UNAUTHENTICATED")
    expect(device.heartbeat(lease["lease_id"]), 200)


def test_release_token_opens_its_own_lease_only(api: Api) -> None:
    """Another lease's release token is 401 for this lease, even on the same account."""
    one = api.new_device()
    assert one.account is not None
    two = api.login(one.account["email"], one.account["password"])
    mine, theirs = expect(one.acquire(), 201)["lease"], expect(two.acquire(), 201)["lease"]
    error(release_with_token(api, mine, token=theirs["release_token"]), 401, "UNAUTHENTICATED")
    error(api.delete("/v1/seats/lea_unknown",
                     headers={"Seat-Release-Token": mine["release_token"]}),
          401, "UNAUTHENTICATED")
    expect(one.heartbeat(mine["lease_id"]), 200)
    expect(two.heartbeat(theirs["lease_id"]), 200)


def test_release_token_does_not_authenticate_anything_else(api: Api) -> None:
    """A release token as a bearer token is 401: it releases its lease and nothing else."""
    device = api.new_device()
    lease = expect(device.acquire(), 201)["lease"]
    bearer = {"Authorization": f"Bearer {lease['release_token']}"}
    error(api.get("/v1/account", headers=bearer), 401, "UNAUTHENTICATED")
    error(api.post(f"/v1/seats/{lease['lease_id']}/heartbeat", headers=bearer),
          401, "UNAUTHENTICATED")


@pytest.mark.parametrize("reason", ["user", "shutdown", "logout", None])
def test_release_accepts_the_documented_reasons(api: Api, reason: str | None) -> None:
    """reason may be user, shutdown or logout, or left out (user)."""
    device = api.new_device()
    lease = expect(device.acquire(), 201)["lease"]
    expect(device.release(lease["lease_id"], reason=reason), 204)


def test_release_with_an_unknown_reason_is_400(api: Api) -> None:
    """Any other reason is 400 INVALID_REQUEST naming the `reason` field."""
    device = api.new_device()
    lease = expect(device.acquire(), 201)["lease"]
    details = error(device.release(lease["lease_id"], reason="bored"), 400, "INVALID_REQUEST")
    assert "reason" in details["fields"]
    expect(device.heartbeat(lease["lease_id"]), 200)


def test_release_is_idempotent(api: Api) -> None:
    """Releasing a released lease again is 204, by device token and by release token."""
    device = api.new_device()
    lease = expect(device.acquire(), 201)["lease"]
    expect(device.release(lease["lease_id"]), 204)
    expect(device.release(lease["lease_id"]), 204)
    expect(release_with_token(api, lease), 204)


def test_release_never_touches_a_newer_lease_of_the_device(api: Api) -> None:
    """Releasing an old lease again (either credential) leaves the device's newer lease live."""
    device = api.new_device(seats=1)
    old = expect(device.acquire(), 201)["lease"]
    expect(device.release(old["lease_id"]), 204)
    new = expect(device.acquire(), 201)["lease"]
    expect(device.release(old["lease_id"], reason="logout"), 204)
    expect(release_with_token(api, old, reason="shutdown"), 204)
    expect(device.heartbeat(new["lease_id"]), 200)


def test_queued_logout_with_an_old_token_spares_the_newer_login(api: Api) -> None:
    """A logout delivered late with the old token does not release the seat of a later login."""
    device = api.new_device(seats=1)
    assert device.account is not None
    old = expect(device.acquire(), 201)["lease"]
    expect(release_with_token(api, old, reason="logout"), 204)  # the queue's first step
    again = api.login(device.account["email"], device.account["password"],
                      fingerprint=device.fingerprint)
    new = expect(again.acquire(), 201)["lease"]
    expect(device.logout(), 204)  # the queue's second step, with the old token
    expect(again.heartbeat(new["lease_id"]), 200)
    assert expect(again.get("/v1/devices"), 200)["devices"][0]["seat"]["lease_id"] == \
        new["lease_id"]


def expired(device: Device, lease_id: str) -> bool:
    """True once the server no longer counts the lease (no heartbeat sent in the probe)."""
    seat = expect(device.get("/v1/devices"), 200)["devices"]
    return all(d["seat"] is None or d["seat"]["lease_id"] != lease_id for d in seat)


def test_silent_lease_is_reclaimed_and_its_seat_freed(short_api: Api) -> None:
    """After ttl_s without a heartbeat the seat is free for another device; late heartbeat 410."""
    device = short_api.new_device(seats=1)
    assert device.account is not None
    lease = expect(device.acquire(), 201)["lease"]
    other = short_api.login(device.account["email"], device.account["password"])
    error(other.acquire(), 409, "SEAT_LIMIT_REACHED")
    wait_for(lambda: expired(device, lease["lease_id"]))
    taken = expect(other.acquire(), 201)["lease"]
    assert taken["license"]["seats_used"] == 1
    details = error(device.heartbeat(lease["lease_id"]), 410, "LEASE_EXPIRED")
    assert details.get("lease_id", lease["lease_id"]) == lease["lease_id"]
    error(device.acquire(), 409, "SEAT_LIMIT_REACHED")


def test_silent_lease_is_not_revived_by_a_late_heartbeat(short_api: Api) -> None:
    """Past ttl_s a heartbeat is 410 even with the seat still free; acquiring gives a new lease."""
    device = short_api.new_device(seats=1)
    lease = expect(device.acquire(), 201)["lease"]
    wait_for(lambda: expired(device, lease["lease_id"]))
    error(device.heartbeat(lease["lease_id"]), 410, "LEASE_EXPIRED")
    again = expect(device.acquire(), 201)["lease"]
    assert again["lease_id"] != lease["lease_id"] and again["license"]["seats_used"] == 1


def test_releasing_an_expired_lease_is_204(short_api: Api) -> None:
    """Release of a lease that already expired is 204 (idempotent), with either credential."""
    device = short_api.new_device()
    lease = expect(device.acquire(), 201)["lease"]
    wait_for(lambda: expired(device, lease["lease_id"]))
    expect(device.release(lease["lease_id"]), 204)
    expect(release_with_token(short_api, lease), 204)


def test_admin_release_revokes_the_lease_and_keeps_the_token(api: Api) -> None:
    """After an admin release: heartbeat 410 LEASE_REVOKED (admin); the token still works."""
    device = api.new_device(seats=1)
    lease = expect(device.acquire(), 201)["lease"]
    expect(api.admin_delete(f"/v1/admin/leases/{lease['lease_id']}"), 204)
    expect(api.admin_delete(f"/v1/admin/leases/{lease['lease_id']}"), 204)
    details = error(device.heartbeat(lease["lease_id"]), 410, "LEASE_REVOKED")
    assert details["reason"] == "admin"
    expect(device.get("/v1/account"), 200)
    new = expect(device.acquire(), 201)["lease"]
    assert new["lease_id"] != lease["lease_id"]


def test_admin_release_of_an_unknown_lease_is_404(api: Api) -> None:
    """Force-releasing a lease that never existed is 404 NOT_FOUND."""
    error(api.admin_delete("/v1/admin/leases/lea_" + secrets.token_hex(12)), 404, "NOT_FOUND")
