"""The tray on a real desktop: right-click the docked icon, Log out…, confirm or cancel.

Xvfb, trayer as the XEmbed tray host, the agent with pystray's GTK backend under
dbus-run-session, the real server behind it. Menus and dialogs are found by their
accessible names through AT-SPI and clicked as a screen reader does; the server says
whether the seat is free, and the screen whether the icon changed.
"""

from __future__ import annotations

import time

from agent.core.state import SeatState
from agent.tray import icons
from tests.desktop.conftest import TrayAgentFactory
from tests.desktop.screen import Box, Desktop, TrayAgent, share_of_colour
from tests.scenarios.common import ScenarioServer, live_leases
from tests.support.api import Api

# The icon's own colour covers at least this share of the docked icon's pixels.
ICON_COLOUR_SHARE = 0.15


def choose_from_menu(agent: TrayAgent, desktop: Desktop, label: str) -> None:
    """Right-click the docked icon and click the menu item named `label`."""
    for attempt in range(3):
        desktop.right_click(desktop.wait_for_icon())
        try:
            agent.atspi("click", "menu item", label, timeout=5)
            return
        except AssertionError:
            if attempt == 2:
                raise
            desktop.key("Escape")


def shows(desktop: Desktop, state: SeatState, timeout: float = 10.0) -> Box:
    """Wait until the docked icon is drawn in `state`'s colour; its place."""
    deadline = time.monotonic() + timeout
    while True:
        box = desktop.wait_for_icon()
        share = share_of_colour(desktop.icon_image(box), icons.COLOURS[state][:3])
        if share >= ICON_COLOUR_SHARE:
            return box
        assert time.monotonic() < deadline, (
            f"the icon is not drawn in {state.value}'s colour ({share:.0%} of its pixels)")
        time.sleep(0.2)


def start_logged_in(make_tray_agent: TrayAgentFactory, server: ScenarioServer, api: Api,
                    name: str, seats: int = 2) -> tuple[TrayAgent, dict, dict]:
    account, license = api.new_account(seats=seats)
    agent = make_tray_agent(name, server_url=server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    return agent, account, license


def test_log_out_from_the_tray_frees_the_seat(
        desktop: Desktop, tray_server: ScenarioServer, tray_api: Api,
        make_tray_agent: TrayAgentFactory) -> None:
    """Right-click, Log out…, Cancel keeps the seat; Log out…, OK frees it and the icon turns."""
    agent, account, license = start_logged_in(make_tray_agent, tray_server, tray_api,
                                              "survey-laptop")
    agent.wait_for("active")
    shows(desktop, SeatState.ACTIVE)
    desktop.screenshot("active")
    desktop.right_click(desktop.wait_for_icon())
    agent.atspi("find", "menu item", "Log out…")
    desktop.screenshot("menu-active")
    desktop.key("Escape")

    choose_from_menu(agent, desktop, "Log out…")
    agent.atspi("find", "push button", "Cancel")
    desktop.screenshot("logout-confirm")
    agent.atspi("click", "push button", "Cancel")
    time.sleep(1.5)  # more than a heartbeat: nothing happened behind the dialog
    assert agent.status()["state"] == "active"
    assert [lease["device"]["name"] for lease in live_leases(tray_api, license["id"])] == [
        "survey-laptop"]
    shows(desktop, SeatState.ACTIVE)

    choose_from_menu(agent, desktop, "Log out…")
    agent.atspi("click", "push button", "OK")
    agent.wait_for("signed_out")
    assert live_leases(tray_api, license["id"]) == []
    assert tray_api.login(account["email"], account["password"]).acquire().status_code == 201
    shows(desktop, SeatState.SIGNED_OUT)
    desktop.screenshot("signed_out")
    assert agent.stop() == 0
