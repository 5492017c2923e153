"""The administrator's console against the real server: who may sign in, what each action does
to seats, tokens and logins, and that each is in the audit trail under the administrator."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.server.checks import address, client_at, error, login_body, post_from
from tests.server.test_concurrency import no_server_errors, race
from tests.server.test_device_grant import grant_error, poll, start
from tests.support.api import Api, expect
from tests.support.console import Console, create_admin
from tests.support.portal import Portal
from tests.support.procs import ServerProcess

ONE_TIME = re.compile(r'id="one-time-password">([^<]+)<')


@pytest.fixture(scope="module")
def admin(server: ServerProcess, db_url: str, backend_dir: Path,
          signing_key_path: Path) -> dict[str, str]:
    """An administrator, made with `seatkeeper-server admin create-admin`."""
    return create_admin(db_url, backend_dir / "admin-cli-home", signing_key_path)


@pytest.fixture
def console(server: ServerProcess, admin: dict[str, str]) -> Iterator[Console]:
    """The console, signed in as the administrator, from an address of its own."""
    visitor = Console(server.url, client_at(address()))
    assert visitor.sign_in(admin["email"], admin["password"]).status_code == 303
    yield visitor
    visitor.close()


def trail(api: Api, **filters: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = expect(api.admin_get("/v1/admin/audit", params=filters),
                                          200)["events"]
    return events


def test_only_an_administrator_signs_in_with_a_cookie_of_the_consoles_own(
        server: ServerProcess, api: Api, admin: dict[str, str]) -> None:
    """A user's right password is refused (403, no session); the administrator's session
    cookie is HttpOnly, SameSite=Strict, Path=/admin, and opens nothing on the portal."""
    account, _ = api.new_account()
    user = Console(server.url, client_at(address()))
    try:
        refused = user.sign_in(account["email"], account["password"])
        assert refused.status_code == 403 and "not an administrator" in refused.text
        assert "seatkeeper_admin=" not in refused.headers.get("set-cookie", "")
        assert user.get("/admin/accounts").status_code == 303
    finally:
        user.close()
    visitor = Console(server.url, client_at(address()))
    try:
        signed = visitor.sign_in(admin["email"], admin["password"])
        cookie = next(c for c in signed.raw.headers.getlist("Set-Cookie")
                      if c.startswith("seatkeeper_admin="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
        assert "Secure" not in cookie  # plain http on loopback; HTTPS adds it
        page = visitor.get("/admin/accounts")
        assert page.status_code == 200 and "Content-Security-Policy" in page.headers
        assert page.headers["X-Frame-Options"] == "DENY"
        value = visitor.session.cookies["seatkeeper_admin"]
        portal = requests.get(f"{server.url}/portal/account", allow_redirects=False,
                              cookies={"seatkeeper_portal": value}, timeout=10)
        assert portal.status_code == 303  # to the portal's sign-in
        assert visitor.post("/admin/sign-out").status_code == 303
        assert visitor.get("/admin/accounts").status_code == 303
    finally:
        visitor.close()
    owner = Portal(server.url)
    try:
        assert owner.sign_in(admin["email"], admin["password"]).status_code == 303
        value = owner.session.cookies["seatkeeper_portal"]
        gone = requests.get(f"{server.url}/admin/accounts", allow_redirects=False,
                            cookies={"seatkeeper_admin": value}, timeout=10)
        assert gone.status_code == 303 and "/admin/sign-in" in gone.headers["location"]
    finally:
        owner.close()


def test_every_console_form_is_refused_without_its_csrf_token(console: Console,
                                                               api: Api) -> None:
    """Each action posted without the session's token, or with another, is 403 and does
    nothing: the account stays enabled, the seat held, the license as it was."""
    device = api.new_device()
    assert device.account is not None and device.license is not None
    lease = expect(device.acquire(), 201)["lease"]
    account_id, license_id = device.account["id"], device.license["id"]
    for path, form in ((f"/admin/accounts/{account_id}/disable", {}),
                       (f"/admin/accounts/{account_id}/enable", {}),
                       (f"/admin/accounts/{account_id}/password", {"password": "p" * 12}),
                       (f"/admin/accounts/{account_id}/licenses",
                        {"name": "X", "kind": "subscription", "seats": "1"}),
                       ("/admin/accounts", {"email": "forged@example.test"}),
                       (f"/admin/licenses/{license_id}", {"seats": "9"}),
                       (f"/admin/licenses/{license_id}/revoke", {"confirm": "yes"}),
                       (f"/admin/leases/{lease['lease_id']}/release", {}),
                       ("/admin/sign-out", {})):
        assert console.post(path, form, with_csrf=False).status_code == 403, path
        assert console.post(path, {**form, "csrf": "forged"}, with_csrf=False
                            ).status_code == 403, path
    expect(device.heartbeat(lease["lease_id"]), 200)
    assert expect(api.admin_get(f"/v1/admin/licenses/{license_id}"), 200)["seats_total"] == 3
    assert console.get("/admin/accounts").status_code == 200  # still signed in


def test_disabling_an_account_revokes_its_seats_and_its_tokens(
        console: Console, api: Api, admin: dict[str, str], server: ServerProcess) -> None:
    """Disabled: the seat's next heartbeat is 410 LEASE_REVOKED (admin), any other call with
    the token 401, a login 403 saying the account is disabled; enabled again, it logs in."""
    device = api.new_device(device_name="office-pc")
    assert device.account is not None
    account = device.account
    idle = api.login(account["email"], account["password"], name="idle-laptop")
    lease = expect(device.acquire(), 201)["lease"]
    done = console.post(f"/admin/accounts/{account['id']}/disable")
    assert done.status_code == 303 and done.headers["location"].endswith("done=account-disabled")
    page = console.get(f"/admin/accounts/{account['id']}").text
    assert "Disabled" in page and "its seats are ended" in console.get(
        done.headers["location"]).text
    assert error(device.heartbeat(lease["lease_id"]), 410, "LEASE_REVOKED")["reason"] == "admin"
    error(device.get("/v1/account"), 401, "UNAUTHENTICATED")
    error(idle.get("/v1/devices"), 401, "UNAUTHENTICATED")
    body = login_body(account["email"], account["password"])
    refused = post_from(address(), f"{api.url}/v1/auth/password", json=body)
    assert error(refused, 403, "FORBIDDEN")["reason"] == "account_disabled"
    assert "disabled" in refused.json()["error"]["message"]
    portal = Portal(server.url)
    try:
        page_refused = portal.sign_in(account["email"], account["password"])
        assert page_refused.status_code == 403 and "This account is disabled" in page_refused.text
    finally:
        portal.close()
    (disabled,) = trail(api, account_id=account["id"], event="account_disabled")
    assert disabled["actor"] == f"console:{admin['id']}"
    assert disabled["detail"] == "1 seat(s) ended, 2 device(s) signed out"
    (release,) = trail(api, account_id=account["id"], event="release")
    assert (release["actor"], release["detail"]) == (f"console:{admin['id']}", "admin")
    assert console.post(f"/admin/accounts/{account['id']}/enable").status_code == 303
    again = api.login(account["email"], account["password"], name="office-pc")
    expect(again.get("/v1/account"), 200)
    error(device.get("/v1/account"), 401, "UNAUTHENTICATED")  # the old login stays ended
    (enabled,) = trail(api, account_id=account["id"], event="account_enabled")
    assert enabled["actor"] == f"console:{admin['id']}"


def test_a_device_login_approved_before_the_disabling_is_denied(console: Console,
                                                                api: Api) -> None:
    """The owner approved a browser login on the portal, then the account was disabled
    before the device asked for its token: the device hears access_denied."""
    account, _ = api.new_account()
    owner = Portal(api.url)
    try:
        assert owner.sign_in(account["email"], account["password"]).status_code == 303
        grant = start(api, name="field-tablet")
        assert owner.approve(grant["user_code"]).status_code == 200
    finally:
        owner.close()
    assert console.post(f"/admin/accounts/{account['id']}/disable").status_code == 303
    assert grant_error(poll(api, grant)) == "access_denied"


def test_an_administrator_disables_another_not_themself(
        console: Console, admin: dict[str, str], server: ServerProcess, db_url: str,
        backend_dir: Path, signing_key_path: Path) -> None:
    """Disabling oneself is refused with the reason; another administrator, disabled, is
    out of the console at once and cannot sign in again."""
    refused = console.post(f"/admin/accounts/{admin['id']}/disable")
    assert refused.status_code == 400 and "your own account" in refused.text
    assert console.get("/admin/accounts").status_code == 200
    colleague = create_admin(db_url, backend_dir / "admin-cli-home", signing_key_path)
    other = Console(server.url, client_at(address()))
    try:
        assert other.sign_in(colleague["email"], colleague["password"]).status_code == 303
        assert console.post(f"/admin/accounts/{colleague['id']}/disable").status_code == 303
        assert other.get("/admin/accounts").status_code == 303
        again = other.sign_in(colleague["email"], colleague["password"])
        assert again.status_code == 403 and "This account is disabled" in again.text
    finally:
        other.close()


def test_revoking_a_license_ends_its_seats_and_takes_it_from_the_account(
        console: Console, api: Api, admin: dict[str, str]) -> None:
    """Without the confirmation nothing happens; confirmed, the seat is 410 LEASE_REVOKED
    (admin), the account has no license left (NO_LICENSE), and the license can no longer
    change."""
    device = api.new_device()
    assert device.license is not None
    license_id = device.license["id"]
    lease = expect(device.acquire(), 201)["lease"]
    unconfirmed = console.post(f"/admin/licenses/{license_id}/revoke")
    assert unconfirmed.status_code == 400 and "Tick the box" in unconfirmed.text
    expect(device.heartbeat(lease["lease_id"]), 200)
    assert console.post(f"/admin/licenses/{license_id}/revoke",
                        {"confirm": "yes"}).status_code == 303
    assert error(device.heartbeat(lease["lease_id"]), 410, "LEASE_REVOKED")["reason"] == "admin"
    error(device.acquire(), 403, "NO_LICENSE")
    assert expect(device.get("/v1/account"), 200)["licenses"] == []
    shown = expect(api.admin_get(f"/v1/admin/licenses/{license_id}"), 200)
    assert shown["revoked_at"] is not None and shown["leases"] == []
    error(api.admin_patch(f"/v1/admin/licenses/{license_id}", json={"seats": 5}), 400,
          "INVALID_REQUEST")
    (revoked,) = trail(api, account_id=device.account["id"] if device.account else "",
                       event="license_revoked")
    assert revoked["actor"] == f"console:{admin['id']}" and "1 seat(s) ended" in revoked["detail"]


def test_force_release_takes_the_seat_but_leaves_the_login(console: Console, api: Api,
                                                           admin: dict[str, str]) -> None:
    """The console's force release: 410 LEASE_REVOKED (admin) at the next heartbeat, the
    token still valid, the release recorded under the administrator."""
    device = api.new_device(device_name="stuck-pc")
    assert device.license is not None
    lease = expect(device.acquire(), 201)["lease"]
    page = console.get(f"/admin/licenses/{device.license['id']}").text
    assert "stuck-pc" in page and "1 of 3" in page
    released = console.post(f"/admin/leases/{lease['lease_id']}/release")
    assert released.status_code == 303
    assert "No device holds a seat" in console.get(released.headers["location"]).text
    assert error(device.heartbeat(lease["lease_id"]), 410, "LEASE_REVOKED")["reason"] == "admin"
    expect(device.get("/v1/account"), 200)
    (release,) = trail(api, device_id=device.id, event="release")
    assert (release["actor"], release["detail"]) == (f"console:{admin['id']}", "admin")


def test_resetting_a_password_keeps_devices_signed_in(console: Console, api: Api,
                                                      server: ServerProcess) -> None:
    """A password set by the administrator replaces the old one; a one-time one is shown
    once and works; signed-in devices keep their tokens, portal sessions end."""
    device = api.new_device()
    assert device.account is not None
    account = device.account
    owner = Portal(server.url)
    try:
        assert owner.sign_in(account["email"], account["password"]).status_code == 303
        assert console.post(f"/admin/accounts/{account['id']}/password",
                            {"password": "a-new-secret-1"}).status_code == 303
        assert owner.get("/portal/account").status_code == 303  # signed out
    finally:
        owner.close()
    error(post_from(address(), f"{api.url}/v1/auth/password",
                    json=login_body(account["email"], account["password"])), 401,
          "UNAUTHENTICATED")
    api.login(account["email"], "a-new-secret-1")
    shown = console.post(f"/admin/accounts/{account['id']}/password", {"password": ""})
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    found = ONE_TIME.search(shown.text)
    assert found, shown.text
    api.login(account["email"], found.group(1))
    expect(device.get("/v1/account"), 200)
    assert found.group(1) not in console.get(f"/admin/accounts/{account['id']}").text
    details = [e["detail"] for e in trail(api, account_id=account["id"],
                                          event="password_reset")]
    assert details == ["one-time", "set"]


def test_accounts_and_licenses_are_made_and_changed_from_the_console(
        console: Console, api: Api, admin: dict[str, str]) -> None:
    """An account made on the console logs in; its license gets the seats, expiry and
    borrowing typed; a bad value is refused naming it, and nothing changes."""
    email = f"new-{address().replace('.', '-')}@example.test"
    made = console.post("/admin/accounts", {"email": email, "password": "correct horse"})
    assert made.status_code == 303
    account_id = made.headers["location"].split("/")[-1].split("?")[0]
    nameless = console.post(f"/admin/accounts/{account_id}/licenses",
                            {"name": " ", "kind": "subscription", "seats": "2"})
    assert nameless.status_code == 400 and "Give the license a name" in nameless.text
    created = console.post(f"/admin/accounts/{account_id}/licenses", {
        "name": "PIX4Dmatic Yearly", "kind": "subscription", "seats": "2",
        "expires_at": "2030-01-31T12:00", "borrow_days": "7"})
    assert created.status_code == 303
    license_id = created.headers["location"].split("/")[-1].split("?")[0]
    lic = expect(api.admin_get(f"/v1/admin/licenses/{license_id}"), 200)
    assert (lic["seats_total"], lic["expires_at"], lic["max_borrow_s"]) == (
        2, "2030-01-31T12:00:00Z", 7 * 86400)
    bad = console.post(f"/admin/licenses/{license_id}", {"seats": "lots", "expires_at": ""})
    assert bad.status_code == 400 and "Seats must be a whole number" in bad.text
    assert console.post(f"/admin/licenses/{license_id}", {
        "seats": "5", "expires_at": "", "borrow_days": "0.5"}).status_code == 303
    lic = expect(api.admin_get(f"/v1/admin/licenses/{license_id}"), 200)
    assert (lic["seats_total"], lic["expires_at"], lic["max_borrow_s"]) == (5, None, 43200)
    device = api.login(email, "correct horse")
    expect(device.acquire(license_id), 201)
    events = {e["event"]: e for e in trail(api, account_id=account_id)}
    assert {events[name]["actor"] for name in ("account_created", "license_created",
                                               "license_updated")} == {f"console:{admin['id']}"}
    assert events["license_updated"]["detail"] == (
        "expires_at=None, max_borrow_s=43200, seats=5")


def test_the_audit_trail_filters_and_downloads_as_csv(console: Console, api: Api,
                                                      admin: dict[str, str]) -> None:
    """Filtered by account and event, the page and the CSV hold just those events; a cell a
    spreadsheet would run as a formula is written as text."""
    account = api.create_account()
    formula = "=HYPERLINK(\"http://evil.example\")"
    console.post(f"/admin/accounts/{account['id']}/licenses",
                 {"name": formula, "kind": "perpetual", "seats": "1",
                  "support_until": "2030-06-30"})
    page = console.get("/admin/audit", params={"account": account["email"],
                                               "event": "license_created"})
    assert page.status_code == 200 and "HYPERLINK" in page.text
    assert page.text.count('<td data-label="Event" data-event="license_created">') == 1
    assert page.text.count('<td data-label="Event"') == 1
    download = console.get("/admin/audit.csv", params={"account": account["email"]})
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    lines = download.text.splitlines()
    assert lines[0] == ("at,event,actor,account_id,account_email,device_id,lease_id,"
                        "license_id,detail")
    rows = [line.split(",", 5) for line in lines[1:]]
    assert [r[1] for r in rows] == ["license_created", "account_created"]
    assert rows[0][2] == f"console:{admin['id']}" and rows[0][4] == account["email"]
    assert lines[1].endswith(',"\'=HYPERLINK(""http://evil.example""): perpetual, 1 seat(s)"')
    unknown = console.get("/admin/audit", params={"account": "nobody@nowhere.test"})
    assert unknown.status_code == 400 and "No account matches" in unknown.text


def test_console_sign_in_counts_with_the_apis_password_limits(
        server: ServerProcess, api: Api, admin: dict[str, str]) -> None:
    """Five wrong passwords through the API and five on the console, from one address: the
    next console sign-in is 429 with Retry-After, the right password too."""
    source = address()
    for _ in range(5):
        error(post_from(source, f"{api.url}/v1/auth/password",
                        json=login_body(admin["email"], "wrong-password")), 401,
              "UNAUTHENTICATED")
    visitor = Console(server.url, client_at(source))
    try:
        for _ in range(5):
            assert visitor.sign_in(admin["email"], "wrong-password").status_code == 401
        limited = visitor.sign_in(admin["email"], admin["password"])
        assert limited.status_code == 429 and "Too many failed logins" in limited.text
        assert limited.headers["Retry-After"].isdigit()
    finally:
        visitor.close()


def later(delay: float, call: Callable[[], requests.Response]) -> requests.Response:
    time.sleep(delay)
    return call()


def test_seats_and_logins_racing_a_disabling_never_outlive_it(console: Console,
                                                              api: Api) -> None:
    """Eight seat requests and three logins sent at the instant the account is disabled:
    whatever got in first was ended with the rest, whatever came after was refused; no seat
    is held and no token works afterwards."""
    for delay in (0.05, 0.12):  # the disabling a little later: some requests come first
        account, lic = api.new_account(seats=20)
        devices = [api.login(account["email"], account["password"], name=f"pc-{i}")
                   for i in range(8)]
        for device in devices:  # each with its connection open, as a running agent has
            expect(device.get("/v1/account"), 200)
        body = login_body(account["email"], account["password"])
        calls: list[Callable[[], requests.Response]] = [device.acquire for device in devices]
        calls += [partial(post_from, address(), f"{api.url}/v1/auth/password", json=body)
                  for _ in range(3)]
        calls.append(partial(later, delay, partial(console.post,
                                                  f"/admin/accounts/{account['id']}/disable")))
        responses = race(calls)
        no_server_errors(responses)
        assert responses[-1].status_code == 303
        assert {r.status_code for r in responses[:8]} <= {201, 401}
        assert {r.status_code for r in responses[8:11]} <= {200, 403}
        assert expect(api.admin_get(f"/v1/admin/licenses/{lic['id']}"), 200)["leases"] == []
        tokens = [device.token for device in devices]
        tokens += [r.json()["token"] for r in responses[8:11] if r.status_code == 200]
        for token in tokens:
            answer = requests.get(f"{api.url}/v1/account", timeout=10,
                                  headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 401, answer.text
