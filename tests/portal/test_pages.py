"""The portal in Chromium: sign in, seats and devices, deactivation and its switch, refusals."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.portal.conftest import PHONE, sign_in
from tests.support.agent import AgentProcess
from tests.support.api import Api, expect
from tests.support.portal import Portal
from tests.support.procs import ServerProcess

SWITCH_REFUSED = "can only be switched on while no device holds a seat"


def test_signing_in_shows_the_seat_bar_and_the_devices(
        portal_server: ServerProcess, portal_api: Api, page: Any, browser: Any,
        screenshots: Callable[[Any, str], Any]) -> None:
    """After sign-in: each license with its seats as a bar, each device, who holds a seat."""
    office = portal_api.new_device(seats=3, device_name="office-pc")
    assert office.account is not None
    portal_api.login(office.account["email"], office.account["password"], name="field-laptop",
                     platform="windows")
    expect(office.acquire(), 201)
    sign_in(page, portal_server.url, office.account)
    page.get_by_role("heading", name="Your licenses and devices").wait_for()
    meter = page.get_by_role("meter")
    assert meter.get_attribute("aria-valuenow") == "1"
    assert meter.get_attribute("aria-valuemax") == "3"
    assert "1 of 3 seats in use" in page.inner_text("main")
    bar, fill = meter.bounding_box(), meter.locator("span").bounding_box()
    assert 0.3 <= fill["width"] / bar["width"] <= 0.36, (fill, bar)
    office_row = page.get_by_role("row", name=re.compile("office-pc"))
    assert "Holds a seat" in office_row.inner_text()
    assert "just now" in office_row.inner_text()
    laptop_row = page.get_by_role("row", name=re.compile("field-laptop"))
    assert "windows" in laptop_row.inner_text() and "No seat" in laptop_row.inner_text()
    screenshots(page, "account")
    phone = browser.new_context(viewport=PHONE, storage_state=page.context.storage_state())
    try:
        small = phone.new_page()
        small.goto(f"{portal_server.url}/portal/account")
        assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshots(small, "account-phone")
    finally:
        phone.close()


def test_a_wrong_password_is_refused_on_the_form(portal_server: ServerProcess,
                                                 portal_api: Api, page: Any) -> None:
    """A wrong password keeps the person on the sign-in form with a plain message."""
    account, _ = portal_api.new_account()
    sign_in(page, portal_server.url, {**account, "password": "not-the-password"})
    assert page.get_by_role("alert").inner_text() == "The email or the password is wrong."


def test_remote_deactivation_is_refused_while_a_seat_is_held_then_allowed(
        portal_server: ServerProcess, portal_api: Api, page: Any,
        screenshots: Callable[[Any, str], Any]) -> None:
    """Switching on with a seat held explains why not; once it is released, it switches on."""
    device = portal_api.new_device(device_name="drone-station")
    assert device.account is not None
    lease = expect(device.acquire(), 201)["lease"]
    sign_in(page, portal_server.url, device.account)
    page.get_by_role("button", name="Switch remote deactivation on").click()
    alert = page.get_by_role("alert").inner_text()
    assert SWITCH_REFUSED in alert and "release the seat on every device" in alert
    screenshots(page, "switch-refused")
    expect(device.release(lease["lease_id"]), 204)
    page.get_by_role("button", name="Switch remote deactivation on").click()
    assert page.get_by_role("status").inner_text() == "Remote device deactivation is on."
    assert expect(device.get("/v1/account"), 200)["remote_deactivation"] is True


def test_deactivating_another_device_revokes_its_agent_at_its_next_heartbeat(
        portal_server: ServerProcess, portal_api: Api, page: Any,
        make_agent: Callable[..., AgentProcess],
        screenshots: Callable[[Any, str], Any]) -> None:
    """Deactivate frees the seat on the page, and that device's agent shows `revoked`."""
    account, _ = portal_api.new_account(seats=1)
    sign_in(page, portal_server.url, account)
    page.get_by_role("button", name="Switch remote deactivation on").click()
    agent = make_agent(portal_server.url, "lost-laptop")
    agent.login(account["email"], account["password"])
    agent.start().wait_for("active")
    page.goto(f"{portal_server.url}/portal/account")
    assert "1 of 1 seats in use" in page.inner_text("main")
    screenshots(page, "devices-deactivate")
    page.get_by_role("button", name="Deactivate lost-laptop").click()
    assert "The device is deactivated" in page.get_by_role("status").inner_text()
    assert "0 of 1 seats in use" in page.inner_text("main")
    assert "lost-laptop" not in page.inner_text("main")
    agent.wait_for("revoked", timeout=15)


