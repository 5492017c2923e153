"""Configuration: precedence of defaults, files and environment, policy locks, every error."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from seatkeeper.config import Origin, Paths, load_config
from seatkeeper.core.errors import ConfigError

KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def env_for(home: Path, **extra: str) -> dict[str, str]:
    return {"SEATKEEPER_HOME": str(home), **extra}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(home: Path, tmp_path: Path) -> None:
    """With no files and no variables, the documented defaults apply."""
    config = load_config(env_for(home), system_file=tmp_path / "none.toml")
    assert config.server_url is None
    assert config.app_name == "PIX4Dmapper"
    assert config.release_on_shutdown is True
    assert config.log_level == "INFO"
    assert config.device_name
    assert config.sources == {}


def test_home_puts_everything_in_one_folder(home: Path) -> None:
    """SEATKEEPER_HOME holds the config file, data, logs and runtime directory."""
    paths = Paths.resolve(env_for(home))
    for path in (paths.config_file, paths.data_dir, paths.log_dir, paths.runtime_dir,
                 paths.outbox):
        assert path.is_relative_to(home)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_platform_dirs_without_home() -> None:
    """Without SEATKEEPER_HOME the platform's directories named seatkeeper are used."""
    paths = Paths.resolve({})
    assert "seatkeeper" in str(paths.config_file) and "seatkeeper" in str(paths.data_dir)


def test_precedence_system_user_env(home: Path, tmp_path: Path) -> None:
    """The user's file beats the system file, and the environment beats both."""
    system = write(tmp_path / "etc/config.toml",
                   'server_url = "https://system.example"\napp_name = "SysApp"\n'
                   'log_level = "ERROR"\n')
    write(home / "config.toml", 'server_url = "https://user.example/"\nlog_level = "debug"\n'
          'app_release_date = 2025-03-01\nrelease_on_shutdown = false\n')
    config = load_config(env_for(home, SEATKEEPER_LOG_LEVEL="warning"), system_file=system)
    assert config.app_name == "SysApp"
    assert config.server_url == "https://user.example"
    assert config.log_level == "WARNING"
    assert config.app_release_date == dt.date(2025, 3, 1)
    assert config.release_on_shutdown is False
    assert config.sources["log_level"] == "environment variable SEATKEEPER_LOG_LEVEL"
    assert config.sources["app_name"] == str(system)


def test_locked_keys_win(home: Path, tmp_path: Path) -> None:
    """Keys the administrator locks cannot be changed by the user's file or environment."""
    system = write(tmp_path / "etc/config.toml",
                   'server_url = "https://corp.example"\n[policy]\nlocked = ["server_url"]\n')
    write(home / "config.toml", 'server_url = "https://mine.example"\n')
    config = load_config(env_for(home, SEATKEEPER_SERVER_URL="https://env.example"),
                         system_file=system)
    assert config.server_url == "https://corp.example"
    assert config.locked == {"server_url"}
    assert len([w for w in config.warnings if "locked" in w]) == 2


def test_each_setting_says_which_layer_set_it(home: Path, tmp_path: Path) -> None:
    """Every key has a value and an origin: default, the administrator's file (locked or
    not), the user's file, or a variable, named by file or variable."""
    system = write(tmp_path / "etc/config.toml",
                   'server_url = "https://corp.example"\napp_name = "SysApp"\n'
                   '[policy]\nlocked = ["server_url"]\n')
    user = write(home / "config.toml", 'log_level = "debug"\n')
    config = load_config(env_for(home, SEATKEEPER_SEAT_RETRY_S="30"), system_file=system)
    shown = {s.key: (s.value, s.origin, s.where, s.locked) for s in config.settings()}
    assert set(shown) == {"server_url", "device_name", "ca_bundle", "app_name", "app_version",
                          "app_release_date", "server_public_key", "release_on_shutdown",
                          "log_level", "seat_retry_s", "seat_mode", "app_idle_release_s",
                          "language"}
    assert shown["server_url"] == ("https://corp.example", Origin.POLICY, str(system), True)
    assert shown["app_name"] == ("SysApp", Origin.POLICY, str(system), False)
    assert shown["log_level"] == ("DEBUG", Origin.USER, str(user), False)
    assert shown["seat_retry_s"] == (30.0, Origin.ENVIRONMENT,
                                     "environment variable SEATKEEPER_SEAT_RETRY_S", False)
    assert shown["seat_mode"] == ("login", Origin.DEFAULT, None, False)


def test_a_server_url_carrying_a_password_is_refused(home: Path, tmp_path: Path) -> None:
    """A user name or password in server_url would be shown and logged with the address."""
    write(home / "config.toml", 'server_url = "https://ana:secret@licenses.example.com"\n')
    with pytest.raises(ConfigError, match="should not carry a user name or password"):
        load_config(env_for(home), system_file=tmp_path / "none")


def test_environment_values_are_parsed(home: Path, tmp_path: Path) -> None:
    """Variables are text, converted like file values (booleans, dates, keys)."""
    ca = write(tmp_path / "ca.pem", "pem")
    config = load_config(env_for(
        home, SEATKEEPER_RELEASE_ON_SHUTDOWN="no", SEATKEEPER_APP_RELEASE_DATE="2026-02-03",
        SEATKEEPER_SERVER_PUBLIC_KEY=KEY, SEATKEEPER_CA_BUNDLE=str(ca),
        SEATKEEPER_DEVICE_NAME="survey-laptop", SEATKEEPER_APP_VERSION="4.9.1",
        SEATKEEPER_SERVER_URL="http://127.0.0.1:8000"), system_file=tmp_path / "none")
    assert config.release_on_shutdown is False
    assert config.app_release_date == dt.date(2026, 2, 3)
    assert config.server_public_key == KEY
    assert config.ca_bundle == ca
    assert config.device_name == "survey-laptop"


