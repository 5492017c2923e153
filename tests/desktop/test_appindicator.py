"""The AppIndicator backend: the agent's item and menu as a StatusNotifier host sees them.

GNOME's extension, KDE and most Wayland panels show tray icons this way: the agent
registers a StatusNotifierItem with the watcher on the session bus and exports its
menu over com.canonical.dbusmenu. A stand-in watcher (tests/desktop/sni_watcher.py)
lets the test be that host: read the item's title and menu, and click a menu entry.
"""

from __future__ import annotations

import json
import time
from typing import Any

from jeepney import DBusAddress, Properties, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection

from tests.desktop.conftest import TrayAgentFactory
from tests.desktop.screen import Desktop, TrayAgent
from tests.scenarios.common import ScenarioServer, live_leases
from tests.support.api import Api

ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"


def registered_item(agent: TrayAgent, timeout: float = 15.0) -> tuple[str, str]:
    """(bus name, object path) of the item the agent registered with the watcher."""
    deadline = time.monotonic() + timeout
    while True:
        lines = agent.items_file.read_text().splitlines() if agent.items_file.exists() else []
        if lines:
            item = json.loads(lines[-1])
            service = item["service"]
            if service.startswith("/"):
                return item["sender"], service
            return service, "/StatusNotifierItem"
        assert time.monotonic() < deadline, f"no item registered:\n{agent.logs_tail()}"
        time.sleep(0.1)


def item_property(bus: DBusConnection, name: str, path: str, prop: str) -> Any:
    reply = bus.send_and_get_reply(Properties(DBusAddress(path, name, ITEM)).get(prop),
                                   timeout=5)
    return reply.body[0][1]


def menu_entries(bus: DBusConnection, name: str, menu_path: str) -> dict[str, int]:
    """Each labelled menu entry, at any depth: label -> dbusmenu id."""
    call = new_method_call(DBusAddress(menu_path, name, MENU), "GetLayout", "iias",
                           (0, -1, ["label"]))
    _, layout = bus.send_and_get_reply(call, timeout=5).body
    found: dict[str, int] = {}

    def walk(node: Any) -> None:
        entry_id, props, children = node
        if "label" in props:
            found[props["label"][1].replace("_", "")] = entry_id
        for _, child in children:
            walk(child)

    walk(layout)
    return found


def wait_for_entry(bus: DBusConnection, name: str, menu_path: str, label: str) -> int:
    deadline = time.monotonic() + 10
    while True:
        entries = menu_entries(bus, name, menu_path)
        if label in entries:
            return entries[label]
        assert time.monotonic() < deadline, f"no {label!r} in {sorted(entries)}"
        time.sleep(0.2)


def test_appindicator_item_shows_the_state_and_its_menu_works(
        desktop: Desktop, tray_server: ScenarioServer, tray_api: Api,
        make_tray_agent: TrayAgentFactory) -> None:
    """The item is registered with the state as its title; Release seat now from its
    exported menu frees the seat on the server."""
    account, license = tray_api.new_account(seats=2)
    agent = make_tray_agent("wayland-laptop", server_url=tray_server.url)
    agent.extra_env["PYSTRAY_BACKEND"] = "appindicator"
    agent.login(account["email"], account["password"])
    agent.start()
    agent.serve_status_notifier_watcher()
    agent.wait_for("active")
    name, path = registered_item(agent)
    assert "tray backend appindicator" in agent.logs_text()

    _, address = agent.session_bus()
    bus = open_dbus_connection(address)
    try:
        deadline = time.monotonic() + 10
        while item_property(bus, name, path, "Title") != "Seat 1 of 2 · PIX4Dmapper Yearly":
            assert time.monotonic() < deadline, item_property(bus, name, path, "Title")
            time.sleep(0.2)
        menu_path = item_property(bus, name, path, "Menu")
        release = wait_for_entry(bus, name, menu_path, "Release seat now")
        assert {"Log out…", "Quit", "About Seatkeeper"} <= set(
            menu_entries(bus, name, menu_path))
        click = new_method_call(DBusAddress(menu_path, name, MENU), "Event", "isvu",
                                (release, "clicked", ("i", 0), 0))
        bus.send_and_get_reply(click, timeout=5)
        agent.wait_for("released")
        deadline = time.monotonic() + 10
        while live_leases(tray_api, license["id"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert live_leases(tray_api, license["id"]) == []
    finally:
        bus.close()
    assert agent.stop() == 0
