"""Server settings: flags win over SEATKEEPERD_<FLAG> variables, which win over server.toml."""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path("/etc/seatkeeper/server.toml")
ENV_PREFIX = "SEATKEEPERD_"


class ConfigError(ValueError):
    """A setting cannot be used; the message names it, where it came from, and what to give."""


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number of seconds") from None
    if value < 1:
        raise ValueError("must be at least 1 second")
    return value


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number of days") from None
    if not 0 <= value <= 36500:
        raise ValueError(f"{value} is not 0 (keep forever) to 36500 days")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a port number") from None
    if not 0 < value < 65536:
        raise ValueError(f"{value} is not a port number (1-65535)")
    return value


def _count(low: int, high: int, unit: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number of {unit}") from None
        if not low <= value <= high:
            raise ValueError(f"must be {low} to {high} {unit}")
        return value
    parse.__name__ = unit
    return parse


def _listen(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT, e.g. 127.0.0.1:9750")
    _port(port)
    return text


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not true or false")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return text
    return parse


def _url(text: str) -> str:
    if not text.startswith(("https://", "http://")) or "?" in text or "#" in text:
        raise ValueError(f"{text!r} is not an http(s):// URL without a query, e.g. "
                         "https://licenses.example.com")
    return text.rstrip("/")


@dataclass(frozen=True)
class Option:
    """One server setting, given as `--flag`, `SEATKEEPERD_FLAG` or `flag = …` in the file."""

    flag: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    metavar: str | None = None
    shown_default: str | None = None  # how --help names a computed default

    @property
    def dest(self) -> str:
        return self.flag.replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()

    @property
    def is_bool(self) -> bool:
        return self.parse is _bool


OPTIONS: tuple[Option, ...] = (
    Option("db", str, None, "database URL: sqlite:////path/server.db or "
           "postgresql://user@host:5432/dbname", "URL",
           "SQLite server.db in the data directory"),
    Option("data-dir", Path, None, "folder of the SQLite database (which holds the signing "
           "keys) and the generated admin token", "PATH",
           "$SEATKEEPER_HOME/server, or the user's data folder"),
    Option("host", str, "127.0.0.1", "address to listen on", "ADDRESS"),
    Option("port", _port, 8750, "port to listen on", "PORT"),
    Option("public-url", _url, None, "the server's address as browsers reach it (behind a "
           "reverse proxy), used in the links it writes", "URL", "the request's own address"),
    Option("forwarded-allow-ips", str, None, "comma-separated addresses or networks of reverse "
           "proxies whose X-Forwarded-For/-Proto headers are trusted", "LIST",
           "none: the headers are ignored"),
    Option("lease-ttl", _seconds, 900, "a lease with no heartbeat for this long is reclaimed",
           "SECONDS"),
    Option("heartbeat-interval", _seconds, 300, "how often agents are told to send a heartbeat",
           "SECONDS"),
    Option("device-code-ttl", _seconds, 600, "how long a browser login's code waits for "
           "approval", "SECONDS"),
    Option("device-poll-interval", _seconds, 5, "how often a device waiting for approval may "
           "ask", "SECONDS"),
    Option("audit-retention-days", _days, 400, "delete audit events older than this, once "
           "their days are counted into the daily usage figures (0: keep them forever)",
           "DAYS"),
    Option("signing-key", Path, None, "Ed25519 PEM key imported as the first lease-signing "
           "key of a database that has none (the database keeps the key set); once it has "
           "keys, this file must be one of them", "PATH",
           "signing-key.pem in the data directory, if it exists"),
    Option("admin-token-file", Path, None, "file holding the admin token (instead of "
           "SEATKEEPER_ADMIN_TOKEN)", "PATH",
           "$CREDENTIALS_DIRECTORY/admin-token if systemd passes one"),
    Option("metrics-listen", _listen, None, "serve Prometheus metrics on this separate "
           "HOST:PORT (never on the public port)", "HOST:PORT", "off"),
    Option("access-log", _bool, False, "log every request (method, route, status, time)"),
    Option("log-format", _choice("text", "json"), "text", "text, or json: one object a line on "
           "standard error (for journald and log shippers)", "FORMAT"),
    Option("workers", _count(1, 64, "processes"), 1, "worker processes serving the API (more "
           "than 1 needs PostgreSQL); the reclaim sweep and metrics run once, in the "
           "supervising process", "N"),
    Option("max-queue-wait", _count(0, 60_000, "milliseconds"), 5000, "a seat request that "
           "waited this long for the database is answered 503 UNAVAILABLE with Retry-After "
           "instead (load shedding; 0: never)", "MS"),
    Option("max-in-flight", _count(1, 100_000, "requests"), 256, "requests a process works "
           "on at once; more are answered 503 UNAVAILABLE with Retry-After at once", "N"),
    Option("lease-retention-days", _count(1, 36_600, "days"), 90, "closed leases are deleted "
           "this many days after they closed (the audit trail keeps their history)", "DAYS"),
    Option("migrate", _bool, False, "serve: upgrade an older database schema at start "
           "(single node; with replicas run `seatkeeper-server migrate` instead)"),
    Option("demo", _bool, False, "create (once) demo@example.com with a 2-seat license"),
)
BY_DEST = {option.dest: option for option in OPTIONS}


def add_options(parser: argparse.ArgumentParser) -> None:
    """The server options, on the top level and after every subcommand alike.

    Defaults are suppressed here, so that a flag given is told apart from one left out.
    """
    group = parser.add_argument_group("server options (also SEATKEEPERD_<OPTION> variables "
                                      "and keys of the --config file)")
    group.add_argument("--config", type=Path, metavar="PATH", default=argparse.SUPPRESS,
                       help=f"TOML file of settings, keys named after the options (default: "
                            f"{DEFAULT_CONFIG} if it exists; variable SEATKEEPERD_CONFIG)")
    for option in OPTIONS:
        shown = option.shown_default or ("off" if option.default is False else option.default)
        text = f"{option.help} (default: {shown}; {option.env})"
        if option.is_bool:
            group.add_argument(f"--{option.flag}", action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=text)
        else:
            group.add_argument(f"--{option.flag}", type=_for_argparse(option.parse),
                               metavar=option.metavar, default=argparse.SUPPRESS, help=text)


def _for_argparse(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def resolve(args: argparse.Namespace, environ: dict[str, str] | None = None) -> None:
    """Fill in every option on `args`: flag, else variable, else file, else default."""
    environ = dict(os.environ if environ is None else environ)
    given_path = getattr(args, "config", None) or environ.get(ENV_PREFIX + "CONFIG")
    path = Path(given_path) if given_path else DEFAULT_CONFIG
    table = _read(path, required=bool(given_path))
    for key in table:
        if key.replace("-", "_") not in BY_DEST:
            raise ConfigError(f"{path}: unknown key {key!r}; the keys are the server options: "
                              + ", ".join(option.flag for option in OPTIONS))
    for option in OPTIONS:
        if hasattr(args, option.dest):
            continue
        if option.env in environ:
            try:
                value = option.parse(environ[option.env])
            except ValueError as exc:
                raise ConfigError(f"environment variable {option.env}: {exc}") from None
        elif option.flag in table or option.dest in table:
            raw = table.get(option.flag, table.get(option.dest))
            value = _from_file(option, raw, path)
        else:
            value = option.default
        setattr(args, option.dest, value)
    if args.heartbeat_interval >= args.lease_ttl:
        raise ConfigError(f"heartbeat-interval ({args.heartbeat_interval} s) must be shorter "
                          f"than lease-ttl ({args.lease_ttl} s), or leases lapse between "
                          "heartbeats")


def _read(path: Path, *, required: bool) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"the configuration file {path} does not exist") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: "
                          f"{exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _from_file(option: Option, raw: object, path: Path) -> Any:
    where = f"{path}: key {option.flag!r}"
    if option.is_bool:
        if not isinstance(raw, bool):
            raise ConfigError(f"{where}: {raw!r} is not true or false")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ConfigError(f"{where}: {raw!r} is not a {option.metavar or 'value'}")
    try:
        return option.parse(str(raw))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
