"""Start at login: the one place the CLI and the tray turn the platform's entry on and off."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from seatkeeper import platform


@dataclass(frozen=True, kw_only=True)
class Autostart:
    """Whether the agent starts at login here, and where that is written."""

    available: bool
    enabled: bool
    location: str | None
    platform: str

    def to_json(self) -> dict[str, object]:
        return {"available": self.available, "enabled": self.enabled,
                "location": self.location, "platform": self.platform}


def agent_command(platform_name: str = sys.platform) -> list[str]:
    """How to start this agent from a login entry: the bundle, the script, or the module.

    On Windows the module runs under `pythonw.exe`, which opens no console window at
    every login (a console script such as `seatkeeper.exe` would).
    """
    if getattr(sys, "frozen", False):  # a PyInstaller bundle: the executable is the agent
        return [sys.executable, "run"]
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
    location = here.autostart_location()
    return Autostart(available=location is not None, enabled=here.autostart_enabled(),
                     location=location, platform=here.name)


def enable(current: platform.Platform | None = None) -> Autostart:
    here = current or platform.current()
    if here.autostart_location() is not None:
        here.enable_autostart(agent_command())
    return status(here)


def disable(current: platform.Platform | None = None) -> Autostart:
    here = current or platform.current()
    here.disable_autostart()
    return status(here)


def toggle(current: platform.Platform | None = None) -> Autostart:
    """Turn start at login the other way (the tray's checkbox)."""
    here = current or platform.current()
    return disable(here) if here.autostart_enabled() else enable(here)
