"""The console in Chromium, as an administrator uses it: sign in, make an account and its
license, then take seats away from running agents: disable the account, force a release,
revoke the license. Each agent is the real one, in its own process."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from tests.console.conftest import fits_a_phone, sign_in
from tests.support.agent import AgentProcess
from tests.support.api import Api, expect
from tests.support.procs import ServerProcess


def test_an_administrator_makes_an_account_and_its_license(
        console_server: ServerProcess, console_api: Api, admin: dict[str, str], page: Any,
        browser: Any, shoot: Callable[[Any, str], Path]) -> None:
    """Sign in, create an account (a one-time password shown once) and give it a license;
    the account logs in with that password and takes a seat of that license."""
    url = console_server.url
    sign_in(page, url, admin)
    page.get_by_role("heading", name="Accounts").wait_for()
    page.get_by_label("Email", exact=True).fill("surveyor@customer.example")
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Account created").wait_for()
    password = page.locator("#one-time-password").inner_text()
    assert len(password) >= 12
    shoot(page, "one-time-password")
    page.get_by_role("link", name="Go to surveyor@customer.example").click()
    page.get_by_label("Name").fill("PIX4Dmapper Yearly")
    page.get_by_label("Seats").fill("2")
    page.get_by_label("Expires (UTC, subscriptions)").fill("2030-12-31T23:59")
    page.get_by_label("Borrowing for offline use, at most (days)").fill("7")
    page.get_by_role("button", name="Create license").click()
    assert page.get_by_role("status").inner_text() == "The license is created."
    page.get_by_role("heading", name="PIX4Dmapper Yearly").wait_for()
    facts = page.locator("dl.facts").inner_text()
    # A browser that names no language gets English, its dates as Babel's `en` writes them.
    assert "0 of 2" in facts and "Dec 31, 2030, 11:59\u202fPM UTC" in facts
    assert "up to 7 days" in facts
    device = console_api.login("surveyor@customer.example", password, name="field-laptop")
    lease = expect(device.acquire(), 201)["lease"]
    assert lease["license"]["name"] == "PIX4Dmapper Yearly"
    assert lease["license"]["max_borrow_s"] == 7 * 86400
    page.reload()
    assert page.locator("#seats-in-use").inner_text() == "1 of 2"
    assert "field-laptop" in page.get_by_role("table").first.inner_text()
    shoot(page, "license")
    fits_a_phone(browser, page, page.url, shoot, "license")
    page.get_by_role("link", name="Accounts").first.click()
    page.get_by_label("Find an account").fill("surveyor@")
    page.get_by_role("button", name="Search").click()
    row = page.get_by_role("row", name=re.compile("surveyor@customer.example"))
    assert "Active" in row.inner_text() and "User" in row.inner_text()
    shoot(page, "accounts")
    fits_a_phone(browser, page, page.url, shoot, "accounts")


def test_disabling_an_account_revokes_its_running_agent(
        console_server: ServerProcess, console_api: Api, admin: dict[str, str], page: Any,
        browser: Any, make_agent: Callable[..., AgentProcess],
        shoot: Callable[[Any, str], Path]) -> None:
    """Disable: the agent shows `revoked` by an administrator at its next heartbeat, its
    token answers 401, and logging in again says the account is disabled."""
    account, _ = console_api.new_account(seats=2)
    agent = make_agent(console_server.url, "design-pc")
    agent.login(account["email"], account["password"])
    agent.start().wait_for("active")
    sign_in(page, console_server.url, admin)
    page.goto(f"{console_server.url}/admin/accounts/{account['id']}")
    devices = page.get_by_role("table").nth(1).inner_text()
    assert "design-pc" in devices and "PIX4Dmapper Yearly" in devices
    shoot(page, "account")
    fits_a_phone(browser, page, page.url, shoot, "account")
    page.get_by_role("button", name=f"Disable {account['email']}").click()
    assert "The account is disabled" in page.get_by_role("status").inner_text()
    assert "Disabled" in page.locator("dl.facts").inner_text()
    status = agent.wait_for("revoked", timeout=15)
    assert status["revoked_by"] == "an administrator"
    token = agent.device_token()
    answer = requests.get(f"{console_server.url}/v1/account", timeout=10,
                          headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    again = agent.cli("login", "--email", account["email"], "--password-stdin",
                      input=account["password"] + "\n")
    assert again.returncode != 0 and "This account is disabled" in again.stderr, again


def test_force_release_and_revoking_the_license_reach_the_agents(
        console_server: ServerProcess, console_api: Api, admin: dict[str, str], page: Any,
        make_agent: Callable[..., AgentProcess], shoot: Callable[[Any, str], Path]) -> None:
    """Force release one device's seat: that agent shows revoked by an administrator, the
    other keeps its seat; revoke the license: the other one is revoked too."""
    account, lic = console_api.new_account(seats=2)
    stuck, other = make_agent(console_server.url, "stuck-pc"), make_agent(console_server.url,
                                                                          "drone-station")
    for agent in (stuck, other):
        agent.login(account["email"], account["password"])
        agent.start().wait_for("active")
    sign_in(page, console_server.url, admin)
    page.goto(f"{console_server.url}/admin/licenses/{lic['id']}")
    assert page.locator("#seats-in-use").inner_text() == "2 of 2"
    shoot(page, "live-seats")
    page.get_by_role("button", name="Force release the seat of stuck-pc").click()
    assert "The seat is released" in page.get_by_role("status").inner_text()
    assert stuck.wait_for("revoked", timeout=15)["revoked_by"] == "an administrator"
    assert other.status()["state"] == "active"
    assert page.locator("#seats-in-use").inner_text() == "1 of 2"
    page.get_by_role("button", name="Revoke PIX4Dmapper Yearly").click()
    page.get_by_role("heading", name="Revoke the license").wait_for()  # the box is required
    page.get_by_label(re.compile("I understand")).check()
    page.get_by_role("button", name="Revoke PIX4Dmapper Yearly").click()
    assert "The license is revoked" in page.get_by_role("status").inner_text()
    assert "(revoked)" in page.get_by_role("heading", level=1).inner_text()
    assert other.wait_for("revoked", timeout=15)["revoked_by"] == "an administrator"
    assert expect(console_api.admin_get(f"/v1/admin/licenses/{lic['id']}"),
                  200)["leases"] == []
