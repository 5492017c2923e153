r"""The administrator's policy in the Windows registry, read by the agent on the Windows CPython.

`HKLM\SOFTWARE\Policies\Seatkeeper` is written here with Wine's own `reg add`, as Group
Policy or an administrator would, and read by `python.exe -m seatkeeper` through winreg.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.windows import installer, wine

POLICY = r"HKLM\SOFTWARE\Policies\Seatkeeper"
# What the agent's settings are, as the Windows CPython reads them (one line of JSON).
SHOW_CONFIG = ("import json; from seatkeeper.config import load_config; c = load_config(); "
               "print(json.dumps({'server_url': c.server_url, 'seat_retry_s': c.seat_retry_s, "
               "'release_on_shutdown': c.release_on_shutdown, 'locked': sorted(c.locked), "
               "'warnings': c.warnings}))")


@pytest.fixture
def policy() -> Iterator[None]:
    """A clean policy key, removed afterwards (the prefix is shared with the whole lane)."""
    installer.reg_delete(POLICY)
    yield
    installer.reg_delete(POLICY)


def settings(home: Path) -> dict[str, object]:
    done = wine.run_python(["-c", SHOW_CONFIG], env={"SEATKEEPER_HOME": wine.windows_path(home)})
    assert done.returncode == 0, done.stdout
    parsed: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return parsed


def test_policy_values_and_locked_keys_come_from_the_registry(policy: None,
                                                              tmp_path: Path) -> None:
    """REG_SZ, REG_DWORD and REG_MULTI_SZ values set the agent; a locked key beats the user."""
    installer.reg_set(POLICY, "server_url", "https://licenses.example.com")
    installer.reg_set(POLICY, "seat_retry_s", "30", "REG_DWORD")
    installer.reg_set(POLICY, "release_on_shutdown", "0", "REG_DWORD")
    installer.reg_set(POLICY, "locked", "server_url", "REG_MULTI_SZ")
    (tmp_path / "config.toml").write_text('server_url = "https://mine.example.com"\n'
                                          "seat_retry_s = 5\n", encoding="utf-8")
    shown = settings(tmp_path)
    assert shown["server_url"] == "https://licenses.example.com"
    assert shown["seat_retry_s"] == 5.0  # not locked: the user's file wins
    assert shown["release_on_shutdown"] is False
    assert shown["locked"] == ["server_url"]
    assert any("'server_url' is locked by HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Seatkeeper"
               in warning for warning in shown["warnings"])  # type: ignore[attr-defined]


def test_a_bad_policy_value_is_a_clear_message(policy: None, tmp_path: Path) -> None:
    """A wrong value in the key stops the command with a sentence naming it, no traceback."""
    installer.reg_set(POLICY, "server_url", "licenses.example.com")
    done = wine.run_python(["-m", "seatkeeper", "status"],
                           env={"SEATKEEPER_HOME": wine.windows_path(tmp_path)})
    assert done.returncode == 1, done.stdout
    assert "HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Seatkeeper: 'server_url' is not a " \
           "server address" in done.stdout
    assert "Traceback" not in done.stdout

    installer.reg_delete(POLICY)
    installer.reg_set(POLICY, "locked", "server_url")  # REG_SZ, not a list
    done = wine.run_python(["-m", "seatkeeper", "status"],
                           env={"SEATKEEPER_HOME": wine.windows_path(tmp_path)})
    assert done.returncode == 1, done.stdout
    assert "'locked' should be a REG_MULTI_SZ" in done.stdout
    assert "Traceback" not in done.stdout


def test_the_language_policy_speaks_for_every_user(policy: None, tmp_path: Path) -> None:
    """The ADMX's Language policy (a REG_SZ `language`): French on an English Windows."""
    installer.reg_set(POLICY, "language", "fr")
    done = wine.run_python(["-m", "seatkeeper", "status"],
                           env={"SEATKEEPER_HOME": wine.windows_path(tmp_path)})
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[0] == "Non connecté", done.stdout
    installer.reg_set(POLICY, "language", "es")
    done = wine.run_python(["-m", "seatkeeper", "status"],
                           env={"SEATKEEPER_HOME": wine.windows_path(tmp_path)})
    assert done.returncode == 1, done.stdout
    assert "HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Seatkeeper: 'language' should be one of " \
           "en, de, fr (not 'es')" in done.stdout
