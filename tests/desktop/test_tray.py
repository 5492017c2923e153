"""The tray on a real desktop: right-click the docked icon, Log out…, confirm or cancel.

Xvfb, trayer as the XEmbed tray host, the agent with pystray's GTK backend under
dbus-run-session, the real server behind it. Menus and dialogs are found by their
accessible names through AT-SPI and clicked as a screen reader does; the server says
whether the seat is free, and the screen whether the icon changed.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from seatkeeper.core.state import SeatState
from seatkeeper.tray import icons

from tests.desktop.conftest import TrayAgentFactory
from tests.desktop.pixels import shape_likeness, share_of_colour
from tests.desktop.screen import Box, Desktop, TrayAgent
from tests.scenarios.common import ScenarioServer, live_leases
from tests.support.api import Api
from tests.support.proxy import FaultProxy

# The icon's own colour covers at least this share of the docked icon's pixels.
ICON_COLOUR_SHARE = 0.15


def choose_from_menu(agent: TrayAgent, desktop: Desktop, label: str,
                     role: str = "menu item") -> None:
    """Right-click the docked icon and click the menu item (or submenu: role `menu`) named
    `label`."""
    for attempt in range(3):
        desktop.right_click(desktop.wait_for_icon())
        try:
            agent.atspi("click", role, label, timeout=5)
            return
        except AssertionError:
            if attempt == 2:
                raise
            desktop.key("Escape")


def shows(desktop: Desktop, state: SeatState, timeout: float = 10.0) -> Box:
    """Wait until the docked icon is `state`'s own: its colour, and of the icons in that
    colour, the shape most like `state`'s (a red triangle is not a red octagon); its place."""
    deadline = time.monotonic() + timeout
    while True:
        box = desktop.wait_for_icon()
        image = desktop.icon_image(box)
        colour = icons.COLOURS[state][:3]
        share = share_of_colour(image, colour)
        likeness = shape_likeness(image, colour)
        looks_like = max(likeness, key=lambda kind: likeness[kind])
        if share >= ICON_COLOUR_SHARE and looks_like is state:
            return box
        assert time.monotonic() < deadline, (
            f"the icon is not {state.value}'s: {share:.0%} of its pixels in its colour, its "
            f"shape most like {looks_like.value} "
            f"({ {kind.value: round(v, 2) for kind, v in likeness.items()} })")
        time.sleep(0.2)


def start_logged_in(make_tray_agent: TrayAgentFactory, server: ScenarioServer, api: Api,
                    name: str, seats: int = 2, **kw: Any) -> tuple[TrayAgent, dict, dict]:
    account, license = api.new_account(seats=seats)
    agent = make_tray_agent(name, server_url=server.url, **kw)
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


