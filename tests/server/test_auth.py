"""Password login, logout, device tokens and the login rate limit."""

from __future__ import annotations

import secrets

import pytest
import requests

from tests.server.checks import address, error, login_body, post_from
from tests.support.api import Api, expect


def login(api: Api, body: dict, client: str | None = None) -> requests.Response:
    """POST /v1/auth/password from `client` (a 127.0.0.0/8 source address), or a fresh one."""
    return post_from(client or address(), f"{api.url}/v1/auth/password", json=body)


def test_login_returns_token_account_and_device(api: Api) -> None:
    """A password login is 200 with a token, the account {id, email} and the device {id, name}."""
    account = api.create_account()
    body = expect(login(api, login_body(account["email"], account["password"],
                                        name="survey-laptop")), 200)
    assert set(body) == {"token", "account", "device"}
    assert body["account"] == {"id": account["id"], "email": account["email"]}
    assert set(body["device"]) == {"id", "name"} and body["device"]["name"] == "survey-laptop"
    assert body["token"].isascii() and 0 < len(body["token"]) <= 256


def test_login_email_is_case_insensitive(api: Api) -> None:
    """The email is matched whatever its case and surrounding spaces."""
    account = api.create_account()
    shouted = f"  {account['email'].upper()} "
    body = expect(login(api, login_body(shouted, account["password"])), 200)
    assert body["account"]["id"] == account["id"]


def test_same_fingerprint_is_the_same_device_active_again(api: Api) -> None:
    """Logging in again with a logged-out device's fingerprint gives back its id, listed again."""
    account = api.create_account()
    first = api.login(account["email"], account["password"], name="old-name")
    expect(first.logout(), 204)
    again = api.login(account["email"], account["password"], fingerprint=first.fingerprint,
                      name="new-name")
    assert again.id == first.id
    listed = expect(again.get("/v1/devices"), 200)["devices"]
    assert [(d["id"], d["name"]) for d in listed] == [(first.id, "new-name")]


def test_new_login_of_a_device_supersedes_its_old_token(api: Api) -> None:
    """Logging in again on the same device revokes its earlier token (401); the new one works."""
    account = api.create_account()
    old = api.login(account["email"], account["password"])
    new = api.login(account["email"], account["password"], fingerprint=old.fingerprint)
    error(old.get("/v1/account"), 401, "UNAUTHENTICATED")
    expect(old.logout(), 204)
    expect(new.get("/v1/account"), 200)


def test_other_fingerprint_is_another_device(api: Api) -> None:
    """Another fingerprint on the same account is another device."""
    account = api.create_account()
    one = api.login(account["email"], account["password"])
    two = api.login(account["email"], account["password"])
    assert one.id != two.id


def test_one_machine_on_two_accounts_is_two_devices(api: Api) -> None:
    """The same fingerprint on another account is another device."""
    one, two = api.create_account(), api.create_account()
    first = api.login(one["email"], one["password"])
    second = api.login(two["email"], two["password"], fingerprint=first.fingerprint)
    assert first.id != second.id
    expect(first.get("/v1/account"), 200)


def test_wrong_password_and_unknown_email_get_the_same_401(api: Api) -> None:
    """A wrong password and an unknown email are the same UNAUTHENTICATED answer."""
    account = api.create_account()
    wrong = login(api, login_body(account["email"], "not-the-password"))
    unknown = login(api, login_body(f"nobody-{secrets.token_hex(4)}@example.test", "whatever"))
    assert error(wrong, 401, "UNAUTHENTICATED") == error(unknown, 401, "UNAUTHENTICATED")
    assert wrong.json() == unknown.json()


def test_logout_answers_204_and_again_204(api: Api) -> None:
    """Logout is 204, and 204 again for a token already logged out."""
    device = api.new_device()
    expect(device.logout(), 204)
    expect(device.logout(), 204)


def test_logged_out_token_is_refused_everywhere_else(api: Api) -> None:
    """After logout the token gets 401 UNAUTHENTICATED on every other call."""
    device = api.new_device()
    expect(device.logout(), 204)
    error(device.get("/v1/account"), 401, "UNAUTHENTICATED")
    error(device.get("/v1/devices"), 401, "UNAUTHENTICATED")
    error(device.acquire(), 401, "UNAUTHENTICATED")


def test_logout_releases_the_seat_and_signs_the_device_out(api: Api) -> None:
    """Logout gives the device's seat back and drops it from the account's logged-in devices."""
    device = api.new_device()
    assert device.license is not None and device.account is not None
    lease = expect(device.acquire(), 201)["lease"]
    other = api.login(device.account["email"], device.account["password"])
    expect(device.logout(), 204)
    licence = expect(api.admin_get(f"/v1/admin/licenses/{device.license['id']}"), 200)
    assert licence["seats_used"] == 0 and licence["leases"] == []
    error(device.heartbeat(lease["lease_id"]), 401, "UNAUTHENTICATED")
    listed = expect(other.get("/v1/devices"), 200)["devices"]
    assert [d["id"] for d in listed] == [other.id]


def test_logout_leaves_other_devices_logged_in(api: Api) -> None:
    """Logging out one device does not touch another device's token or seat."""
    device = api.new_device()
    assert device.account is not None
    other = api.login(device.account["email"], device.account["password"])
    lease = expect(other.acquire(), 201)["lease"]
    expect(device.logout(), 204)
    expect(other.heartbeat(lease["lease_id"]), 200)


@pytest.mark.parametrize("token", [
    "x" * 257,
    "garbage",
    "skd_" + "A" * 43,
    "",
], ids=["257-chars", "garbage", "well-formed-unknown", "empty"])
def test_bad_device_tokens_get_401(api: Api, token: str) -> None:
    """A token over 256 characters, unknown, or empty is 401 UNAUTHENTICATED."""
    response = api.get("/v1/account", headers={"Authorization": f"Bearer {token}"})
    error(response, 401, "UNAUTHENTICATED")
    error(api.post("/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}),
          401, "UNAUTHENTICATED")


def test_non_ascii_token_gets_401(api: Api) -> None:
    """A token with non-ASCII bytes is 401, not a server error."""
    response = api.get("/v1/account", headers={"Authorization": b"Bearer caf\xe9"})
    error(response, 401, "UNAUTHENTICATED")


def test_missing_or_non_bearer_authorization_gets_401(api: Api) -> None:
    """No Authorization header, or a non-Bearer scheme, is 401."""
    error(api.get("/v1/account"), 401, "UNAUTHENTICATED")
    error(api.get("/v1/account", headers={"Authorization": "Basic dXNlcjpwYXNz"}),
          401, "UNAUTHENTICATED")
