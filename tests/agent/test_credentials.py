"""Which keyring backend the device token goes to: keyring's own configuration honoured."""

from __future__ import annotations

from pathlib import Path

import pytest
from keyring.util import platform_
from seatkeeper.service import credentials
from seatkeeper.service.credentials import CredentialStore, keyring_backend
from seatkeeper.service.secret_helper import ChildKeyring


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """keyring's configuration folder under this test's XDG_CONFIG_HOME, nothing in the
    environment choosing a backend."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    folder = tmp_path / "config" / "python_keyring"
    folder.mkdir(parents=True)
    return folder


def configure(folder: Path, backend: str) -> None:
    (folder / "keyringrc.cfg").write_text(f"[backend]\ndefault-keyring = {backend}\n",
                                          encoding="utf-8")


def test_the_configuration_is_found_where_keyring_looks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """keyringrc.cfg is read from keyring's own place, with XDG_CONFIG_HOME set or not."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert credentials._config_file() == platform_.config_root() / "keyringrc.cfg"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert credentials._config_file() == platform_.config_root() / "keyringrc.cfg"


def test_a_configured_cheap_backend_is_loaded_here(config_home: Path, tmp_path: Path) -> None:
    """keyringrc.cfg naming the null keyring: no keyring at all, decided without a child."""
    configure(config_home, "keyring.backends.null.Keyring")
    assert keyring_backend() is None
    assert not CredentialStore(tmp_path / "data").use_keyring


def test_a_configured_secret_service_is_left_to_a_child(config_home: Path) -> None:
    """keyringrc.cfg naming the Secret Service through secretstorage: a child loads it."""
    configure(config_home, credentials.SECRET_SERVICE)
    assert isinstance(keyring_backend(), ChildKeyring)


def test_the_environment_comes_before_the_configuration(
        config_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PYTHON_KEYRING_BACKEND wins over keyringrc.cfg, as in keyring."""
    configure(config_home, credentials.SECRET_SERVICE)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    assert keyring_backend() is None
