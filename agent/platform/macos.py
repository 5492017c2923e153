"""macOS: NSWorkspace power-off and wake notifications, and a LaunchAgent for login.

launchd ends the agent with SIGTERM at logout (handled by the runner); power-off
and wake arrive as NSWorkspace notifications on the main run loop, which pystray's
AppKit backend runs. pyobjc is imported only inside the small functions below.
"""

from __future__ import annotations

import logging
import os
import plistlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seatkeeper.platform.base import Events, Platform

log = logging.getLogger("seatkeeper.platform")

LABEL = "com.seatkeeper.agent"
WILL_POWER_OFF = "NSWorkspaceWillPowerOffNotification"
DID_WAKE = "NSWorkspaceDidWakeNotification"

# -- the OS calls, one small function each -----------------------------------------------


def _add_observer(name: str, callback: Callable[[Any], None]) -> Any:
    """Call `callback(notification)` for NSWorkspace's notification `name`; a token."""
    from AppKit import NSWorkspace  # type: ignore[import-not-found,unused-ignore]

    center = NSWorkspace.sharedWorkspace().notificationCenter()
    return center.addObserverForName_object_queue_usingBlock_(name, None, None, callback)


def _remove_observer(token: Any) -> None:
    from AppKit import NSWorkspace  # type: ignore[import-not-found,unused-ignore]

    NSWorkspace.sharedWorkspace().notificationCenter().removeObserver_(token)


# -- the hooks and the LaunchAgent -------------------------------------------------------


def launch_agent(command: list[str]) -> dict[str, Any]:
    """The LaunchAgent that starts `command` in the user's GUI session at login."""
    return {"Label": LABEL, "ProgramArguments": command, "RunAtLoad": True,
            "LimitLoadToSessionType": "Aqua", "ProcessType": "Interactive",
            "ExitTimeOut": 5}


def launch_agents_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("HOME") or Path.home()) / "Library" / "LaunchAgents"


class MacPlatform(Platform):
    """NSWorkspace observers; a LaunchAgent plist in ~/Library/LaunchAgents."""

    name = "macos"

    def __init__(self) -> None:
        self.tokens: list[Any] = []

    def start(self, events: Events) -> None:
        def power_off(_note: Any) -> None:
            log.info("macOS: the computer is powering off")
            events.shutting_down()

        def woke(_note: Any) -> None:
            log.info("macOS: woke from sleep")
            events.resumed()

        try:
            self.tokens = [_add_observer(WILL_POWER_OFF, power_off),
                           _add_observer(DID_WAKE, woke)]
        except Exception as exc:
            log.warning("no NSWorkspace notifications (%s): release relies on SIGTERM", exc)

    def stop(self) -> None:
        for token in self.tokens:
            _remove_observer(token)
        self.tokens = []

    def entry(self) -> Path:
        return launch_agents_dir() / f"{LABEL}.plist"

    def autostart_location(self) -> str:
        return str(self.entry())

    def autostart_enabled(self) -> bool:
        return self.entry().is_file()

    def enable_autostart(self, command: list[str]) -> None:
        path = self.entry()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            plistlib.dump(launch_agent(command), out)

    def disable_autostart(self) -> None:
        self.entry().unlink(missing_ok=True)
