"""The operator's API: accounts, licenses, the live leases of a license, and who may call it."""

from __future__ import annotations

import secrets

import pytest
import requests

from tests.server.checks import RFC3339, error
from tests.support.api import Api, expect

LICENSE_FIELDS = {"id", "account_id", "name", "kind", "seats_total", "seats_used", "expires_at",
                  "support_until", "max_borrow_s"}


def new_license(api: Api, **fields: object) -> requests.Response:
    """POST /v1/admin/licenses for a new account with these fields over sane defaults."""
    account = api.create_account()
    body = {"account_id": account["id"], "name": "PIX4Dmapper", "kind": "subscription",
            "seats": 2, **fields}
    return api.admin_post("/v1/admin/licenses", json=body)


def test_create_account_answers_id_and_email(api: Api) -> None:
    """POST /v1/admin/accounts is 201 {id, email}, the email in lower case."""
    email = f"New-{secrets.token_hex(4)}@Example.TEST"
    body = expect(api.admin_post("/v1/admin/accounts",
                                 json={"email": email, "password": "long-enough"}), 201)
    assert set(body) == {"id", "email"} and body["email"] == email.lower()


def test_duplicate_email_is_400_naming_email(api: Api) -> None:
    """An email already registered, in any case, is 400 INVALID_REQUEST naming `email`."""
    account = api.create_account()
    for email in (account["email"], account["email"].upper()):
        response = api.admin_post("/v1/admin/accounts",
                                  json={"email": email, "password": "long-enough"})
        assert "email" in error(response, 400, "INVALID_REQUEST")["fields"]


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "no-at-sign", "password": "long-enough"}, "email"),
    ({"email": "a@b.test", "password": "short"}, "password"),
    ({"email": "a@b.test"}, "password"),
    ({"email": 5, "password": "long-enough"}, "email"),
], ids=["email", "short-password", "no-password", "email-type"])
def test_create_account_with_a_bad_field_is_400(api: Api, body: dict, field: str) -> None:
    """A bad email or password is 400 naming the field."""
    error_fields = error(api.admin_post("/v1/admin/accounts", json=body), 400,
                         "INVALID_REQUEST")["fields"]
    assert field in error_fields


def test_create_license_answers_the_license(api: Api) -> None:
    """POST /v1/admin/licenses is 201 with the license shape, no seat used yet."""
    body = expect(new_license(api, seats=5, expires_at="2099-01-01T00:00:00Z"), 201)
    assert set(body) == LICENSE_FIELDS
    assert (body["kind"], body["seats_total"], body["seats_used"]) == ("subscription", 5, 0)
    assert body["expires_at"] == "2099-01-01T00:00:00Z" and body["support_until"] is None


def test_create_license_writes_times_in_utc(api: Api) -> None:
    """An expires_at given with an offset comes back as the same instant with `Z`."""
    body = expect(new_license(api, expires_at="2027-01-01T01:30:00+01:30"), 201)
    assert body["expires_at"] == "2027-01-01T00:00:00Z"


def test_create_license_for_an_unknown_account_is_404(api: Api) -> None:
    """A license for an account that does not exist is 404 NOT_FOUND."""
    body = {"account_id": "acc_" + secrets.token_hex(12), "name": "X", "kind": "subscription",
            "seats": 1}
    error(api.admin_post("/v1/admin/licenses", json=body), 404, "NOT_FOUND")


@pytest.mark.parametrize(("fields", "field"), [
    ({"seats": 0}, "seats"),
    ({"seats": "3"}, "seats"),
    ({"seats": True}, "seats"),
    ({"kind": "lifetime"}, "kind"),
    ({"name": ""}, "name"),
    ({"expires_at": "tomorrow"}, "expires_at"),
    ({"expires_at": "2027-01-01T00:00:00"}, "expires_at"),
    ({"expires_at": "9999-12-31T23:59:59-05:00"}, "expires_at"),
    ({"expires_at": "0001-01-01T00:00:00+01:00"}, "expires_at"),
    ({"support_until": "2027-02-30"}, "support_until"),
    ({"kind": "perpetual", "expires_at": "2099-01-01T00:00:00Z"}, "expires_at"),
], ids=["zero-seats", "seats-string", "seats-bool", "kind", "name", "time-text", "time-naive",
        "time-after-9999", "time-before-1970", "date", "perpetual-expiring"])
def test_create_license_with_a_bad_field_is_400(api: Api, fields: dict, field: str) -> None:
    """Out-of-range, ill-typed or contradictory license fields are 400 naming the field."""
    details = error(new_license(api, **fields), 400, "INVALID_REQUEST")
    assert field in details["fields"], details


def test_admin_license_lists_its_live_leases(api: Api) -> None:
    """GET /v1/admin/licenses/{id} is the license plus its live leases, released ones left out."""
    account, license = api.new_account(seats=3)
    kept = api.login(account["email"], account["password"], name="kept")
    gone = api.login(account["email"], account["password"], name="gone")
    lease = expect(kept.acquire(), 201)["lease"]
    released = expect(gone.acquire(), 201)["lease"]
    expect(gone.release(released["lease_id"]), 204)
    body = expect(api.admin_get(f"/v1/admin/licenses/{license['id']}"), 200)
    assert {k: v for k, v in body.items() if k != "leases"} == {**license, "seats_used": 1,
                                                                "revoked_at": None}
    (listed,) = body["leases"]
    assert set(listed) == {"lease_id", "device", "issued_at", "expires_at", "last_heartbeat_at",
                           "borrowed_until"}
    assert listed["lease_id"] == lease["lease_id"]
    assert listed["device"] == {"id": kept.id, "name": "kept"}
    assert (listed["issued_at"], listed["expires_at"]) == (lease["issued_at"],
                                                           lease["expires_at"])
    assert RFC3339.match(listed["last_heartbeat_at"])


def test_admin_license_unknown_is_404(api: Api) -> None:
    """An unknown license id is 404 NOT_FOUND."""
    error(api.admin_get("/v1/admin/licenses/lic_" + secrets.token_hex(12)), 404, "NOT_FOUND")


def test_device_token_on_admin_endpoints_is_403(api: Api) -> None:
    """A device token is authenticated but not allowed on any /v1/admin/* endpoint: 403."""
    device = api.new_device()
    assert device.license is not None
    lease = expect(device.acquire(), 201)["lease"]
    error(device.post("/v1/admin/accounts", json={"email": "x@y.test", "password": "12345678"}),
          403, "FORBIDDEN")
    error(device.post("/v1/admin/licenses", json={}), 403, "FORBIDDEN")
    error(device.get(f"/v1/admin/licenses/{device.license['id']}"), 403, "FORBIDDEN")
    error(device.delete(f"/v1/admin/leases/{lease['lease_id']}"), 403, "FORBIDDEN")
    expect(device.heartbeat(lease["lease_id"]), 200)


@pytest.mark.parametrize("token", [None, "wrong-admin-token", "x" * 300])
def test_missing_or_wrong_admin_token_is_401(api: Api, token: str | None) -> None:
    """No admin token, or a wrong one, is 401 UNAUTHENTICATED."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    error(api.get("/v1/admin/licenses/lic_x", headers=headers), 401, "UNAUTHENTICATED")
    error(api.post("/v1/admin/accounts", json={"email": "a@b.test", "password": "12345678"},
                   headers=headers), 401, "UNAUTHENTICATED")
