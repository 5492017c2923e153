"""The device login (RFC 8628): codes, polling answers, approval on the portal, single use."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest
import requests

from tests.support.api import Api, expect
from tests.support.portal import Portal

USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")


def start(api: Api, name: str = "drone-laptop", platform: str = "linux",
          fingerprint: str | None = None) -> dict:
    device = {"fingerprint": fingerprint or secrets.token_hex(16), "name": name,
              "platform": platform}
    body: dict = expect(api.post("/v1/auth/device", json=device), 200)
    return body


def poll(api: Api, grant: dict) -> requests.Response:
    return api.post("/v1/auth/device/token", json={"device_code": grant["device_code"]})


def grant_error(response: requests.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) <= {"error", "error_description"}, body
    error: str = body["error"]
    return error


@pytest.fixture
def portal(api: Api) -> Iterator[tuple[Portal, dict]]:
    """A portal visitor signed in to a new account with one license."""
    account, _ = api.new_account()
    visitor = Portal(api.url)
    assert visitor.sign_in(account["email"], account["password"]).status_code == 303
    yield visitor, account
    visitor.close()


def test_device_authorization_hands_out_a_short_unambiguous_code(api: Api) -> None:
    """POST /v1/auth/device answers every RFC 8628 field; the user code has no 0/O or 1/I."""
    grant = start(api)
    assert USER_CODE.match(grant["user_code"]), grant
    assert grant["verification_uri"] == f"{api.url}/portal/device"
    assert grant["verification_uri_complete"] == (
        f"{api.url}/portal/device?code={grant['user_code']}")
    assert grant["interval"] == 5 and grant["expires_in"] == 600
    assert grant["device_code"] != start(api)["device_code"]


def test_polling_before_an_answer_is_pending_and_too_fast_is_slow_down(api: Api) -> None:
    """The first poll is authorization_pending; another within the interval is slow_down."""
    grant = start(api)
    assert grant_error(poll(api, grant)) == "authorization_pending"
    assert grant_error(poll(api, grant)) == "slow_down"


def test_an_unknown_device_code_is_expired_token(api: Api) -> None:
    """A device code the server never issued is answered expired_token."""
    assert grant_error(poll(api, {"device_code": "skc_" + secrets.token_urlsafe(32)})) == \
        "expired_token"


def test_a_malformed_token_request_is_invalid_request_in_the_rfc_shape(api: Api) -> None:
    """A token request without device_code is 400 invalid_request, as RFC 6749 words it."""
    assert grant_error(api.post("/v1/auth/device/token", json={})) == "invalid_request"


def test_an_approved_code_gives_a_device_token_once(api: Api,
                                                    portal: tuple[Portal, dict]) -> None:
    """After approval the poll gets a working device token; the code cannot be used again."""
    visitor, account = portal
    grant = start(api, name="field-tablet", platform="windows")
    page = visitor.get(f"/portal/device?code={grant['user_code']}")
    assert page.status_code == 200 and "field-tablet" in page.text and "windows" in page.text
    assert visitor.approve(grant["user_code"]).status_code == 200
    login = expect(poll(api, grant), 200)
    assert login["account"] == {"id": account["id"], "email": account["email"]}
    assert login["device"]["name"] == "field-tablet"
    headers = {"Authorization": f"Bearer {login['token']}"}
    assert expect(api.get("/v1/account", headers=headers), 200)["id"] == account["id"]
    assert grant_error(poll(api, grant)) == "expired_token"


def test_a_denied_code_is_access_denied(api: Api, portal: tuple[Portal, dict]) -> None:
    """A code the person denies answers access_denied, and can no longer be approved."""
    visitor, _ = portal
    grant = start(api)
    assert visitor.approve(grant["user_code"], "deny").status_code == 200
    assert grant_error(poll(api, grant)) == "access_denied"
    again = visitor.approve(grant["user_code"])
    assert again.status_code == 404 and "No device is waiting for this code" in again.text
    assert grant_error(poll(api, grant)) == "access_denied"


def test_an_unknown_user_code_is_explained_on_the_page(portal: tuple[Portal, dict]) -> None:
    """The approve page says plainly when no device waits for the code typed."""
    visitor, _ = portal
    page = visitor.get("/portal/device?code=BCDF-GHJK")
    assert page.status_code == 404 and "No device is waiting for this code" in page.text


def test_the_user_code_is_matched_without_case_or_dash(api: Api,
                                                       portal: tuple[Portal, dict]) -> None:
    """`bcdfghjk` finds the code `BCDF-GHJK`: people type it as they like."""
    visitor, _ = portal
    grant = start(api, name="typed-by-hand")
    typed = grant["user_code"].replace("-", " ").lower()
    assert "typed-by-hand" in visitor.get("/portal/device", params={"code": typed}).text


def test_the_approve_page_says_when_and_from_where_the_login_was_asked(
        api: Api, portal: tuple[Portal, dict]) -> None:
    """The page shows how long ago the code was asked for and from which address."""
    visitor, _ = portal
    grant = start(api, name="night-shift-pc")
    page = visitor.get(f"/portal/device?code={grant['user_code']}").text
    # No Accept-Language: English, the moment as Babel's `en` writes it (Dec 7, 2026, 9:05 PM).
    assert re.search(r"<dt>Asked</dt><dd>just now \([A-Z][a-z]{2} \d{1,2}, \d{4}, "
                     r"\d{1,2}:\d\d\s[AP]M UTC\)", page), page
    assert re.search(r"<dt>From address</dt><dd>127\.0\.0\.1\s+\(where you are now\)", page), page


def random_code() -> str:
    letters = "".join(secrets.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


@pytest.mark.parametrize("how", ["page", "decision"])
def test_guessing_user_codes_is_limited_per_account(api: Api, portal: tuple[Portal, dict],
                                                    how: str) -> None:
    """Ten codes that match nothing in 5 minutes, typed or posted as decisions: then 429
    with Retry-After, even for a code that is waiting (RFC 8628 section 5.1)."""
    visitor, _ = portal
    for _ in range(10):
        miss = (visitor.get(f"/portal/device?code={random_code()}") if how == "page"
                else visitor.approve(random_code()))
        assert miss.status_code == 404, miss.text
    grant = start(api)
    refused = visitor.get(f"/portal/device?code={grant['user_code']}")
    assert refused.status_code == 429 and "Too many codes" in refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 300
    assert visitor.approve(grant["user_code"]).status_code == 429
    assert grant_error(poll(api, grant)) == "authorization_pending"
