"""The first run from the tray: which license server to offer, and connecting to a typed one.

With no server set, the tray offers "Connect to a license server…" instead of Log in….
What it may offer depends on where `server_url` comes from:

    no server_url anywhere           ask (an empty field)
    the administrator's, not locked  ask, the field pre-filled with it
    the administrator's, locked      never ask: log in to it
    the user's config.toml           log in; the server may be changed while logged out
    a SEATKEEPER_SERVER_URL variable log in (the variable would win over a saved address)

`check` asks the server (on a worker thread: it may take seconds); `keep` saves the
checked address as `server_url` in the user's config.toml and has the agent use it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from seatkeeper.config import Config, Origin
from seatkeeper.core.errors import SetByAdministrator
from seatkeeper.core.sentences import SET_BY_ADMINISTRATOR

if TYPE_CHECKING:
    from seatkeeper.service.daemon import Agent

KEY = "server_url"


class ServerChoice(StrEnum):
    """What the tray offers about the license server while no one is logged in."""

    ASK = "ask"  # Connect to a license server… (the first run)
    CHANGE = "change"  # Log in…, and Change license server…
    FIXED = "fixed"  # Log in… only: the administrator or a variable decided


@dataclass(frozen=True, kw_only=True)
class ServerSetting:
    """The license server as configured, and what the person may do about it."""

    url: str | None
    choice: ServerChoice
    suggested: bool  # `url` is the administrator's suggestion, not yet the user's choice


def server_setting(config: Config) -> ServerSetting:
    setting = config.setting(KEY)
    url = setting.value
    if setting.locked:
        choice = ServerChoice.FIXED
    elif url is None or setting.origin is Origin.POLICY:
        choice = ServerChoice.ASK
    elif setting.origin is Origin.ENVIRONMENT:
        choice = ServerChoice.FIXED
    else:
        choice = ServerChoice.CHANGE
    return ServerSetting(url=url, choice=choice,
                         suggested=setting.origin is Origin.POLICY and not setting.locked)


def check(config: Config, typed: str) -> str:
    """The typed address, checked against the server (seconds, on a worker thread), once
    the user's config.toml is known to take it; ServerAddressRejected or ConfigError say
    why not."""
    from seatkeeper.service import server_check, user_config

    if KEY in config.locked:
        raise SetByAdministrator(SET_BY_ADMINISTRATOR)
    user_config.check_writable(config.paths.config_file)
    return server_check.check_server(typed, ca_bundle=config.ca_bundle,
                                     pinned_key=config.server_public_key)


def keep(agent: Agent, url: str) -> None:
    """Save the checked `url` as the user's `server_url` and have the agent use it now."""
    from seatkeeper.service import user_config

    config = agent.config
    user_config.set_value(config.paths.config_file, KEY, url)
    where = str(config.paths.config_file)
    agent.config = replace(config, server_url=url, sources={**config.sources, KEY: where},
                           origins={**config.origins, KEY: Origin.USER})
