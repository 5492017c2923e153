r"""Configuration: defaults < system file < user file < SEATKEEPER_* variables, with locked keys.

The system-wide file (administrators) may list keys under `[policy] locked = [...]`;
neither the user's file nor the environment may then change them (the attempt
is ignored and reported in `Config.warnings`). On Windows the administrator's layer
is the registry key Group Policy writes, `HKLM\SOFTWARE\Policies\Seatkeeper`: one
value per key (REG_SZ, or REG_DWORD for numbers and true/false) and `locked`, a
REG_MULTI_SZ of key names. `SEATKEEPER_HOME` puts the configuration file, data,
logs and runtime directory under one folder.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import socket
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs
from seatkeeper.core.errors import ConfigError
from seatkeeper.core.identity import default_device_name
from seatkeeper.core.sentences import (
    BAD_VALUE,
    BETWEEN,
    ENV_VARIABLE,
    LOCKED_BY,
    LOCKED_LIST,
    LOCKED_MULTI_SZ,
    LOCKED_UNKNOWN,
    NON_EMPTY,
    NOT_ADDRESS,
    NOT_BASE64,
    NOT_BOOL,
    NOT_DATE,
    NOT_FILE,
    NOT_KEY,
    NOT_LANGUAGE,
    NOT_TOML,
    ONE_OF,
    ONE_OF_NOT,
    SECONDS,
    THE_ENVIRONMENT,
    UNKNOWN_KEY,
    UNREADABLE,
    URL_PASSWORD,
    URL_QUERY,
)
from seatkeeper.i18n import LANGUAGES

APP = "seatkeeper"
ENV_PREFIX = "SEATKEEPER_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SEAT_MODES = ("login", "app")
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def system_config_file() -> Path:
    """Where administrators put the system-wide file on this platform (not Windows, whose
    administrators set the policy key instead)."""
    if sys.platform == "darwin":
        return Path("/Library/Application Support/Seatkeeper/config.toml")
    return Path("/etc/seatkeeper/config.toml")


@dataclass(frozen=True, kw_only=True)
class Paths:
    """Where the agent keeps its files."""

    config_file: Path
    data_dir: Path
    log_dir: Path
    runtime_dir: Path

    @property
    def folders(self) -> tuple[Path, ...]:
        """The agent's own folders: configuration, data, logs, runtime (owner-only)."""
        return (self.config_file.parent, self.data_dir, self.log_dir, self.runtime_dir)

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox.sqlite3"

    @classmethod
    def resolve(cls, env: Mapping[str, str]) -> Paths:
        home = env.get("SEATKEEPER_HOME")
        if home:
            root = Path(home).expanduser().absolute()
            return cls(config_file=root / "config.toml", data_dir=root / "data",
                       log_dir=root / "logs", runtime_dir=root / "run")
        return cls(
            config_file=Path(platformdirs.user_config_dir(APP, appauthor=False),
                             "config.toml"),
            data_dir=Path(platformdirs.user_data_dir(APP, appauthor=False)),
            log_dir=Path(platformdirs.user_log_dir(APP, appauthor=False)),
            runtime_dir=Path(platformdirs.user_runtime_dir(APP, appauthor=False)),
        )


class Origin(StrEnum):
    """Which layer a setting's value came from (`seatkeeper config show` says so)."""

    DEFAULT = "default"
    POLICY = "policy"  # the administrator's system file, or the Windows policy key
    USER = "user"  # the user's own config.toml
    ENVIRONMENT = "environment"  # a SEATKEEPER_* variable


