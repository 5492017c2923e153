"""Acquiring a seat: the signed lease, idempotent acquire, seat limits, which license is taken."""

from __future__ import annotations

import base64
import secrets

import pytest
from cryptography.exceptions import InvalidSignature

from tests.server.checks import RFC3339, canonical, epoch, error, public_key, verify
from tests.support.api import DEFAULT_APP, Api, Device, expect

PAST = "2020-01-01T00:00:00Z"
FUTURE = "2099-01-01T00:00:00Z"
LEASE_FIELDS = {"lease_id", "account_id", "license", "device", "issued_at", "expires_at",
                "server_time", "ttl_s", "heartbeat_interval_s", "borrowed_until"}


def app(release_date: str) -> dict[str, str]:
    return {**DEFAULT_APP, "release_date": release_date}


def test_acquire_returns_201_with_a_signed_lease(api: Api) -> None:
    """A first acquire is 201 with the lease, its release token, and a signature that verifies."""
    device = api.new_device(seats=3)
    assert device.license is not None and device.account is not None
    envelope = expect(device.acquire(), 201)
    lease = envelope["lease"]
    assert set(lease) == LEASE_FIELDS | {"release_token"}
    assert lease["account_id"] == device.account["id"]
    assert lease["device"] == {"id": device.id, "name": device.name}
    assert lease["license"] == {**device.license, "seats_used": 1}
    assert lease["ttl_s"] == 900 and lease["heartbeat_interval_s"] == 300
    for field in ("issued_at", "expires_at", "server_time"):
        assert RFC3339.match(lease[field]), lease[field]
    assert epoch(lease["expires_at"]) == epoch(lease["server_time"]) + lease["ttl_s"]
    assert lease["release_token"].isascii() and len(lease["release_token"]) <= 256
    verify(api, envelope)


def test_signature_is_over_the_canonical_json_with_non_ascii_as_is(api: Api) -> None:
    """A device named in non-ASCII signs over raw UTF-8, not over `\\u` escapes."""
    name = "Zürich-Büro 測量 ✈"
    device = api.new_device(device_name=name)
    envelope = expect(device.acquire(), 201)
    assert envelope["lease"]["device"]["name"] == name
    verify(api, envelope)
    key = public_key(api, envelope["signature"]["kid"])
    signature = base64.b64decode(envelope["signature"]["value"])
    with pytest.raises(InvalidSignature):
        key.verify(signature, canonical(envelope["lease"], ensure_ascii=True))


def test_keys_publish_one_ed25519_key(api: Api) -> None:
    """/v1/keys lists the signing key: kid, alg Ed25519, a base64 32-byte public key, and
    (additive) its status, since when it signs, and no endorsement: it is the first key."""
    keys = expect(api.get("/v1/keys"), 200)["keys"]
    assert keys and all(set(k) == {"kid", "alg", "public_key", "status", "current_from",
                                   "endorsement"} for k in keys)
    assert [(k["status"], k["endorsement"]) for k in keys] == [("current", None)]
    assert RFC3339.match(keys[0]["current_from"])
    public_key(api, keys[0]["kid"])


def test_health_answers_ok_and_the_time(api: Api) -> None:
    """/v1/health is 200 {status: ok, time} without credentials."""
    body = expect(api.get("/v1/health"), 200)
    assert body["status"] == "ok" and RFC3339.match(body["time"])


def test_acquire_again_returns_the_same_lease_renewed(api: Api) -> None:
    """Acquiring again is 200 with the same lease, renewed, and without the release token."""
    device = api.new_device()
    first = expect(device.acquire(), 201)["lease"]
    again = expect(device.acquire(), 200)
    lease = again["lease"]
    assert set(lease) == LEASE_FIELDS
    assert lease["lease_id"] == first["lease_id"]
    assert lease["issued_at"] == first["issued_at"]
    assert epoch(lease["expires_at"]) == epoch(lease["server_time"]) + lease["ttl_s"]
    assert lease["license"]["seats_used"] == 1
    verify(api, again)


