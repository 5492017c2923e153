"""Borrowing a seat for offline work: the license's max_borrow_s, PATCH, and the borrow rules."""

from __future__ import annotations

import time
from typing import Any

import requests

from tests.server.checks import epoch, error, next_second, verify
from tests.support.api import Api, Device, expect

DAY = 86400


def rfc3339(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def borrowing_device(api: Api, max_borrow_s: int = 7 * DAY, seats: int = 3,
                     **license_kw: Any) -> tuple[Device, dict]:
    """A device of a new account whose license allows borrowing, holding a seat."""
    device = api.new_device(seats=seats, max_borrow_s=max_borrow_s, **license_kw)
    return device, expect(device.acquire(), 201)["lease"]


def test_licenses_show_max_borrow_s_and_patch_changes_it(api: Api) -> None:
    """A license allows no borrowing unless created so; PATCH changes only the fields given."""
    account = api.create_account()
    plain = api.create_license(account["id"])
    assert plain["max_borrow_s"] == 0
    lic = api.create_license(account["id"], seats=2, max_borrow_s=3 * DAY)
    assert lic["max_borrow_s"] == 3 * DAY
    changed = expect(api.admin_patch(f"/v1/admin/licenses/{lic['id']}",
                                     json={"max_borrow_s": 7 * DAY, "seats": 5}), 200)
    assert (changed["max_borrow_s"], changed["seats_total"], changed["name"]) == \
        (7 * DAY, 5, lic["name"])
    assert expect(api.admin_get(f"/v1/admin/licenses/{lic['id']}"), 200)["max_borrow_s"] == \
        7 * DAY
    ends = expect(api.admin_patch(f"/v1/admin/licenses/{lic['id']}",
                                  json={"expires_at": "2099-01-01T00:00:00Z"}), 200)
    assert (ends["expires_at"], ends["max_borrow_s"]) == ("2099-01-01T00:00:00Z", 7 * DAY)
    cleared = expect(api.admin_patch(f"/v1/admin/licenses/{lic['id']}",
                                     json={"expires_at": None}), 200)
    assert cleared["expires_at"] is None


def test_patch_refuses_bad_changes_clearly(api: Api) -> None:
    """Unknown license 404; a negative or null value, or an expiry on a perpetual one, 400."""
    account = api.create_account()
    lic = api.create_license(account["id"])
    perpetual = api.create_license(account["id"], kind="perpetual", support_until="2027-01-01")
    error(api.admin_patch("/v1/admin/licenses/lic_nope", json={"seats": 2}), 404, "NOT_FOUND")
    for body in ({"max_borrow_s": -1}, {"seats": None}, {"max_borrow_s": "7d"}):
        error(api.admin_patch(f"/v1/admin/licenses/{lic['id']}", json=body), 400,
              "INVALID_REQUEST")
    error(api.admin_patch(f"/v1/admin/licenses/{perpetual['id']}",
                          json={"expires_at": "2099-01-01T00:00:00Z"}), 400, "INVALID_REQUEST")
    error(requests.patch(f"{api.url}/v1/admin/licenses/{lic['id']}", json={"seats": 9},
                         timeout=10), 401, "UNAUTHENTICATED")


def test_a_license_without_borrowing_refuses_with_borrow_not_allowed(api: Api) -> None:
    """max_borrow_s 0: 403 BORROW_NOT_ALLOWED, and the lease keeps its usual expiry."""
    device = api.new_device()
    lease = expect(device.acquire(), 201)["lease"]
    details = error(device.borrow(lease["lease_id"], rfc3339(time.time() + DAY)), 403,
                    "BORROW_NOT_ALLOWED")
    assert details["max_borrow_s"] == 0
    beat = expect(device.heartbeat(lease["lease_id"]), 200)["lease"]
    assert beat["borrowed_until"] is None
    assert epoch(beat["expires_at"]) == epoch(beat["server_time"]) + beat["ttl_s"]


def test_borrow_keeps_the_seat_until_then_signed_and_shown(api: Api) -> None:
    """The signed lease expires when asked; devices and the admin view show borrowed_until."""
    device, lease = borrowing_device(api)
    until = rfc3339(time.time() + 3 * DAY)
    envelope = expect(device.borrow(lease["lease_id"], until), 200)
    verify(api, envelope)
    borrowed = envelope["lease"]
    assert borrowed["lease_id"] == lease["lease_id"] and "release_token" not in borrowed
    assert borrowed["expires_at"] == borrowed["borrowed_until"] == until
    assert borrowed["license"]["max_borrow_s"] == 7 * DAY
    (listed,) = expect(device.get("/v1/devices"), 200)["devices"]
    assert listed["seat"]["borrowed_until"] == until
    admin_view = expect(api.admin_get(f"/v1/admin/licenses/{lease['license']['id']}"), 200)
    assert [x["borrowed_until"] for x in admin_view["leases"]] == [until]


def test_borrow_is_capped_by_max_borrow_s_and_by_the_license_expiry(api: Api) -> None:
    """A borrow past the license's limit ends at now + max_borrow_s, or when the license ends."""
    device, lease = borrowing_device(api, max_borrow_s=DAY)
    capped = expect(device.borrow(lease["lease_id"], rfc3339(time.time() + 30 * DAY)), 200)
    assert epoch(capped["lease"]["expires_at"]) == epoch(capped["lease"]["server_time"]) + DAY
    ends = rfc3339(time.time() + 2 * 3600)
    device2, lease2 = borrowing_device(api, expires_at=ends)
    short = expect(device2.borrow(lease2["lease_id"], rfc3339(time.time() + 5 * DAY)), 200)
    assert short["lease"]["expires_at"] == short["lease"]["borrowed_until"] == ends


def test_borrowing_again_replaces_the_expiry(api: Api) -> None:
    """A second borrow for less time ends the seat sooner: it replaces, never adds."""
    device, lease = borrowing_device(api)
    expect(device.borrow(lease["lease_id"], rfc3339(time.time() + 5 * DAY)), 200)
    sooner = rfc3339(time.time() + DAY)
    again = expect(device.borrow(lease["lease_id"], sooner), 200)["lease"]
    assert again["expires_at"] == again["borrowed_until"] == sooner


def test_a_heartbeat_never_shortens_a_borrowed_lease(short_api: Api) -> None:
    """With 2 s leases, a heartbeat and a seat request keep the borrowed expiry."""
    device, lease = borrowing_device(short_api)
    until = rfc3339(time.time() + 3600)
    expect(device.borrow(lease["lease_id"], until), 200)
    next_second()
    beat = expect(device.heartbeat(lease["lease_id"]), 200)["lease"]
    assert beat["expires_at"] == beat["borrowed_until"] == until
    again = device.acquire()
    assert again.status_code == 200, again.text
    assert again.json()["lease"]["expires_at"] == until


def test_a_borrowed_seat_outlives_its_ttl_without_heartbeats_and_stays_counted(
        short_api: Api) -> None:
    """No heartbeat for longer than ttl_s: the borrowed seat is still held and still used."""
    device, lease = borrowing_device(short_api, seats=1)
    assert device.account is not None
    expect(device.borrow(lease["lease_id"], rfc3339(time.time() + 3600)), 200)
    time.sleep(3.2)  # longer than the short server's 2 s ttl
    other = short_api.login(device.account["email"], device.account["password"])
    error(other.acquire(), 409, "SEAT_LIMIT_REACHED")
    expect(device.heartbeat(lease["lease_id"]), 200)
    expect(device.release(lease["lease_id"]), 204)
    expect(other.acquire(), 201)


def test_a_revoked_borrowed_seat_says_so_at_the_next_contact(api: Api) -> None:
    """An administrator ends a borrowed seat: the device's next heartbeat is 410 LEASE_REVOKED."""
    device, lease = borrowing_device(api)
    expect(device.borrow(lease["lease_id"], rfc3339(time.time() + DAY)), 200)
    expect(api.admin_delete(f"/v1/admin/leases/{lease['lease_id']}"), 204)
    error(device.heartbeat(lease["lease_id"]), 410, "LEASE_REVOKED")
    error(device.borrow(lease["lease_id"], rfc3339(time.time() + DAY)), 410, "LEASE_REVOKED")


def test_borrow_refusals(api: Api) -> None:
    """A past `until` 400; another device's lease 403, another account's 404; a released one 410."""
    device, lease = borrowing_device(api)
    assert device.account is not None
    later = rfc3339(time.time() + DAY)
    error(device.borrow(lease["lease_id"], rfc3339(time.time() - 60)), 400, "INVALID_REQUEST")
    error(device.borrow(lease["lease_id"], "tomorrow"), 400, "INVALID_REQUEST")
    sibling = api.login(device.account["email"], device.account["password"])
    error(sibling.borrow(lease["lease_id"], later), 403, "FORBIDDEN")
    stranger, _ = borrowing_device(api)
    error(stranger.borrow(lease["lease_id"], later), 404, "NOT_FOUND")
    expect(device.release(lease["lease_id"]), 204)
    error(device.borrow(lease["lease_id"], later), 410, "LEASE_EXPIRED")