def test_a_page_form_stripped_of_its_csrf_token_is_refused(
        portal_server: ServerProcess, portal_api: Api, page: Any,
        screenshots: Callable[[Any, str], Any]) -> None:
    """A form on the page, submitted without its token, gets the refusal page and does nothing."""
    device = portal_api.new_device()
    assert device.account is not None
    sign_in(page, portal_server.url, device.account)
    page.get_by_role("heading", name="Your licenses and devices").wait_for()
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    page.get_by_role("button", name="Switch remote deactivation on").click()
    page.get_by_role("heading", name="This form cannot be accepted").wait_for()
    screenshots(page, "form-refused")
    assert expect(device.get("/v1/account"), 200)["remote_deactivation"] is False


def test_a_form_without_its_csrf_token_is_rejected(portal_server: ServerProcess,
                                                   portal_api: Api) -> None:
    """Every form needs its CSRF token: without it (or with another) the portal answers 403."""
    device = portal_api.new_device()
    assert device.account is not None
    visitor = Portal(portal_server.url)
    try:
        bare = visitor.post("/portal/sign-in", {"email": device.account["email"],
                                                "password": device.account["password"]},
                            with_csrf=False)
        assert bare.status_code == 403 and "cannot be accepted" in bare.text
        assert visitor.sign_in(device.account["email"],
                               device.account["password"]).status_code == 303
        for path, form in (("/portal/remote-deactivation", {"enabled": "on"}),
                           (f"/portal/devices/{device.id}/deactivate", {}),
                           ("/portal/device", {"user_code": "BCDF-GHJK", "decision": "approve"}),
                           ("/portal/sign-out", {})):
            assert visitor.post(path, form, with_csrf=False).status_code == 403, path
            assert visitor.post(path, {**form, "csrf": "forged"},
                                with_csrf=False).status_code == 403, path
        assert expect(device.get("/v1/account"), 200)["remote_deactivation"] is False
    finally:
        visitor.close()


def test_another_accounts_device_cannot_be_deactivated(portal_server: ServerProcess,
                                                       portal_api: Api) -> None:
    """Neither the portal nor the API reaches another account's device: 404, and it keeps on."""
    mine = portal_api.new_device(device_name="mine")
    theirs = portal_api.new_device(device_name="theirs")
    assert mine.account is not None
    expect(mine.put("/v1/account/remote-deactivation", json={"enabled": True}), 200)
    lease = expect(theirs.acquire(), 201)["lease"]
    visitor = Portal(portal_server.url)
    try:
        visitor.sign_in(mine.account["email"], mine.account["password"])
        refused = visitor.post(f"/portal/devices/{theirs.id}/deactivate", {})
        assert refused.status_code == 404 and f"No device {theirs.id}" in refused.text
    finally:
        visitor.close()
    assert expect(mine.post(f"/v1/devices/{theirs.id}/deactivate"), 404)
    expect(theirs.heartbeat(lease["lease_id"]), 200)


