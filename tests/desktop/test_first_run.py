"""The first run from the tray, as a new user meets it: no server set, Connect to a license
server…, an address typed wrong and then right, the browser login, the code copied.

The dialog is GTK's, found and read through AT-SPI as a screen reader does; the address
is typed on the keyboard into its field (xdotool), the clipboard read back as another
program would paste it (xclip). An administrator's policy file pre-fills the address, or
locks it: then no dialog at all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from PIL import Image
from seatkeeper.core.state import SeatState

from tests.agent.faultserver import closed_port
from tests.desktop.conftest import TrayAgentFactory
from tests.desktop.screen import Box, Desktop, TrayAgent
from tests.desktop.test_tray import choose_from_menu, shows
from tests.desktop.test_tray_login import recording_browser
from tests.scenarios.common import ScenarioServer
from tests.support.api import Api
from tests.support.portal import Portal

CONNECT = "Connect to a license server…"
DIALOG = "Connect to a license server"
FIELD = ("text", "Server address:")
COMMENT = "# Seatkeeper on my laptop: set up by hand, keep this line.\n"


def field(agent: TrayAgent) -> Box:
    x, y, width, height = json.loads(agent.atspi("where", *FIELD))
    return Box(x, y, width, height)


def type_address(agent: TrayAgent, desktop: Desktop, address: str) -> None:
    """Click into the field, select what is there, type `address` and press Enter."""
    desktop.click(field(agent))
    desktop.key("ctrl+a")
    desktop.type(address)
    desktop.key("Return")


def dialog_shot(agent: TrayAgent, desktop: Desktop, name: str) -> Path:
    """A screenshot of the dialog alone (with a margin), for the README."""
    x, y, width, height = json.loads(agent.atspi("where", "dialog", DIALOG))
    path = desktop.screenshot(name)
    with Image.open(path) as screen:
        screen.crop((x - 8, y - 8, x + width + 8, y + height + 8)).save(path)
    return path


def opened_page(opened: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while not (opened.exists() and opened.read_text().strip()):
        assert time.monotonic() < deadline, "the browser was not opened"
        time.sleep(0.1)
    return opened.read_text().split()[0]


def wait_until(condition: object, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.1)


def test_first_run_connects_to_the_typed_server_and_logs_in(
        desktop: Desktop, tray_server: ScenarioServer, tray_api: Api,
        make_tray_agent: TrayAgentFactory, tmp_path: Path) -> None:
    """No server: Connect…; a wrong address is refused in the dialog, which stays; the right
    one is saved in config.toml (its comment kept) and the browser login starts; Copy code
    (menu and notification) puts the code on the clipboard; approved: a seat."""
    account, _ = tray_api.new_account(seats=1)
    browser, opened = recording_browser(tmp_path)
    agent = make_tray_agent("first-run-pc", env={"BROWSER": str(browser)})
    agent.config_file.write_text(COMMENT + agent.config_file.read_text(), encoding="utf-8")
    agent.start()
    agent.serve_notifications()
    shows(desktop, SeatState.SIGNED_OUT)
    desktop.right_click(desktop.wait_for_icon())
    agent.atspi("find", "menu item", CONNECT)
    assert "Log in…" not in agent.atspi("list")
    desktop.screenshot("first-run-menu")
    desktop.key("Escape")

    choose_from_menu(agent, desktop, CONNECT)
    assert json.loads(agent.atspi("text", *FIELD)) == ""
    nowhere = f"http://127.0.0.1:{closed_port()}"
    type_address(agent, desktop, nowhere)
    said = (f"Nothing answers at {nowhere} (connection refused). Check the address and its "
            "port number.")
    agent.atspi("find", "label", said)
    agent.atspi("find", "push button", "Connect")  # still open, for a correction
    dialog_shot(agent, desktop, "first-run-refused")
    assert "server_url" not in agent.config_file.read_text()

    desktop.click(field(agent))
    desktop.key("ctrl+a")
    desktop.type(tray_server.url)
    dialog_shot(agent, desktop, "first-run-dialog")
    agent.atspi("click", "push button", "Connect")

    url = opened_page(opened)
    assert url.startswith(f"{tray_server.url}/portal/device?code=")
    code = url.rsplit("=", 1)[1]
    assert agent.config_file.read_text().startswith(COMMENT)
    assert f'server_url = "{tray_server.url}"' in agent.config_file.read_text()
    assert agent.config_file.stat().st_mode & 0o077 == 0

    choose_from_menu(agent, desktop, "Copy code")
    wait_until(lambda: desktop.clipboard() == code, "the code on the clipboard")
    desktop.set_clipboard("something else")
    wait_until(agent.notifications, "a notification")
    [notice] = agent.notifications()
    assert notice["summary"] == "Log in to Seatkeeper" and code in notice["body"]
    assert notice["actions"] == [["default", "Open the login page"], ["copy-code", "Copy code"]]
    agent.click_notification_button(notice["id"], "copy-code")
    wait_until(lambda: desktop.clipboard() == code, "the code on the clipboard again")

    visitor = Portal(tray_server.url)
    try:
        assert visitor.sign_in(account["email"], account["password"]).status_code == 303
        assert visitor.approve(desktop.clipboard()).status_code == 200  # pasted
    finally:
        visitor.close()
    agent.wait_for("active", timeout=30)
    shows(desktop, SeatState.ACTIVE)
    assert agent.stop() == 0


def test_an_administrators_suggestion_is_pre_filled(
        desktop: Desktop, tray_server: ScenarioServer, make_tray_agent: TrayAgentFactory,
        tmp_path: Path) -> None:
    """A policy server_url that is not locked: the dialog offers it; Connect keeps it as the
    user's own choice and logs in there."""
    policy = tmp_path / "system.toml"
    policy.write_text(f'server_url = "{tray_server.url}"\n', encoding="utf-8")
    browser, opened = recording_browser(tmp_path)
    agent = make_tray_agent("suggested-pc", system_config=policy,
                            env={"BROWSER": str(browser)})
    agent.start()
    choose_from_menu(agent, desktop, CONNECT)
    assert json.loads(agent.atspi("text", *FIELD)) == tray_server.url
    agent.atspi("click", "push button", "Cancel")
    time.sleep(0.5)
    assert "server_url" not in agent.config_file.read_text() and not opened.exists()

    choose_from_menu(agent, desktop, CONNECT)
    assert json.loads(agent.atspi("text", *FIELD)) == tray_server.url
    agent.atspi("find", "label", "Your administrator suggests this license server. Connect to "
                "it, or type the address you were given. Then you log in in your web browser.")
    agent.atspi("click", "push button", "Connect")
    assert opened_page(opened).startswith(f"{tray_server.url}/portal/device?code=")
    assert f'server_url = "{tray_server.url}"' in agent.config_file.read_text()
    assert agent.stop() == 0