def test_relative_ca_bundle_is_beside_the_file(home: Path, tmp_path: Path) -> None:
    """A relative ca_bundle in a file is read relative to that file's folder."""
    write(home / "corp-ca.pem", "pem")
    write(home / "config.toml", 'ca_bundle = "corp-ca.pem"\n')
    assert load_config(env_for(home), system_file=tmp_path / "x").ca_bundle == (
        home / "corp-ca.pem")


def test_unknown_key_is_a_warning(home: Path, tmp_path: Path) -> None:
    """A misspelt key does not stop the agent, but is reported."""
    write(home / "config.toml", 'sever_url = "https://x.example"\n')
    config = load_config(env_for(home), system_file=tmp_path / "x")
    assert any("sever_url" in w for w in config.warnings)


@pytest.mark.parametrize(("line", "key", "problem"), [
    ("server_url = 5", "server_url", "non-empty text"),
    ('server_url = "licenses.example.com"', "server_url", "https://"),
    ('server_url = "ftp://x.example"', "server_url", "not a server address"),
    ('server_url = "https://x.example/?a=1"', "server_url", "query"),
    ('device_name = ""', "device_name", "non-empty"),
    ('app_release_date = "29/11/2026"', "app_release_date", "YYYY-MM-DD"),
    ("app_release_date = 2026-11-29T08:00:00Z", "app_release_date", "YYYY-MM-DD"),
    ('release_on_shutdown = "maybe"', "release_on_shutdown", "true or false"),
    ('log_level = "LOUD"', "log_level", "DEBUG"),
    ('server_public_key = "%%%"', "server_public_key", "base64"),
    ('server_public_key = "AAAA"', "server_public_key", "32-byte"),
    ('ca_bundle = "/no/such/ca.pem"', "ca_bundle", "not a file"),
    ('seat_mode = "always"', "seat_mode", "login, app"),
    ("app_idle_release_s = -1", "app_idle_release_s", "between 0 and 86400"),
    ("app_idle_release_s = 86401", "app_idle_release_s", "between 0 and 86400"),
    ('language = "es"', "language", "one of en, de, fr (not 'es')"),
    ("language = 2", "language", "non-empty"),
])
def test_bad_values_name_file_key_and_fix(home: Path, tmp_path: Path, line: str, key: str,
                                          problem: str) -> None:
    """Each bad value raises ConfigError naming the file, the key and what is wrong."""
    path = write(home / "config.toml", line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(env_for(home), system_file=tmp_path / "x")
    message = str(caught.value)
    assert str(path) in message and f"'{key}'" in message and problem in message


def test_bad_environment_value_names_the_variable(home: Path, tmp_path: Path) -> None:
    """A bad variable is named as such."""
    with pytest.raises(ConfigError, match="SEATKEEPER_RELEASE_ON_SHUTDOWN"):
        load_config(env_for(home, SEATKEEPER_RELEASE_ON_SHUTDOWN="perhaps"),
                    system_file=tmp_path / "x")


def test_invalid_toml(home: Path, tmp_path: Path) -> None:
    """A file that is not TOML is named, with the parser's position."""
    path = write(home / "config.toml", "server_url = \n")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_config(env_for(home), system_file=tmp_path / "x")
    assert str(path) in str(caught.value)


def test_unreadable_file(home: Path, tmp_path: Path) -> None:
    """A configuration path that cannot be read is reported, not a crash."""
    (home / "config.toml").mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(env_for(home), system_file=tmp_path / "x")


@pytest.mark.parametrize("policy", ['locked = "server_url"', 'locked = ["no_such_key"]',
                                    "locked = [1]"])
def test_bad_policy(home: Path, tmp_path: Path, policy: str) -> None:
    """A malformed `[policy] locked` in the system file is an error naming that file."""
    system = write(tmp_path / "etc/config.toml", f"[policy]\n{policy}\n")
    with pytest.raises(ConfigError, match="policy") as caught:
        load_config(env_for(home), system_file=system)
    assert str(system) in str(caught.value)


def test_seat_mode_and_idle_release_can_be_locked(home: Path, tmp_path: Path) -> None:
    """`seat_mode` defaults to login; an administrator may lock `app` and its idle time."""
    assert load_config(env_for(home), system_file=tmp_path / "x").seat_mode == "login"
    system = write(tmp_path / "etc/config.toml",
                   'seat_mode = "app"\napp_idle_release_s = 0\n'
                   '[policy]\nlocked = ["seat_mode", "app_idle_release_s"]\n')
    write(home / "config.toml", 'seat_mode = "login"\n')
    config = load_config(env_for(home, SEATKEEPER_APP_IDLE_RELEASE_S="600"),
                         system_file=system)
    assert (config.seat_mode, config.app_idle_release_s) == ("app", 0.0)
    assert len([w for w in config.warnings if "locked" in w]) == 2


def test_the_release_date_can_be_locked(home: Path, tmp_path: Path) -> None:
    """The administrator's policy file can lock `app_release_date` (the fallback sent when no
    application gives its date): the user's file and environment cannot move it later."""
    system = write(tmp_path / "etc/config.toml",
                   'app_release_date = 2026-01-15\n[policy]\nlocked = ["app_release_date"]\n')
    write(home / "config.toml", "app_release_date = 2030-01-01\n")
    config = load_config(env_for(home, SEATKEEPER_APP_RELEASE_DATE="2031-01-01"),
                         system_file=system)
    assert config.app_release_date == dt.date(2026, 1, 15)
    assert config.locked == {"app_release_date"}
    assert config.sources["app_release_date"] == str(system)
    assert len([w for w in config.warnings if "app_release_date" in w and "locked" in w]) == 2
