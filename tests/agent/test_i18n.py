"""Which language the agent speaks, and how it says times and its own English messages."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from seatkeeper import i18n
from seatkeeper.cli_messages import status_text
from seatkeeper.config import load_config
from seatkeeper.core.errors import ConfigError
from seatkeeper.core.state import SeatState, Status
from seatkeeper.phrases import say
from seatkeeper.tray import messages
from seatkeeper.tray.view import local_day_time, tooltip, view

THU = dt.datetime(2026, 12, 3, 14, 5, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def english_after() -> Iterator[None]:
    yield
    i18n.use("en")


@pytest.mark.parametrize(("env", "language"), [
    ({"LANG": "de_CH.UTF-8"}, "de"),
    ({"LANG": "fr_CH.UTF-8"}, "fr"),
    ({"LANG": "de_DE.UTF-8", "LC_MESSAGES": "fr_FR.UTF-8"}, "fr"),
    ({"LANG": "de_DE.UTF-8", "LC_MESSAGES": "fr_FR", "LC_ALL": "en_GB.UTF-8"}, "en"),
    ({"LANG": "en_US.UTF-8", "LC_ALL": "de_AT.UTF-8", "LANGUAGE": "fr:de"}, "fr"),
    ({"LANGUAGE": "it:de", "LANG": "fr_FR.UTF-8"}, "de"),  # the first of ours in the list
    ({"LANGUAGE": "it", "LANG": "fr_FR.UTF-8"}, "fr"),  # none of ours: the next variable
    ({"LANG": "it_IT.UTF-8"}, "en"),
    ({"LC_ALL": "C", "LANG": "de_DE.UTF-8"}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({}, "en"),
])
def test_the_posix_locale_variables_decide_in_gettexts_order(
        env: dict[str, str], language: str) -> None:
    """LANGUAGE, LC_ALL, LC_MESSAGES, LANG: the first one set decides; C means English."""
    assert i18n.os_language(env, platform="linux") == language


@pytest.mark.parametrize(("langid", "language"), [
    (0x0407, "de"), (0x0807, "de"), (0x040C, "fr"), (0x100C, "fr"), (0x0409, "en"),
    (0x0410, "en"),  # Italian: not one of ours
])
def test_windows_follows_the_users_ui_language(monkeypatch: pytest.MonkeyPatch, langid: int,
                                               language: str) -> None:
    """On Windows GetUserDefaultUILanguage decides (Swiss German 0x0807 is German); the
    locale variables Wine passes through do not."""
    monkeypatch.setattr(i18n, "_windows_ui_langid", lambda: langid)
    assert i18n.os_language({"LANG": "C.UTF-8"}, platform="win32") == language


def test_without_windows_ui_language_english(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> int:
        raise OSError("no kernel32")

    monkeypatch.setattr(i18n, "_windows_ui_langid", broken)
    assert i18n.os_language({}, platform="win32") == "en"


@pytest.mark.parametrize(("language", "shown"), [
    ("en", "Thu 3 Dec 14:05"), ("de", "Do., 3. Dez. 14:05"), ("fr", "jeu. 3 déc. 14:05")])
def test_days_and_times_read_as_each_language_writes_them(language: str, shown: str) -> None:
    """A borrow's end: the weekday, day and month in the language's own abbreviations."""
    i18n.use(language)
    assert local_day_time(THU, dt.UTC) == shown


def test_the_tray_speaks_german() -> None:
    status = Status(state=SeatState.ACTIVE, account="anna@example.ch", server="https://l.ch",
                    license_name="PIX4Dmapper", seats_used=2, seats_total=5)
    i18n.use("de")
    shown = view(status, tz=dt.UTC)
    assert shown.tooltip == "Platz 2 von 5 · PIX4Dmapper"
    labels = [entry.label for entry in shown.menu]
    assert labels[:3] == ["Platz 2 von 5", "Lizenz: PIX4Dmapper", "Konto: anna@example.ch"]
    assert {"Platz jetzt freigeben", "Abmelden…", "Beenden"} <= set(labels)
    assert messages.logout_prompt(status).title == "Von Seatkeeper abmelden?"


def test_the_tray_speaks_french() -> None:
    i18n.use("fr")
    status = Status(state=SeatState.SIGNED_OUT)
    assert tooltip(status) == "Seatkeeper · non connecté"
    notice = messages.login_notice("WDJB-MJHT", "https://l.example/device")
    assert notice.text == "Validez le code WDJB-MJHT dans le navigateur (https://l.example/device)."
    assert dict(notice.actions)[messages.COPY_CODE] == "Copier le code"


def test_the_agents_english_messages_are_said_sentence_by_sentence() -> None:
    """A status message built of known sentences (with times and names in them) is said in
    German; a sentence the agent does not know (the server's own) stays as it came."""
    i18n.use("de")
    text = ("Offline; seat held until 2026-12-03T14:05:00Z. The license server took too long "
            "to answer. Check your Internet connection; Seatkeeper will try again by itself.")
    assert say(text) == ("Offline; Platz belegt bis 2026-12-03T14:05:00Z. Der Lizenzserver hat "
                         "zu lange nicht geantwortet. Prüfen Sie Ihre Internetverbindung; "
                         "Seatkeeper versucht es selbst wieder.")
    assert say("Licence pool PX-7 is frozen. The seat ran out.") == (
        "Licence pool PX-7 is frozen. Der Platz ist abgelaufen.")
    i18n.use("en")
    assert say(text) == text


def test_status_in_french_keeps_local_times() -> None:
    i18n.use("fr")
    data = Status(state=SeatState.OFFLINE, account="luc@example.fr", server="https://l.fr",
                  license_name="PIX4Dmapper", seats_used=1, seats_total=3,
                  lease_expires_at=THU, lease_id="ls_1",
                  message="Offline; seat held until 2026-12-03T14:05:00Z.").to_json()
    text = status_text(data, THU, dt.UTC)
    assert text.splitlines()[0] == "Hors ligne · place réservée jusqu\u2019à 14:05"
    assert "luc@example.fr sur https://l.fr" in text
    assert "réservée jusqu\u2019à 14:05 sauf renouvellement (attribution ls_1)" in text


@pytest.mark.parametrize("value", ["de", "FR", " en "])
def test_the_language_setting(tmp_path: Path, value: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f'language = "{value}"\n')
    config = load_config({"SEATKEEPER_HOME": str(home)}, system_file=tmp_path / "none")
    assert config.language == value.strip().lower()
    assert config.setting("language").where == str(home / "config.toml")


def test_an_unknown_language_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"SEATKEEPER_HOME": str(tmp_path), "SEATKEEPER_LANGUAGE": "es"},
                    system_file=tmp_path / "none")
    assert str(caught.value) == (
        "environment variable SEATKEEPER_LANGUAGE: 'language' should be one of en, de, fr "
        "(not 'es'); leave it out to follow the system's language.")