def test_a_locked_server_is_used_without_asking(
        desktop: Desktop, tray_server: ScenarioServer, make_tray_agent: TrayAgentFactory,
        tmp_path: Path) -> None:
    """A policy that locks server_url: no Connect…, no dialog; Log in… goes to its server,
    whatever the user's file says."""
    policy = tmp_path / "system.toml"
    policy.write_text(f'server_url = "{tray_server.url}"\n[policy]\nlocked = ["server_url"]\n',
                      encoding="utf-8")
    browser, opened = recording_browser(tmp_path)
    agent = make_tray_agent("locked-pc", system_config=policy, server_url="https://mine.example",
                            env={"BROWSER": str(browser)})
    agent.start()
    desktop.right_click(desktop.wait_for_icon())
    agent.atspi("find", "menu item", "Log in…")
    tree = agent.atspi("list")
    assert CONNECT not in tree and "Change license server…" not in tree
    desktop.key("Escape")
    choose_from_menu(agent, desktop, "Log in…")
    assert opened_page(opened).startswith(f"{tray_server.url}/portal/device?code=")
    assert "dialog" not in agent.atspi("list").split()
    assert agent.stop() == 0


def test_stopping_the_agent_closes_an_open_dialog(
        desktop: Desktop, make_tray_agent: TrayAgentFactory) -> None:
    """SIGTERM (the session ends) while the dialog waits for an address: the agent still
    ends at once, cleanly, and nothing is saved."""
    agent = make_tray_agent("stopping-pc")
    agent.start()
    choose_from_menu(agent, desktop, CONNECT)
    agent.atspi("find", *FIELD)
    started = time.monotonic()
    assert agent.stop(timeout=10) == 0, agent.logs_tail()
    assert time.monotonic() - started < 5
    assert "server_url" not in agent.config_file.read_text()
