"""The tray in the user's language, on a real desktop: German from the locale, French by setting.

The agent runs under the real tray host with the locale a German user's session has
(`LANG=de_DE.UTF-8`, no `LANGUAGE`); its menu and its Log out confirmation are found by
their German names through AT-SPI, as a screen reader reads them. The `language`
setting wins over the locale: `language = "fr"` in config.toml, French in a German
session. A screenshot of the German menu is kept for the README.
"""

from __future__ import annotations

import json

from PIL import Image

from tests.desktop.conftest import TrayAgentFactory
from tests.desktop.screen import Desktop, TrayAgent
from tests.desktop.test_tray import choose_from_menu, start_logged_in
from tests.scenarios.common import ScenarioServer, live_leases
from tests.support.api import Api

GERMAN_SESSION = {"LANG": "de_DE.UTF-8", "LANGUAGE": None, "LC_ALL": None,
                  "LC_MESSAGES": None}


def menu_shot(agent: TrayAgent, desktop: Desktop, first: str, last: str, name: str) -> None:
    """A screenshot of the open menu (from its first to its last entry) and the docked icon."""
    x, _, _, _ = json.loads(agent.atspi("where", "menu item", first))
    lx, ly, _, height = json.loads(agent.atspi("where", "menu item", last))
    path = desktop.screenshot(name)
    with Image.open(path) as screen:
        screen.crop((max(0, min(x, lx) - 40), 0, screen.width, ly + height + 16)).save(path)


def test_a_german_session_gets_a_german_tray(
        desktop: Desktop, tray_server: ScenarioServer, tray_api: Api,
        make_tray_agent: TrayAgentFactory) -> None:
    """With LANG=de_DE.UTF-8 the menu, its state line and the Log out confirmation are German,
    and Abmelden… with OK frees the seat as Log out… does."""
    agent, _, license = start_logged_in(make_tray_agent, tray_server, tray_api,
                                        "vermessung-zh", env=GERMAN_SESSION)
    agent.wait_for("active")
    desktop.right_click(desktop.wait_for_icon())
    for label in ("Platz 1 von 2", "Platz jetzt freigeben", "Protokollordner öffnen",
                  "Über Seatkeeper", "Abmelden…", "Beenden"):
        agent.atspi("find", "menu item", label)
    agent.atspi("find", "menu", "Geräte")
    agent.atspi("find", "check menu item", "Beim Anmelden starten")
    menu_shot(agent, desktop, "Platz 1 von 2", "Beenden", "menu-active-de")
    desktop.key("Escape")

    choose_from_menu(agent, desktop, "Abmelden…")
    agent.atspi("find", "push button", "Abbrechen")
    agent.atspi("find", "label", "Von Seatkeeper abmelden?")
    desktop.screenshot("logout-confirm-de")
    agent.atspi("click", "push button", "OK")
    agent.wait_for("signed_out")
    assert live_leases(tray_api, license["id"]) == []
    assert agent.stop() == 0


def test_the_language_setting_wins_over_the_locale(
        desktop: Desktop, tray_server: ScenarioServer, tray_api: Api,
        make_tray_agent: TrayAgentFactory) -> None:
    """language = "fr" in config.toml: a French tray in a German session."""
    agent, _, _ = start_logged_in(make_tray_agent, tray_server, tray_api, "poste-lyon",
                                  env=GERMAN_SESSION, language="fr")
    agent.wait_for("active")
    desktop.right_click(desktop.wait_for_icon())
    for label in ("Place 1 sur 2", "Libérer la place maintenant", "Se déconnecter…", "Quitter"):
        agent.atspi("find", "menu item", label)
    desktop.screenshot("menu-active-fr")
    desktop.key("Escape")
    assert agent.stop() == 0
