"""The tray's Log in… on a real desktop: the browser opened, the code in the menu, approved.

The "browser" is a script named by `BROWSER` that records the address it was given
(Python's `webbrowser` honours it); the approval is made on the portal, as a person
would on another machine or their phone.
"""

from __future__ import annotations

import time
from pathlib import Path

from seatkeeper.core.state import SeatState

from tests.desktop.conftest import TrayAgentFactory
from tests.desktop.screen import Desktop
from tests.desktop.test_tray import choose_from_menu, shows
from tests.scenarios.common import ScenarioServer
from tests.support.api import Api
from tests.support.portal import Portal


def recording_browser(folder: Path) -> tuple[Path, Path]:
    """An executable that appends each address it is asked to open to a file."""
    opened = folder / "opened.txt"
    script = folder / "browser.sh"
    script.write_text(f'#!/bin/sh\necho "$1" >> "{opened}"\n', encoding="utf-8")
    script.chmod(0o755)
    return script, opened


def test_log_in_from_the_tray_opens_the_browser_and_shows_the_code(
        desktop: Desktop, tray_server: ScenarioServer, tray_api: Api,
        make_tray_agent: TrayAgentFactory, tmp_path: Path) -> None:
    """Log in… opens the page, shows the code in menu and notification; approved: active."""
    account, _ = tray_api.new_account(seats=1)
    browser, opened = recording_browser(tmp_path)
    agent = make_tray_agent("tray-login-pc", server_url=tray_server.url,
                            env={"BROWSER": str(browser)})
    agent.start()
    agent.serve_notifications()
    shows(desktop, SeatState.SIGNED_OUT)
    choose_from_menu(agent, desktop, "Log in…")
    deadline = time.monotonic() + 15
    while not (opened.exists() and opened.read_text().strip()):
        assert time.monotonic() < deadline, "the browser was not opened"
        time.sleep(0.1)
    url = opened.read_text().split()[0]
    assert url.startswith(f"{tray_server.url}/portal/device?code=")
    code = url.rsplit("=", 1)[1]
    desktop.right_click(desktop.wait_for_icon())
    agent.atspi("find", "menu item", f"Approve the code {code} in the browser")
    agent.atspi("find", "menu item", "Cancel the login")
    desktop.screenshot("tray-login-code")
    desktop.key("Escape")
    while not agent.notifications():
        assert time.monotonic() < deadline, "no desktop notification arrived"
        time.sleep(0.1)
    assert agent.notifications() == [{
        "app": "Seatkeeper", "summary": "Log in to Seatkeeper", "id": 1,
        "body": f"Approve the code {code} in the browser ({tray_server.url}/portal/device).",
        "actions": [["default", "Open the login page"], ["copy-code", "Copy code"]]}]

    visitor = Portal(tray_server.url)
    try:
        assert visitor.sign_in(account["email"], account["password"]).status_code == 303
        approved = visitor.approve(code)
        assert approved.status_code == 200 and "tray-login-pc is signed in" in approved.text
    finally:
        visitor.close()
    agent.wait_for("active", timeout=30)
    shows(desktop, SeatState.ACTIVE)
    assert agent.stop() == 0
