"""Start at login: the one place the CLI and the tray turn the platform's entry on and off."""

from __future__ import annotations

import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from seatkeeper import platform
from seatkeeper.core.errors import SetByAdministrator

log = logging.getLogger("seatkeeper.tray")


@dataclass(frozen=True, kw_only=True)
class Autostart:
    """Whether the agent starts at login here, and where that is written; `managed`: by the
    administrator, for every user (`location` is then the administrator's entry)."""

    available: bool
    enabled: bool
    location: str | None
    platform: str
    managed: bool = False

    def to_json(self) -> dict[str, object]:
        return {"available": self.available, "enabled": self.enabled,
                "location": self.location, "platform": self.platform,
                "managed": self.managed}


def agent_command(platform_name: str = sys.platform) -> list[str]:
    """How to start this agent from a login entry: the bundle, the script, or the module.

    On Windows nothing may open a console window at every login: the bundle's windowed
    twin seatkeeperw.exe runs it, or the module under `pythonw.exe` (a console script
    such as `seatkeeper.exe` would open one).
    """
    if getattr(sys, "frozen", False):  # a PyInstaller bundle: the executable is the agent
        windowed = Path(sys.executable).with_name("seatkeeperw.exe")
        return [str(windowed) if windowed.is_file() else sys.executable, "run"]
    if platform_name == "win32":
        windowed = Path(sys.executable).with_name("pythonw.exe")
        python = str(windowed) if windowed.is_file() else sys.executable
        return [python, "-m", "seatkeeper", "run"]
    script = Path(sys.executable).with_name("seatkeeper")
    found = str(script) if script.is_file() else shutil.which("seatkeeper")
    if found:
        return [found, "run"]
    return [sys.executable, "-m", "seatkeeper", "run"]


def status(current: platform.Platform | None = None) -> Autostart:
    here = current or platform.current()
    managed = here.autostart_managed()
    if managed is not None:
        return Autostart(available=True, enabled=True, location=managed, platform=here.name,
                         managed=True)
    location = here.autostart_location()
    return Autostart(available=location is not None, enabled=here.autostart_enabled(),
                     location=location, platform=here.name)


def enable(current: platform.Platform | None = None) -> Autostart:
    """Write this user's entry; none when the administrator's already starts the agent."""
    here = current or platform.current()
    if here.autostart_managed() is None and here.autostart_location() is not None:
        here.enable_autostart(agent_command())
    return status(here)


def disable(current: platform.Platform | None = None) -> Autostart:
    """Remove this user's entry; SetByAdministrator when the administrator's remains."""
    here = current or platform.current()
    here.disable_autostart()
    managed = here.autostart_managed()
    if managed is not None:
        raise SetByAdministrator(
            "Seatkeeper starts at login for every user of this computer: your administrator "
            f"set it ({managed}).")
    return status(here)


def toggle(current: platform.Platform | None = None) -> Autostart:
    """Turn start at login the other way (the tray's checkbox)."""
    here = current or platform.current()
    return disable(here) if here.autostart_enabled() else enable(here)


def ticked(current: platform.Platform | None = None) -> tuple[bool | None, bool]:
    """For the tray's tick: whether the agent starts at login (None: not available here,
    or unreadable), and whether the administrator set it for every user."""
    try:
        state = status(current)
    except OSError as exc:
        log.warning("cannot tell whether Seatkeeper starts at login: %s", exc)
        return None, False
    return (state.enabled if state.available else None), state.managed
