"""Names people read are stored without control characters or bidirectional controls.

U+202E in a device name makes `moc.knab` read as `bank.com` on the approve page (RFC 8628
section 5.4). Every stored name refuses them with 400 naming the field; the joiners real
names use (an emoji sequence's U+200D, Persian's U+200C) stay allowed.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.server.checks import error, login_body
from tests.support.api import Api, expect

FORBIDDEN = ["\u202e", "\u202d", "\u2066", "\u200f", "\u061c", "\x07", "\x1b[31m", "\u0085",
             "\u2028", "\u2029"]


def device(name: str = "field-tablet", platform: str = "linux") -> dict[str, Any]:
    return {"fingerprint": secrets.token_hex(16), "name": name, "platform": platform}


@pytest.mark.parametrize("bad", FORBIDDEN)
def test_a_device_name_with_a_control_is_refused_everywhere(api: Api, bad: str) -> None:
    """Device login and password login both refuse the name, naming the field."""
    name = f"office{bad}pc"
    fields = error(api.post("/v1/auth/device", json=device(name)), 400,
                   "INVALID_REQUEST")["fields"]
    assert "name" in fields, fields
    account = api.create_account()
    body = login_body(account["email"], account["password"])
    body["device"]["name"] = name
    fields = error(api.post("/v1/auth/password", json=body), 400, "INVALID_REQUEST")["fields"]
    assert "device.name" in fields, fields


def test_a_platform_with_a_control_is_refused(api: Api) -> None:
    """The platform is shown too: the same rule."""
    fields = error(api.post("/v1/auth/device", json=device(platform="linux\u202e")), 400,
                   "INVALID_REQUEST")["fields"]
    assert "platform" in fields


def test_an_account_email_or_license_name_with_a_control_is_refused(api: Api) -> None:
    """The admin API refuses an email or a license name holding a bidi control or a Cc."""
    response = api.admin_post("/v1/admin/accounts", json={
        "email": f"ann\u202e{secrets.token_hex(3)}@example.test", "password": "long-enough"})
    assert "email" in error(response, 400, "INVALID_REQUEST")["fields"]
    account = api.create_account()
    response = api.admin_post("/v1/admin/licenses", json={
        "account_id": account["id"], "name": "PIX4D\x1bmapper", "kind": "subscription",
        "seats": 1})
    assert "name" in error(response, 400, "INVALID_REQUEST")["fields"]


@pytest.mark.parametrize("bad", ["\u202e", "\x1b", "\u2028"])
def test_a_seat_requests_application_name_or_version_with_a_control_is_refused(
        api: Api, bad: str) -> None:
    """The application's name and version are recorded with the lease (and shown to the
    administrator): the same rule, naming the field."""
    account = api.create_account()
    api.create_license(account["id"])
    device_ = api.login(account["email"], account["password"])
    for field in ("name", "version"):
        app = {"name": "PIX4Dmapper", "version": "4.9", "release_date": "2026-01-01"}
        app[field] = f"4{bad}9"
        response = device_.post("/v1/seats", json={"app": app})
        assert f"app.{field}" in error(response, 400, "INVALID_REQUEST")["fields"], field


@pytest.mark.parametrize("name", ["Ana\u2019s 👩\u200d💻 laptop", "کامپیوتر\u200cمن",
                                  "Zoë's MacBook Pro"])
def test_names_people_really_use_stay_allowed(api: Api, name: str) -> None:
    """Joiners and accents in a device name are accepted and kept as they were."""
    grant = expect(api.post("/v1/auth/device", json=device(name)), 200)
    assert grant["user_code"]
    account = api.create_account()
    device_ = api.login(account["email"], account["password"], name=name)
    assert device_.name == name
