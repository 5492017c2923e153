"""A Zurich user's Windows speaks German: the tray's dialogs and the command line follow the
user's UI language (GetUserDefaultUILanguage), under Wine with the Windows CPython.

Wine takes the Windows user's UI language from the Unix locale it starts in, which glibc
must know: the locale is compiled for the test (localedef into a folder of its own,
LOCPATH), so Wine reports Swiss German (0x0807) to the agent, which is not told its
language in any other way (no `language` setting, and the agent ignores the POSIX
variables on Windows).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.scenarios.common import ScenarioServer
from tests.support.api import Api
from tests.windows import wine
from tests.windows.conftest import DesktopAgentFactory
from tests.windows.desktop import WineDesktop
from tests.windows.seats import leases, seated, wait_until

MESSAGE_BOX = "#32770"
POPUP_MENU = "#32768"
DIALOG = "#32770"


@pytest.fixture(scope="module")
def swiss_german(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a Wine session whose Windows user reads Swiss German."""
    folder = tmp_path_factory.mktemp("locales")
    done = subprocess.run(["localedef", "-i", "de_CH", "-f", "UTF-8",
                           str(folder / "de_CH.UTF-8")], capture_output=True, text=True,
                          timeout=120, check=False)
    assert (folder / "de_CH.UTF-8").is_dir(), done.stderr
    return {"LOCPATH": str(folder), "LC_ALL": "de_CH.UTF-8", "LANG": "de_CH.UTF-8"}


def test_wine_reports_the_users_ui_language(swiss_german: dict[str, str]) -> None:
    """The premise: under this environment Windows says its user reads Swiss German."""
    done = wine.run_python(["-c", "import ctypes; print(hex(ctypes.windll.kernel32."
                                  "GetUserDefaultUILanguage()))"],
                           env=swiss_german)
    assert done.stdout.strip() == "0x807", done.stdout + done.stderr


def test_a_german_windows_gets_german_dialogs_and_command_line(
        desktop: WineDesktop, make_desktop_agent: DesktopAgentFactory,
        server: ScenarioServer, api: Api, swiss_german: dict[str, str]) -> None:
    """`status` says Platz 1 von 1; the tray's Abmelden… (second line from the bottom) asks
    "Von Seatkeeper abmelden?" in a MessageBox whose Abbrechen keeps the seat."""
    agent, license, _ = seated(
        lambda name, **kw: make_desktop_agent(name, env=swiss_german, **kw),
        server, api, "buero-zh")
    status = agent.cli("status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[0] == "Platz 1 von 1", status.stdout

    desktop.click(desktop.wait_for_tray_icon().centre, button=3)
    menu = desktop.wait_for_window(POPUP_MENU, pid=agent.pid)
    time.sleep(0.5)  # let it draw
    desktop.screenshot("tray-menu-de")
    desktop.click(desktop.text_rows(menu)[-2].centre)
    box = desktop.wait_for_window(MESSAGE_BOX, "Seatkeeper", pid=agent.pid)
    assert any(text.startswith("Von Seatkeeper abmelden?") for text in box.texts), box.texts
    desktop.screenshot("logout-confirm-de")
    desktop.click(desktop.button(box, "Abbrechen").box.centre)
    desktop.wait_for_no_window(MESSAGE_BOX, "Seatkeeper", pid=agent.pid)
    agent.wait_for_log("log out cancelled")
    assert agent.alive
    assert len(leases(api, license["id"])) == 1


def test_the_first_run_dialog_in_german(
        desktop: WineDesktop, make_desktop_agent: DesktopAgentFactory, tmp_path: Path,
        swiss_german: dict[str, str]) -> None:
    """No server set: the menu's first line opens the Win32 dialog, worded in German, with
    Verbinden and Abbrechen."""
    agent = make_desktop_agent("erster-start", env=swiss_german)
    agent.start()
    desktop.click(desktop.wait_for_tray_icon().centre, button=3)
    menu = desktop.wait_for_window(POPUP_MENU, pid=agent.pid)
    time.sleep(0.5)
    desktop.click(desktop.text_rows(menu)[0].centre)
    window = desktop.wait_for_window(DIALOG, "Seatkeeper", pid=agent.pid)
    assert "Mit einem Lizenzserver verbinden" in window.texts, window.texts
    assert "&Serveradresse:" in window.texts, window.texts
    desktop.screenshot("first-run-de")
    desktop.click(desktop.button(window, "Abbrechen").box.centre)
    wait_until(lambda: desktop.find(DIALOG, "Seatkeeper", pid=agent.pid) is None,
               "the dialog closes")
    assert agent.alive