def test_seats_used_counts_live_leases(api: Api) -> None:
    """seats_used in leases and in /v1/account counts the license's live leases."""
    account, license = api.new_account(seats=3)
    one = api.login(account["email"], account["password"])
    two = api.login(account["email"], account["password"])
    assert expect(one.acquire(), 201)["lease"]["license"]["seats_used"] == 1
    assert expect(two.acquire(), 201)["lease"]["license"]["seats_used"] == 2
    body = expect(one.get("/v1/account"), 200)
    assert body["id"] == account["id"] and body["email"] == account["email"]
    assert body["remote_deactivation"] is False
    assert body["licenses"] == [{**license, "seats_used": 2}]


def test_full_license_answers_seat_limit_reached_with_the_holders(api: Api) -> None:
    """When every seat is held: 409 SEAT_LIMIT_REACHED with seats_total and the holding devices."""
    account, license = api.new_account(seats=2)
    holders = [api.login(account["email"], account["password"], name=f"pc-{i}")
               for i in range(2)]
    for holder in holders:
        expect(holder.acquire(), 201)
    late = api.login(account["email"], account["password"], name="late")
    details = error(late.acquire(), 409, "SEAT_LIMIT_REACHED")
    assert details["seats_total"] == 2
    assert sorted((d["id"], d["name"]) for d in details["devices"]) == sorted(
        (h.id, h.name) for h in holders)
    for listed in details["devices"]:
        assert set(listed) >= {"id", "name", "last_heartbeat_at"}
        assert RFC3339.match(listed["last_heartbeat_at"])
    again = expect(api.admin_get(f"/v1/admin/licenses/{license['id']}"), 200)
    assert again["seats_used"] == 2


def test_account_without_license_gets_no_license(api: Api) -> None:
    """An account with no license at all is 403 NO_LICENSE (Discovery mode)."""
    account = api.create_account()
    device = api.login(account["email"], account["password"])
    error(device.acquire(), 403, "NO_LICENSE")


def test_unknown_license_id_is_404(api: Api) -> None:
    """Naming a license that does not exist is 404 NOT_FOUND."""
    device = api.new_device()
    error(device.acquire(license_id="lic_" + secrets.token_hex(12)), 404, "NOT_FOUND")


def test_another_accounts_license_id_is_404(api: Api) -> None:
    """Naming another account's license is 404, as if it did not exist."""
    device, stranger = api.new_device(), api.new_device()
    assert stranger.license is not None
    error(device.acquire(license_id=stranger.license["id"]), 404, "NOT_FOUND")


def _account_with(api: Api, *licenses: dict) -> tuple[Device, list[dict]]:
    account = api.create_account()
    made = [api.create_license(account["id"], **lic) for lic in licenses]
    device = api.login(account["email"], account["password"])
    device.account = account
    return device, made


def test_acquire_takes_the_first_usable_license_in_creation_order(api: Api) -> None:
    """Without license_id, the first license (by creation) usable and with a seat is taken."""
    device, (_, first, second) = _account_with(
        api, {"name": "Old", "expires_at": PAST}, {"name": "A", "seats": 1},
        {"name": "B", "seats": 1})
    assert device.account is not None
    assert expect(device.acquire(), 201)["lease"]["license"]["id"] == first["id"]
    other = api.login(device.account["email"], device.account["password"])
    assert expect(other.acquire(), 201)["lease"]["license"]["id"] == second["id"]
    third = api.login(device.account["email"], device.account["password"])
    details = error(third.acquire(), 409, "SEAT_LIMIT_REACHED")
    assert details["seats_total"] == 1


def test_named_full_license_is_refused_even_if_another_has_seats(api: Api) -> None:
    """With license_id, only that license is considered: full means 409, no fallback."""
    device, (full, spare) = _account_with(api, {"name": "A", "seats": 1}, {"name": "B"})
    assert device.account is not None
    expect(device.acquire(license_id=full["id"]), 201)
    other = api.login(device.account["email"], device.account["password"])
    error(other.acquire(license_id=full["id"]), 409, "SEAT_LIMIT_REACHED")
    assert expect(other.acquire(license_id=spare["id"]), 201)["lease"]["license"]["id"] == \
        spare["id"]