def test_every_state_is_drawn_in_the_tray(
        desktop: Desktop, tray_server: ScenarioServer, tray_api: Api,
        make_tray_agent: TrayAgentFactory) -> None:
    """Each state of the table reaches the docked icon (its colour and its own shape on
    screen); a screenshot of each, and of the menus that offer a choice, is kept."""
    shot = desktop.screenshot

    # Asking for a seat: the server does not answer yet.
    with FaultProxy(tray_server.port) as proxy:
        account, _ = tray_api.new_account(seats=1)
        agent = make_tray_agent("drafting-pc", server_url=proxy.url)
        agent.login(account["email"], account["password"])
        proxy.stall()
        agent.start()
        agent.wait_for("acquiring")
        shows(desktop, SeatState.ACQUIRING)
        shot("acquiring")
        proxy.restore()
        agent.wait_for("active", timeout=60)
        # Offline with the seat held, then Log out… queued until the server answers.
        proxy.cut()
        agent.wait_for("offline")
        shows(desktop, SeatState.OFFLINE)
        shot("offline")
        choose_from_menu(agent, desktop, "Log out…")
        agent.atspi("click", "push button", "OK")
        agent.wait_for("logout_pending")
        shows(desktop, SeatState.LOGOUT_PENDING)
        shot("logout_pending")
        proxy.restore()
        agent.wait_for("signed_out", timeout=30)
        agent.stop()

    # Released from the menu; then all seats taken; Discovery mode chosen from the menu.
    account, license = tray_api.new_account(seats=1)
    agent = make_tray_agent("survey-laptop", server_url=tray_server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    choose_from_menu(agent, desktop, "Release seat now")
    agent.wait_for("released")
    deadline = time.monotonic() + 10
    while live_leases(tray_api, license["id"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live_leases(tray_api, license["id"]) == []
    shows(desktop, SeatState.RELEASED)
    shot("released")
    office = tray_api.login(account["email"], account["password"], name="office-pc")
    assert office.acquire().status_code == 201
    choose_from_menu(agent, desktop, "Take a seat again")
    agent.wait_for("seat_limit_reached")
    shows(desktop, SeatState.SEAT_LIMIT_REACHED)
    desktop.right_click(desktop.wait_for_icon())
    agent.atspi("find", "menu item", "Continue in Discovery mode")
    shot("seat_limit_reached")
    agent.atspi("click", "menu item", "Continue in Discovery mode")
    agent.wait_for("discovery")
    shows(desktop, SeatState.DISCOVERY)
    shot("discovery")
    agent.stop()

    # A seat taken away by an administrator.
    agent, _, _ = start_logged_in(make_tray_agent, tray_server, tray_api, "plotter-pc")
    agent.serve_notifications()
    lease_id = agent.wait_for("active")["lease"]["lease_id"]
    assert tray_api.admin_delete(f"/v1/admin/leases/{lease_id}").status_code == 204
    agent.wait_for("revoked")
    shows(desktop, SeatState.REVOKED)
    shot("revoked")
    deadline = time.monotonic() + 10
    while not agent.notifications():
        assert time.monotonic() < deadline, "no desktop notification arrived"
        time.sleep(0.1)
    assert agent.notifications() == [{
        "app": "", "summary": "Seat taken away",
        "body": "Your seat on this computer was taken away by an administrator."}]
    assert agent.stop() == 0

    # Licenses that cannot be used: Support & Upgrade ended, subscription ended.
    for state, terms in [(SeatState.SUPPORT_EXPIRED, {"kind": "perpetual",
                                                       "support_until": "2025-06-01"}),
                         (SeatState.LICENSE_EXPIRED, {"expires_at": "2026-01-01T00:00:00Z"})]:
        account, _ = tray_api.new_account(seats=1, **terms)
        agent = make_tray_agent(f"pc-{state.value}", server_url=tray_server.url)
        agent.login(account["email"], account["password"])
        agent.start()
        agent.wait_for(state.value)
        shows(desktop, state)
        shot(state.value)
        agent.stop()

    # A problem the user must fix: the server's leases no longer match its pinned key.
    account, _ = tray_api.new_account(seats=1)
    agent = make_tray_agent("pinned-pc", server_url=tray_server.url)
    agent.login(account["email"], account["password"])
    session = agent.session()
    session["public_keys"] = {kid: base64.b64encode(bytes(32)).decode()
                              for kid in session["public_keys"]}
    (agent.data_dir / "session.json").write_text(json.dumps(session))
    agent.start()
    agent.wait_for("error")
    shows(desktop, SeatState.ERROR)
    shot("error")
    agent.stop()


def test_quit_gives_the_seat_back_and_keeps_the_login(
        desktop: Desktop, tray_server: ScenarioServer, tray_api: Api,
        make_tray_agent: TrayAgentFactory) -> None:
    """Quit from the menu ends the agent with the seat freed; the next start takes one again."""
    agent, account, license = start_logged_in(make_tray_agent, tray_server, tray_api,
                                              "site-tablet")
    agent.wait_for("active")
    choose_from_menu(agent, desktop, "Quit")
    deadline = time.monotonic() + 15
    while agent.alive:
        assert time.monotonic() < deadline, "the agent did not end after Quit"
        time.sleep(0.1)
    assert agent.stop() == 0
    assert live_leases(tray_api, license["id"]) == []
    assert agent.status()["account"] == account["email"]
    agent.start()
    agent.wait_for("active")
    shows(desktop, SeatState.ACTIVE)


def test_borrow_and_return_from_the_tray(
        desktop: Desktop, tray_server: ScenarioServer, tray_api: Api,
        make_tray_agent: TrayAgentFactory) -> None:
    """Borrow for offline use ▸ 3 days borrows the seat; Quit keeps it; Return borrowed seat
    gives it back and a normal seat is taken again."""
    account, license = tray_api.new_account(seats=1, max_borrow_s=7 * 86400)
    agent = make_tray_agent("trip-laptop", server_url=tray_server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    shows(desktop, SeatState.ACTIVE)
    choose_from_menu(agent, desktop, "Borrow for offline use", role="menu")
    agent.atspi("find", "menu item", "7 days")
    desktop.screenshot("menu-borrow")
    agent.atspi("click", "menu item", "3 days")
    borrowed = agent.wait_for("active", until=lambda s: s["borrowed_until"] is not None)
    lease_id = borrowed["lease"]["lease_id"]
    assert [x["borrowed_until"] for x in live_leases(tray_api, license["id"])] \
        == [borrowed["borrowed_until"]]
    desktop.right_click(desktop.wait_for_icon())
    agent.atspi("find", "menu item", "Return borrowed seat")
    desktop.screenshot("menu-borrowed")
    desktop.key("Escape")

    choose_from_menu(agent, desktop, "Quit")
    deadline = time.monotonic() + 15
    while agent.alive:
        assert time.monotonic() < deadline, "the agent did not end after Quit"
        time.sleep(0.1)
    assert agent.stop() == 0
    assert [x["lease_id"] for x in live_leases(tray_api, license["id"])] == [lease_id]

    agent.start()
    agent.wait_for("active", until=lambda s: s["borrowed_until"] is not None)
    choose_from_menu(agent, desktop, "Return borrowed seat")
    again = agent.wait_for("active", timeout=15,
                           until=lambda s: s["lease"]["lease_id"] != lease_id)
    assert again["borrowed_until"] is None
    assert [x["lease_id"] for x in live_leases(tray_api, license["id"])] \
        == [again["lease"]["lease_id"]]
    shows(desktop, SeatState.ACTIVE)
    assert agent.stop() == 0


def test_offline_for_longer_than_a_heartbeat_is_told_once(
        desktop: Desktop, tray_server: ScenarioServer, tray_api: Api,
        make_tray_agent: TrayAgentFactory) -> None:
    """Cut from the server with the seat held, the tray tells "Offline" once a heartbeat
    interval (1 s here) has passed with nothing else changing (it sleeps until that notice
    is due, with no tick), and tells it only once."""
    with FaultProxy(tray_server.port) as proxy:
        account, _ = tray_api.new_account(seats=1)
        agent = make_tray_agent("field-laptop", server_url=proxy.url)
        agent.login(account["email"], account["password"])
        agent.start()
        agent.serve_notifications()
        agent.wait_for("active")
        proxy.cut()
        agent.wait_for("offline")
        deadline = time.monotonic() + 10
        while not agent.notifications():
            assert time.monotonic() < deadline, "no Offline notification arrived"
            time.sleep(0.1)
        time.sleep(3)
        assert [n["summary"] for n in agent.notifications()] == ["Offline"]
        assert "cannot be reached" in agent.notifications()[0]["body"]
        proxy.restore()
        agent.wait_for("active", timeout=30)
        assert agent.stop() == 0
