"""What a Windows administrator sets: the policy key and every user's start at login, on Linux.

The registry calls of `seatkeeper.platform.windows` are replaced (the policy's reader, the
Run values); tests/windows/ does the same against Wine's real registry.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from seatkeeper.config import load_config
from seatkeeper.core.errors import ConfigError, SetByAdministrator
from seatkeeper.core.state import SeatState, Status
from seatkeeper.platform import windows
from seatkeeper.service import autostart
from seatkeeper.service.first_run import ServerChoice, server_setting
from seatkeeper.tray.view import view

from tests.agent.test_platform_windows_macos import Events

WHERE = r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Seatkeeper"


def with_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, values: dict[str, Any],
                user: str = "") -> Any:
    """load_config() with the policy key holding `values` and the user's file `user`."""
    monkeypatch.setattr(windows, "read_policy", lambda: dict(values))
    (tmp_path / "config.toml").write_text(user, encoding="utf-8")
    return load_config({"SEATKEEPER_HOME": str(tmp_path)}, windows_policy=True)


def test_policy_values_set_the_agent_with_registry_types(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    """REG_SZ text, REG_DWORD numbers and 0/1 switches; value names in any case."""
    config = with_policy(monkeypatch, tmp_path, {
        "Server_URL": "https://licenses.example.com/", "seat_retry_s": 30,
        "release_on_shutdown": 0, "log_level": "debug"})
    assert config.server_url == "https://licenses.example.com"
    assert config.seat_retry_s == 30.0
    assert config.release_on_shutdown is False
    assert config.log_level == "DEBUG"
    assert config.sources["server_url"] == WHERE


def test_locked_policy_values_beat_the_users_file(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    """`locked` (REG_MULTI_SZ) keeps the administrator's value; the user is told why."""
    config = with_policy(monkeypatch, tmp_path,
                         {"server_url": "https://licenses.example.com", "locked": ["server_url"]},
                         user='server_url = "https://mine.example.com"\nlog_level = "ERROR"\n')
    assert config.server_url == "https://licenses.example.com"
    assert config.log_level == "ERROR"
    assert config.locked == frozenset({"server_url"})
    assert any(f"'server_url' is locked by {WHERE}" in w for w in config.warnings)


def test_the_registrys_server_is_offered_or_fixed_as_a_policy_files_is(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The MSI's SERVER_URL pre-fills the first run's dialog; LOCK_SERVER_URL=1 means no
    dialog (the tray's Log in… goes to it)."""
    suggested = server_setting(with_policy(monkeypatch, tmp_path,
                                           {"server_url": "https://licenses.example.com"}))
    assert (suggested.choice, suggested.url, suggested.suggested) == (
        ServerChoice.ASK, "https://licenses.example.com", True)
    locked = server_setting(with_policy(monkeypatch, tmp_path, {
        "server_url": "https://licenses.example.com", "locked": ["server_url"]}))
    assert (locked.choice, locked.suggested) == (ServerChoice.FIXED, False)


def test_no_policy_key_changes_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without the key, the user's file decides."""
    config = with_policy(monkeypatch, tmp_path, {}, user='server_url = "https://mine.example"\n')
    assert config.server_url == "https://mine.example"
    assert config.locked == frozenset()


@pytest.mark.parametrize(("values", "words"), [
    ({"server_url": 5}, "'server_url' should be a non-empty text"),
    ({"release_on_shutdown": 2}, "'release_on_shutdown' should be true or false"),
    ({"seat_retry_s": "soon"}, "'seat_retry_s' should be a number of seconds"),
    ({"locked": "server_url"}, "'locked' should be a REG_MULTI_SZ value"),
    ({"locked": ["server_url", "colour"]}, "'locked' names unknown keys ['colour']"),
])
def test_a_bad_policy_value_names_the_key_and_the_value(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, values: dict[str, Any],
        words: str) -> None:
    """A wrong value is a ConfigError naming the policy key, the value and what to write."""
    with pytest.raises(ConfigError) as caught:
        with_policy(monkeypatch, tmp_path, values)
    assert str(caught.value).startswith(WHERE) and words in str(caught.value)


def test_an_unreadable_policy_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    """Access denied on the key: a ConfigError saying so, never a traceback."""
    def denied() -> dict[str, Any]:
        raise PermissionError(5, "Access is denied")

    monkeypatch.setattr(windows, "read_policy", denied)
    with pytest.raises(ConfigError, match="cannot be read \\(Access is denied\\)"):
        load_config({"SEATKEEPER_HOME": str(tmp_path)}, windows_policy=True)


@pytest.fixture
def run_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The user's ("user") and the machine's ("machine") Run values, as a dict."""
    keys: dict[str, str] = {}
    monkeypatch.setattr(windows, "_run_key_get", lambda: keys.get("user"))
    monkeypatch.setattr(windows, "_run_key_set", lambda line: keys.__setitem__("user", line))
    monkeypatch.setattr(windows, "_run_key_delete", lambda: keys.pop("user", None))
    monkeypatch.setattr(windows, "_machine_run_key_get", lambda: keys.get("machine"))
    return keys


def test_the_machines_run_value_is_the_administrators_start_at_login(
        run_keys: dict[str, str]) -> None:
    """With the MSI's HKLM value, status says managed; enable writes no second entry."""
    run_keys["machine"] = r'"C:\Program Files\Seatkeeper\seatkeeperw.exe" run'
    here = windows.WindowsPlatform()
    state = autostart.enable(here)
    assert state.enabled and state.managed
    assert state.location == windows.MACHINE_RUN_LOCATION
    assert "user" not in run_keys


def test_disable_needs_an_administrator_but_removes_the_users_own_entry(
        run_keys: dict[str, str]) -> None:
    """disable under the machine's value: the user's value goes, SetByAdministrator says why."""
    run_keys.update(machine='"C:\\Program Files\\Seatkeeper\\seatkeeperw.exe" run',
                    user='"C:\\old\\seatkeeper.exe" run')
    with pytest.raises(SetByAdministrator, match="administrator"):
        autostart.disable(windows.WindowsPlatform())
    assert "user" not in run_keys and "machine" in run_keys


def test_without_the_machines_value_the_user_decides(run_keys: dict[str, str]) -> None:
    """No HKLM value: the user's own Run value, on and off."""
    here = windows.WindowsPlatform()
    assert autostart.enable(here).to_json()["managed"] is False
    assert "user" in run_keys
    assert autostart.disable(here).enabled is False


def test_the_bundle_starts_its_windowed_twin_at_login(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    """From the Windows bundle, start at login runs seatkeeperw.exe (no console window)."""
    (tmp_path / "seatkeeper.exe").write_bytes(b"")
    (tmp_path / "seatkeeperw.exe").write_bytes(b"")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "seatkeeper.exe"))
    assert autostart.agent_command() == [str(tmp_path / "seatkeeperw.exe"), "run"]


def test_the_administrators_start_at_login_is_ticked_and_greyed_in_the_tray() -> None:
    """Set by the administrator: the menu item shows it on, and the user cannot untick it."""
    entry = view(Status(state=SeatState.ACTIVE), autostart=True,
                 autostart_managed=True).find("Start at login")
    assert entry is not None and entry.checked is True and not entry.enabled


def test_wm_close_gives_the_seat_back_and_exits() -> None:
    """WM_CLOSE (taskkill, the uninstaller): release as at the end of a session, then exit."""
    calls: list[str] = []
    exits: list[bool] = []
    handlers = windows.SessionMessages(Events(calls), lambda: 7,
                                       lambda: exits.append(True)).handlers()
    assert handlers[windows.WM_CLOSE](0, 0) == 0
    assert calls == ["release"] and exits == [True]