def test_seat_limit_comes_before_support_expired_and_license_expired(api: Api) -> None:
    """Among unusable licenses, a full one answers: SEAT_LIMIT_REACHED wins."""
    device, (_, _, full) = _account_with(
        api, {"name": "Expired", "expires_at": PAST},
        {"name": "OTC", "kind": "perpetual", "support_until": "2020-01-01"},
        {"name": "Full", "seats": 1})
    assert device.account is not None
    expect(device.acquire(license_id=full["id"]), 201)
    other = api.login(device.account["email"], device.account["password"])
    assert error(other.acquire(), 409, "SEAT_LIMIT_REACHED")["seats_total"] == 1


def test_support_expired_comes_before_license_expired(api: Api) -> None:
    """Between an ended subscription and an out-of-support perpetual, SUPPORT_EXPIRED answers."""
    device, _ = _account_with(
        api, {"name": "Expired", "expires_at": PAST},
        {"name": "OTC", "kind": "perpetual", "support_until": "2020-01-01"})
    details = error(device.acquire(), 403, "SUPPORT_EXPIRED")
    assert details["support_until"] == "2020-01-01"
    assert details["app_release_date"] == DEFAULT_APP["release_date"]


def test_ended_subscription_gets_license_expired(api: Api) -> None:
    """A subscription past expires_at is 403 LICENSE_EXPIRED with expired_at."""
    device = api.new_device(expires_at=PAST)
    details = error(device.acquire(), 403, "LICENSE_EXPIRED")
    assert details["expired_at"] == PAST


def test_running_subscription_is_usable(api: Api) -> None:
    """A subscription whose expires_at is in the future gives a seat, and says when it ends."""
    device = api.new_device(expires_at=FUTURE)
    assert expect(device.acquire(), 201)["lease"]["license"]["expires_at"] == FUTURE


@pytest.mark.parametrize("release_date", ["2026-06-01", "2020-01-01"],
                         ids=["released-on-support-end", "released-before"])
def test_perpetual_license_covers_apps_released_up_to_support_until(
        api: Api, release_date: str) -> None:
    """A perpetual license gives a seat to an app released on or before support_until."""
    device = api.new_device(kind="perpetual", support_until="2026-06-01")
    lease = expect(device.acquire(app=app(release_date)), 201)["lease"]
    assert lease["license"]["kind"] == "perpetual"
    assert lease["license"]["support_until"] == "2026-06-01"
    assert lease["license"]["expires_at"] is None


def test_perpetual_license_refuses_apps_released_after_support_until(api: Api) -> None:
    """An app released after support_until is 403 SUPPORT_EXPIRED with both dates."""
    device = api.new_device(kind="perpetual", support_until="2026-06-01")
    details = error(device.acquire(app=app("2026-06-02")), 403, "SUPPORT_EXPIRED")
    assert details["support_until"] == "2026-06-01"
    assert details["app_release_date"] == "2026-06-02"


def test_perpetual_license_without_support_until_covers_every_release(api: Api) -> None:
    """A perpetual license with no support_until has no limit."""
    device = api.new_device(kind="perpetual")
    expect(device.acquire(app=app("2099-12-31")), 201)


def test_a_device_holds_one_lease_per_license(api: Api) -> None:
    """A device that holds a seat on one license gets that lease back, not a second seat."""
    device, (first, _) = _account_with(api, {"name": "A"}, {"name": "B"})
    lease_id = expect(device.acquire(), 201)["lease"]["lease_id"]
    again = expect(device.acquire(license_id=first["id"]), 200)["lease"]
    assert again["lease_id"] == lease_id
    assert again["license"]["seats_used"] == 1