LAYER_ORIGINS = (Origin.POLICY, Origin.USER, Origin.ENVIRONMENT)


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One setting as in effect: its value, the layer it came from and where that is."""

    key: str
    value: Any
    origin: Origin
    where: str | None  # the file, registry key or variable; None for a default
    locked: bool  # the administrator's policy locks it: users cannot change it


@dataclass(frozen=True, kw_only=True)
class Config:
    """The agent's settings, validated, with where each one came from."""

    server_url: str | None = None
    device_name: str = field(default_factory=lambda: default_device_name(socket.gethostname()))
    ca_bundle: Path | None = None
    app_name: str = "PIX4Dmapper"
    app_version: str = "4.9.0"
    app_release_date: dt.date = dt.date(2026, 1, 15)
    server_public_key: str | None = None
    release_on_shutdown: bool = True
    log_level: str = "INFO"
    # How long to wait before asking again after a refusal (all seats taken, no license).
    seat_retry_s: float = 60.0
    # docs/local-api.md: "login" holds the seat while logged in, "app" while an
    # application has a session open (and this long after the last one closed).
    seat_mode: str = "login"
    app_idle_release_s: float = 300.0
    # en, de or fr; None: the OS locale's language (seatkeeper.i18n).
    language: str | None = None
    paths: Paths
    sources: dict[str, str] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)
    locked: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = ()

    def setting(self, key: str) -> Setting:
        """`key` as in effect, with its origin (a default unless a layer set it)."""
        return Setting(key=key, value=getattr(self, key),
                       origin=self.origins.get(key, Origin.DEFAULT),
                       where=self.sources.get(key), locked=key in self.locked)

    def settings(self) -> tuple[Setting, ...]:
        """Every setting, in the documented order."""
        return tuple(self.setting(key) for key in KEYS)




class _Invalid(ValueError):
    """A value is wrong; the message says what is wrong and what to do."""


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(NON_EMPTY)
    return value.strip()


def _url(value: Any) -> str:
    text = _string(value).rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _Invalid(NOT_ADDRESS.format(value=repr(text)))
    if parts.query or parts.fragment:
        raise _Invalid(URL_QUERY)
    if parts.username is not None or parts.password is not None:
        # A password there would be shown and logged with the address.
        raise _Invalid(URL_PASSWORD)
    return text


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if type(value) is int and value in (0, 1):  # a REG_DWORD in the Windows policy key
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise _Invalid(NOT_BOOL)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            if len(value.strip()) == 10:
                return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Invalid(NOT_DATE.format(value=repr(value)))


def _public_key(value: Any) -> str:
    text = _string(value)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _Invalid(NOT_BASE64) from None
    if len(raw) != 32:
        raise _Invalid(NOT_KEY)
    return text


def _log_level(value: Any) -> str:
    text = _string(value).upper()
    if text not in LOG_LEVELS:
        raise _Invalid(ONE_OF.format(choices=", ".join(LOG_LEVELS)))
    return text