def test_the_session_cookie_is_httponly_lax_and_ends_at_sign_out(
        portal_server: ServerProcess, portal_api: Api) -> None:
    """The cookie is HttpOnly and SameSite=Lax; after sign-out the account page wants sign-in."""
    account, _ = portal_api.new_account()
    visitor = Portal(portal_server.url)
    try:
        signed = visitor.sign_in(account["email"], account["password"])
        cookie = signed.headers["set-cookie"]
        assert "seatkeeper_portal=" in cookie
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/portal" in cookie
        assert "Secure" not in cookie.split("seatkeeper_signin")[0]  # plain http on loopback
        assert visitor.get("/portal/account").status_code == 200
        assert visitor.post("/portal/sign-out", {}).status_code == 303
        gone = visitor.get("/portal/account")
        assert gone.status_code == 303 and "/portal/sign-in" in gone.headers["location"]
    finally:
        visitor.close()


def test_sign_in_is_rate_limited_like_the_api(portal_server: ServerProcess,
                                              portal_api: Api) -> None:
    """Ten wrong passwords for one account: the eleventh try is 429, even with the right one."""
    account, _ = portal_api.new_account()
    visitor = Portal(portal_server.url)
    try:
        for _ in range(10):
            assert visitor.sign_in(account["email"], "wrong-password").status_code == 401
        limited = visitor.sign_in(account["email"], account["password"])
        assert limited.status_code == 429 and "Too many failed logins" in limited.text
        assert limited.headers["retry-after"].isdigit()
    finally:
        visitor.close()


def test_a_borrowed_seat_shows_until_when(portal_server: ServerProcess, portal_api: Api,
                                          page: Any,
                                          screenshots: Callable[[Any, str], Any]) -> None:
    """The portal lists a seat borrowed for offline use and until when, and the license's
    limit."""
    laptop = portal_api.new_device(seats=2, device_name="field-laptop", max_borrow_s=7 * 86400)
    assert laptop.account is not None
    lease = expect(laptop.acquire(), 201)["lease"]
    expect(laptop.borrow(lease["lease_id"], "2099-01-01T00:00:00Z"), 200)
    sign_in(page, portal_server.url, laptop.account)
    page.get_by_role("heading", name="Your licenses and devices").wait_for()
    assert "borrowed for offline use for up to 7 days" in page.inner_text("main")
    row = page.get_by_role("row", name=re.compile("field-laptop")).inner_text()
    assert "Borrowed for offline use" in row
    assert re.search(r"until [A-Z][a-z]{2} \d{1,2}, 20\d\d, \d{1,2}:\d\d\s[AP]M UTC", row), row
    screenshots(page, "account-borrowed")


def test_a_seat_taken_away_on_the_portal_reaches_watch_within_a_heartbeat(
        portal_server: ServerProcess, portal_api: Api, page: Any,
        make_agent: Callable[..., AgentProcess]) -> None:
    """Deactivated on the portal itself: an application watching the agent hears `changed`
    with holding false within one heartbeat (1 s here) of the portal saying it is done."""
    import time

    from tests.support.local_api import raw

    account, _ = portal_api.new_account(seats=1)
    sign_in(page, portal_server.url, account)
    page.get_by_role("button", name="Switch remote deactivation on").click()
    agent = make_agent(portal_server.url, "watched-laptop")
    agent.login(account["email"], account["password"])
    agent.start().wait_for("active")
    page.goto(f"{portal_server.url}/portal/account")
    with raw(agent, timeout=10) as watch:
        watch.send(b'{"v": 1, "op": "watch"}\n')
        assert watch.answer()["result"]["seat"]["holding"] is True
        page.get_by_role("button", name="Deactivate watched-laptop").click()
        assert "The device is deactivated" in page.get_by_role("status").inner_text()
        done = time.monotonic()
        while True:
            event = watch.answer()["result"]
            assert event["event"] == "changed"
            if not event["seat"]["holding"]:
                break
        took = time.monotonic() - done
    assert event["seat"]["state"] == "revoked"
    # One heartbeat is 1 s give or take 10 %; the rest is the request and a loaded machine.
    assert took < 1.1 + 0.6, f"took {took:.2f} s for a 1 s heartbeat"
