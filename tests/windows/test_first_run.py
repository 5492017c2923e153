"""The first run on Windows (the Windows CPython under Wine): Connect to a license server… in a
real Win32 dialog, typed into and confirmed; config.toml written; the code copied to the
Windows clipboard and pasted into the portal.

The dialog is found as a person (and a screen reader) finds it: by its class (`#32770`,
a dialog) and title, its field by its class (`Edit`), its buttons by their captions; the
address is typed on the keyboard (xdotool, through Wine's X11 driver) and the clipboard
is read back by a Windows program (desktop_probe.py).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from PIL import Image

from tests.scenarios.common import ScenarioServer
from tests.support.api import Api
from tests.support.portal import Portal
from tests.windows import wine
from tests.windows.conftest import DesktopAgentFactory
from tests.windows.desktop import Window, WineDesktop
from tests.windows.desktop_agent import DesktopAgent
from tests.windows.seats import wait_until

DIALOG = "#32770"
POPUP_MENU = "#32768"
COMMENT = "# Set up by hand on this PC: keep this line.\n"
LOGIN_STARTED = re.compile(r"browser login started on (\S+): code (\S+)")


def first_enabled_line(desktop: WineDesktop, agent: DesktopAgent, shot: str) -> None:
    """Right-click the tray icon and click the menu's first line of dark (enabled) text."""
    desktop.click(desktop.wait_for_tray_icon().centre, button=3)
    menu = desktop.wait_for_window(POPUP_MENU, pid=agent.pid)
    time.sleep(0.5)  # let it draw
    desktop.screenshot(shot)
    desktop.click(desktop.text_rows(menu)[0].centre)


def the_dialog(desktop: WineDesktop, agent: DesktopAgent) -> Window:
    window = desktop.wait_for_window(DIALOG, "Seatkeeper", pid=agent.pid)
    assert "Connect to a license server" in window.texts, window.texts
    return window


def field(window: Window) -> Window:
    [edit] = [child for child in window.children if child.cls == "Edit"]
    return edit


def dialog_shot(desktop: WineDesktop, window: Window, name: str) -> Path:
    """The dialog alone, as a screenshot for the README."""
    path = desktop.screenshot(name)
    box = window.box
    with Image.open(path) as screen:
        screen.crop((box.x, box.y, box.x + box.width, box.y + box.height)).save(path)
    return path


def recording_browser(folder: Path) -> tuple[str, Path]:
    """A Windows batch file that notes each address it is asked to open (BROWSER names it)."""
    opened = folder / "opened.txt"
    script = folder / "browser.bat"
    script.write_text(f'@echo %*>> "{wine.windows_path(opened)}"\r\n', encoding="ascii")
    return wine.windows_path(script), opened


def test_the_first_run_dialog_saves_the_server_and_the_code_is_copied(
        desktop: WineDesktop, make_desktop_agent: DesktopAgentFactory,
        server: ScenarioServer, api: Api, tmp_path: Path) -> None:
    """No server: Connect… opens a Win32 dialog; a wrong address is refused in it (it stays,
    the field selected); the right one is saved, the browser login starts; Copy code puts
    the code on the clipboard; pasted into the portal, it logs the agent in."""
    account, _ = api.new_account(seats=1)
    browser, opened = recording_browser(tmp_path)
    agent = make_desktop_agent("first-run-win", env={"BROWSER": browser})
    agent.config_file.write_text(COMMENT + agent.config_file.read_text(), encoding="utf-8")
    agent.start()

    first_enabled_line(desktop, agent, "first-run-menu")
    window = the_dialog(desktop, agent)
    assert "&Server address:" in window.texts
    desktop.click(field(window).box.centre)
    desktop.type("http://licenses.example.com")
    desktop.click(desktop.button(window, "Connect").box.centre)
    said = ("Plain http:// is allowed only to this computer: your login and seat would travel "
            "unencrypted to licenses.example.com. Type the server's https:// address.")
    wait_until(lambda: said in the_dialog(desktop, agent).texts, "the problem in the dialog")
    window = the_dialog(desktop, agent)
    dialog_shot(desktop, window, "first-run-refused")
    assert "server_url" not in agent.config_file.read_text()

    desktop.type(server.url)  # the field is selected again: typing replaces it
    window = the_dialog(desktop, agent)
    assert said not in window.texts  # the correction under way clears the problem
    dialog_shot(desktop, window, "first-run-dialog")
    desktop.key("Return")  # Connect is the default button
    desktop.wait_for_no_window(DIALOG, "Seatkeeper", pid=agent.pid)
    text = agent.config_file.read_text(encoding="utf-8")
    assert text.startswith(COMMENT) and f'server_url = "{server.url}"' in text
    logs = agent.wait_for_log("browser login started on")
    [(where, code)] = LOGIN_STARTED.findall(logs)
    assert where == server.url
    wait_until(lambda: opened.exists() and code in opened.read_text(), "the browser opened")

    first_enabled_line(desktop, agent, "first-run-code-menu")  # Copy code
    wait_until(lambda: desktop.clipboard() == code, "the code on the Windows clipboard")
    visitor = Portal(server.url)
    try:
        assert visitor.sign_in(account["email"], account["password"]).status_code == 303
        assert visitor.approve(str(desktop.clipboard())).status_code == 200
    finally:
        visitor.close()
    agent.wait_for_log("-> active", timeout=30)