def _seconds(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Invalid(SECONDS.format(example=60)) from None
    if not 1 <= number <= 86400:
        raise _Invalid(BETWEEN.format(low=1, high=86400))
    return number


def _seat_mode(value: Any) -> str:
    text = _string(value).lower()
    if text not in SEAT_MODES:
        raise _Invalid(ONE_OF_NOT.format(choices=", ".join(SEAT_MODES), value=repr(value)))
    return text


def _idle_seconds(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Invalid(SECONDS.format(example=300)) from None
    if not 0 <= number <= 86400:
        raise _Invalid(BETWEEN.format(low=0, high=86400))
    return number


def _language(value: Any) -> str:
    text = _string(value).lower()
    if text not in LANGUAGES:
        raise _Invalid(NOT_LANGUAGE.format(choices=", ".join(LANGUAGES), value=repr(value)))
    return text


def _ca_bundle(value: Any, base: Path | None) -> Path:
    path = Path(_string(value)).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        raise _Invalid(NOT_FILE.format(path=path))
    return path


PARSERS: dict[str, Callable[[Any], Any]] = {
    "server_url": _url, "device_name": _string, "app_name": _string,
    "app_version": _string, "app_release_date": _date, "server_public_key": _public_key,
    "release_on_shutdown": _bool, "log_level": _log_level, "seat_retry_s": _seconds,
    "seat_mode": _seat_mode, "app_idle_release_s": _idle_seconds, "language": _language,
}
KEYS = (*PARSERS, "ca_bundle")


def _parse(key: str, value: Any, source: str, base: Path | None) -> Any:
    try:
        return _ca_bundle(value, base) if key == "ca_bundle" else PARSERS[key](value)
    except _Invalid as exc:
        raise ConfigError(BAD_VALUE.format(where=source, key=key, problem=exc)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(NOT_TOML.format(where=path, problem=exc)) from None
    except OSError as exc:
        raise ConfigError(UNREADABLE.format(where=path, problem=exc.strerror)) from None


def _locked_keys(data: dict[str, Any], path: Path) -> frozenset[str]:
    policy = data.pop("policy", {})
    locked = policy.get("locked", []) if isinstance(policy, dict) else None
    if not isinstance(locked, list) or not all(isinstance(k, str) for k in locked):
        raise ConfigError(LOCKED_LIST.format(where=path))
    unknown = sorted(set(locked) - set(KEYS))
    if unknown:
        raise ConfigError(LOCKED_UNKNOWN.format(where=path, name="[policy] locked",
                                                unknown=unknown, keys=", ".join(KEYS)))
    return frozenset(locked)


def _policy_layer() -> tuple[str, dict[str, Any], frozenset[str]]:
    """The Windows policy key's values, as a TOML file's would be, and its locked keys."""
    from seatkeeper.platform import windows

    where = windows.POLICY_LOCATION
    try:
        raw = windows.read_policy()
    except OSError as exc:
        raise ConfigError(UNREADABLE.format(where=where, problem=exc.strerror or exc)) from None
    data = {name.lower(): value for name, value in raw.items()}
    locked = data.pop("locked", [])
    if not isinstance(locked, list):
        raise ConfigError(LOCKED_MULTI_SZ.format(where=where))
    names = [name.strip().lower() for name in locked if name.strip()]
    unknown = sorted(set(names) - set(KEYS))
    if unknown:
        raise ConfigError(LOCKED_UNKNOWN.format(where=where, name="locked", unknown=unknown,
                                                keys=", ".join(KEYS)))
    return where, data, frozenset(names)


def _system_layer(system_file: Path | None, windows_policy: bool | None,
                  ) -> tuple[str, dict[str, Any], Path | None, frozenset[str]]:
    """The administrator's settings: a file, or on Windows the policy key."""
    if windows_policy is None:
        windows_policy = system_file is None and sys.platform == "win32"
    if windows_policy:
        where, data, locked = _policy_layer()
        return where, data, None, locked
    path = system_config_file() if system_file is None else system_file
    data = _read_toml(path)
    return str(path), data, path.parent, _locked_keys(data, path)


def load_config(env: Mapping[str, str] | None = None,
                system_file: Path | None = None, *,
                windows_policy: bool | None = None) -> Config:
    """Read and validate the configuration; raises ConfigError naming file, key and fix.

    `windows_policy`: read the administrator's layer from the Windows policy key instead
    of a file (None: on Windows, unless `system_file` is given)."""
    env = os.environ if env is None else env
    paths = Paths.resolve(env)
    system_source, system, system_base, locked = _system_layer(system_file, windows_policy)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    origins: dict[str, Origin] = {}
    warnings: list[str] = []

    layers: list[tuple[str, dict[str, Any], Path | None]] = [
        (system_source, system, system_base),
        (str(paths.config_file), _read_toml(paths.config_file), paths.config_file.parent),
        (THE_ENVIRONMENT, {key: env[ENV_PREFIX + key.upper()] for key in KEYS
                             if ENV_PREFIX + key.upper() in env}, Path.cwd()),
    ]
    for index, (source, data, base) in enumerate(layers):
        for key, raw in data.items():
            where = (ENV_VARIABLE.format(name=ENV_PREFIX + key.upper())
                     if index == 2 else source)
            if key not in KEYS:
                warnings.append(UNKNOWN_KEY.format(where=source, key=key,
                                                   keys=", ".join(KEYS)))
                continue
            if index > 0 and key in locked:
                warnings.append(LOCKED_BY.format(where=where, key=key, policy=system_source))
                continue
            values[key] = _parse(key, raw, where, base)
            sources[key] = where
            origins[key] = LAYER_ORIGINS[index]
    return Config(**values, paths=paths, sources=sources, origins=origins, locked=locked,
                  warnings=tuple(warnings))