def test_the_setting_wins_over_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGE", "de")
    assert i18n.use("fr") == "fr"
    assert i18n.use(None) == "de"


def test_the_agent_speaks_german_without_babel() -> None:
    """Babel is for the catalogues' makers: the agent's start, a German view and a German
    status read the .mo with the standard library alone (and `say` imports no requests)."""
    code = ("import sys, datetime as dt\n"
            "from seatkeeper import cli, runner, i18n\n"
            "from seatkeeper.cli_messages import status_text\n"
            "from seatkeeper.core.state import SeatState, Status\n"
            "i18n.use('de')\n"
            "data = Status(state=SeatState.OFFLINE, message='The seat ran out.').to_json()\n"
            "print(status_text(data, dt.datetime.now(dt.UTC)).splitlines()[1].strip())\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('babel', 'requests')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.splitlines() == ["Der Platz ist abgelaufen.", "[]"], done.stdout


def test_an_administrator_can_set_and_lock_the_language(tmp_path: Path) -> None:
    """The policy file's language, locked: the user's own is ignored, with a warning."""
    policy = tmp_path / "etc.toml"
    policy.write_text('language = "de"\n[policy]\nlocked = ["language"]\n')
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('language = "fr"\n')
    config = load_config({"SEATKEEPER_HOME": str(home)}, system_file=policy)
    setting = config.setting("language")
    assert (setting.value, setting.where, setting.locked) == ("de", str(policy), True)
    assert config.warnings == (
        f"{home / 'config.toml'}: 'language' is locked by {policy}; the administrator's "
        "value is kept.",)
    i18n.use(config.language)
    assert say(config.warnings[0]) == (
        f"{home / 'config.toml'}: «language» ist durch {policy} gesperrt; der Wert des "
        "Administrators gilt.")


def test_macos_follows_system_settings_when_no_variable_says(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A launchd session sets no LANG: the first of the user's preferred languages that we
    have decides (declared untested on a real Mac, like the macOS dialogs)."""
    monkeypatch.setattr(i18n, "_macos_preferred_languages", lambda: ["it-CH", "fr-CH", "de"])
    assert i18n.os_language({}, platform="darwin") == "fr"
    assert i18n.os_language({"LANG": "de_CH.UTF-8"}, platform="darwin") == "de"
