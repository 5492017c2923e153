"""`seatkeeper login --browser`: the code printed, approved (or not) in Chromium, the result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.portal.conftest import BrowserLogin, sign_in
from tests.support.agent import AgentProcess
from tests.support.api import Api, expect
from tests.support.portal import Portal
from tests.support.procs import ServerProcess


def test_a_browser_login_approved_on_the_portal_makes_the_agent_active(
        portal_server: ServerProcess, portal_api: Api, page: Any,
        make_agent: Callable[..., AgentProcess],
        screenshots: Callable[[Any, str], Any]) -> None:
    """The CLI prints code and address; approving it there signs the agent in and it is active."""
    account, _ = portal_api.new_account(seats=2)
    agent = make_agent(portal_server.url, "survey-tablet").start()
    agent.wait_for("signed_out")
    login = BrowserLogin(agent)
    try:
        assert f"enter the code {login.code}" in login.first
        page.goto(login.url)
        screenshots(page, "sign-in")
        sign_in(page, portal_server.url, account)
        page.get_by_role("heading", name="survey-tablet wants to sign in").wait_for()
        assert login.code in page.inner_text("main")
        screenshots(page, "approve")
        page.get_by_role("button", name="Approve").click()
        page.get_by_role("heading", name="survey-tablet is signed in").wait_for()
        screenshots(page, "approved")
        code, out, err = login.finish()
    finally:
        login.kill()
    assert code == 0, out + err
    assert f"Logged in as {account['email']}" in out
    status = agent.wait_for("active")
    assert status["account"] == account["email"]


def test_a_denied_browser_login_leaves_the_agent_signed_out(
        portal_server: ServerProcess, portal_api: Api, page: Any,
        make_agent: Callable[..., AgentProcess],
        screenshots: Callable[[Any, str], Any]) -> None:
    """Deny on the portal: the CLI says the login was denied, and the agent stays signed out."""
    account, _ = portal_api.new_account()
    agent = make_agent(portal_server.url, "unknown-laptop")
    login = BrowserLogin(agent)
    try:
        page.goto(login.url)
        sign_in(page, portal_server.url, account)
        page.get_by_role("button", name="Deny").click()
        page.get_by_role("heading", name="unknown-laptop was not signed in").wait_for()
        screenshots(page, "denied")
        code, out, err = login.finish()
    finally:
        login.kill()
    assert code == 1, out + err
    assert "The login was denied in the browser; this device stays signed out." in err
    assert agent.status()["state"] == "signed_out"


def test_the_approve_page_asks_for_the_code_when_the_link_has_none(
        portal_server: ServerProcess, portal_api: Api, page: Any,
        screenshots: Callable[[Any, str], Any]) -> None:
    """At verification_uri itself the page asks for the code; typed loosely, it is found."""
    account, _ = portal_api.new_account()
    grant = expect(portal_api.post("/v1/auth/device", json={
        "fingerprint": "typed-code-test", "name": "site-pc", "platform": "windows"}), 200)
    page.goto(grant["verification_uri"])
    sign_in(page, portal_server.url, account)
    field = page.get_by_label("The code your device shows")
    screenshots(page, "enter-code")
    field.fill(grant["user_code"].replace("-", "").lower())
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="site-pc wants to sign in").wait_for()
    page.get_by_role("button", name="Deny").click()
    page.get_by_role("heading", name="site-pc was not signed in").wait_for()


def test_an_expired_browser_login_leaves_the_agent_signed_out(
        expiring_server: ServerProcess, page: Any,
        make_agent: Callable[..., AgentProcess]) -> None:
    """A code nobody approves in time: the CLI says it expired; approving later is refused."""
    agent = make_agent(expiring_server.url, "forgotten-pc")
    login = BrowserLogin(agent)
    try:
        code, out, err = login.finish()
    finally:
        login.kill()
    assert code == 1, out + err
    assert "The login code expired before it was approved" in err
    assert agent.status()["state"] == "signed_out"
    api = Api(expiring_server.url, expiring_server.admin_token)
    visitor = Portal(expiring_server.url)
    try:
        account, _ = api.new_account()
        visitor.sign_in(account["email"], account["password"])
        assert visitor.get(f"/portal/device?code={login.code}").status_code == 404
        assert visitor.approve(login.code).status_code == 404  # nothing waits for it
    finally:
        visitor.close()
        api.close()
