"""The tray on Windows (pystray's win32 backend under Wine): icon, menu, Log out…'s MessageBox.

A person's view of it: the icon in the taskbar's notification area, a right-click, the
menu's Log out… (the last line but Quit), and the MessageBox found by its class and
title, its buttons by their captions.
"""

from __future__ import annotations

import time

from seatkeeper import __version__
from seatkeeper.tray.icons import GREEN, GREY

from tests.desktop.pixels import share_of_colour
from tests.scenarios.common import ScenarioServer
from tests.support.api import Api
from tests.windows.conftest import DesktopAgentFactory
from tests.windows.desktop import Window, WineDesktop
from tests.windows.desktop_agent import DesktopAgent
from tests.windows.seats import leases, seated, wait_until

MESSAGE_BOX = "#32770"  # the dialog class MessageBoxW's window has
POPUP_MENU = "#32768"   # a popup menu's window class
EXPLORER = "ExplorerWClass"  # a folder's window in (Wine's) Explorer
WM_CLOSE = 0x0010


def choose(desktop: WineDesktop, agent: DesktopAgent, from_the_bottom: int) -> None:
    """Right-click the tray icon and click the menu's Nth line of text from the bottom
    (1: Quit, 2: Log out…, 3: About Seatkeeper, 4: Open log folder)."""
    icon = desktop.wait_for_tray_icon()
    desktop.click(icon.centre, button=3)
    menu = desktop.wait_for_window(POPUP_MENU, pid=agent.pid)
    time.sleep(0.5)  # let it draw
    desktop.screenshot("tray-menu")
    desktop.click(desktop.text_rows(menu)[-from_the_bottom].centre)


def open_log_out(desktop: WineDesktop, agent: DesktopAgent) -> Window:
    """Right-click the tray icon, choose Log out…; the confirmation MessageBox."""
    choose(desktop, agent, 2)
    box = desktop.wait_for_window(MESSAGE_BOX, "Seatkeeper", pid=agent.pid)
    assert any(text.startswith("Log out of Seatkeeper?") for text in box.texts), box.texts
    return box


def test_icon_shows_the_held_seat_in_the_notification_area(
        desktop: WineDesktop, make_desktop_agent: DesktopAgentFactory,
        server: ScenarioServer, api: Api) -> None:
    """`seatkeeper run` adds its icon to the taskbar's notification area, green for a seat."""
    seated(make_desktop_agent, server, api, "icon-pc")
    icon = desktop.wait_for_tray_icon()

    def green() -> bool:
        return share_of_colour(desktop.capture(icon), GREEN[:3]) > 0.15

    wait_until(green, "the icon turns green")
    desktop.screenshot("tray-active")


def test_log_out_ok_frees_the_seat(
        desktop: WineDesktop, make_desktop_agent: DesktopAgentFactory,
        server: ScenarioServer, api: Api) -> None:
    """Log out… opens a MessageBox; OK frees the seat on the server, the icon turns grey."""
    agent, license, _ = seated(make_desktop_agent, server, api, "ok-pc")
    box = open_log_out(desktop, agent)
    desktop.screenshot("logout-confirm")
    desktop.click(desktop.button(box, "OK").box.centre)

    desktop.wait_for_no_window(MESSAGE_BOX, "Seatkeeper", pid=agent.pid)
    wait_until(lambda: leases(api, license["id"]) == [], "the seat is freed")
    agent.wait_for_log("-> signed_out")
    icon = desktop.wait_for_tray_icon()
    wait_until(lambda: share_of_colour(desktop.capture(icon), GREY[:3]) > 0.15,
               "the icon turns grey (not logged in)")


def test_log_out_cancel_keeps_the_seat(
        desktop: WineDesktop, make_desktop_agent: DesktopAgentFactory,
        server: ScenarioServer, api: Api) -> None:
    """Cancel closes the MessageBox and the seat stays held, heartbeat after heartbeat."""
    agent, license, _ = seated(make_desktop_agent, server, api, "cancel-pc")
    [lease] = leases(api, license["id"])
    box = open_log_out(desktop, agent)
    desktop.click(desktop.button(box, "Cancel").box.centre)

    desktop.wait_for_no_window(MESSAGE_BOX, "Seatkeeper", pid=agent.pid)
    agent.wait_for_log("log out cancelled")
    time.sleep(3)  # three heartbeats' worth: a logout would have reached the server
    assert [each["lease_id"] for each in leases(api, license["id"])] == \
        [lease["lease_id"]]
    assert agent.alive


def test_quit_gives_the_seat_back_and_keeps_the_login(
        desktop: WineDesktop, make_desktop_agent: DesktopAgentFactory,
        server: ScenarioServer, api: Api) -> None:
    """Quit (the menu's last line): the icon goes, the seat is freed, the login stays."""
    agent, license, _ = seated(make_desktop_agent, server, api, "quit-pc")
    choose(desktop, agent, 1)

    assert agent.proc is not None
    assert agent.proc.wait(timeout=30) == 0, agent.logs_tail()
    wait_until(lambda: desktop.tray_icons() == [], "the icon leaves the notification area",
               timeout=10)
    assert leases(api, license["id"]) == []
    assert "quit: the seat is released; the login is kept" in agent.logs_text()
    agent.start()
    wait_until(lambda: len(leases(api, license["id"])) == 1, "a seat again at the next start")


def test_open_log_folder_shows_it_in_explorer(
        desktop: WineDesktop, make_desktop_agent: DesktopAgentFactory,
        server: ScenarioServer, api: Api) -> None:
    """Open log folder: an Explorer window of the agent's log folder opens."""
    agent, _, _ = seated(make_desktop_agent, server, api, "logs-pc")
    choose(desktop, agent, 4)
    folder = desktop.wait_for_window(EXPLORER, agent.log_dir.name)
    desktop.screenshot("log-folder")
    desktop.post(folder.hwnd, WM_CLOSE)
    desktop.wait_for_no_window(EXPLORER, agent.log_dir.name)


def test_about_tells_the_versions_on_windows(
        desktop: WineDesktop, make_desktop_agent: DesktopAgentFactory,
        server: ScenarioServer, api: Api) -> None:
    """About Seatkeeper: a MessageBox with the version, Windows' CPython, the win32 backend."""
    agent, _, _ = seated(make_desktop_agent, server, api, "about-pc")
    choose(desktop, agent, 3)
    box = desktop.wait_for_window(MESSAGE_BOX, "Seatkeeper", pid=agent.pid)
    words = "\n".join(box.texts)
    assert words.startswith("About Seatkeeper"), words
    for line in (f"Seatkeeper {__version__}", "Python 3.13", "Tray backend win32",
                 f"Server: {server.url}", "This device: about-pc"):
        assert line in words, words
    desktop.click(desktop.button(box, "OK").box.centre)
    desktop.wait_for_no_window(MESSAGE_BOX, "Seatkeeper", pid=agent.pid)
    assert agent.alive
