"""The current OS's platform module, chosen here and nowhere else.

`SEATKEEPER_PLATFORM` (linux, windows, macos, null) overrides the choice, as
pystray's `PYSTRAY_BACKEND` does; tests use it to pick `null`.
"""

from __future__ import annotations

import os
import sys

from seatkeeper.platform.base import SHUTDOWN_BUDGET_S, Events, Platform

__all__ = ["SHUTDOWN_BUDGET_S", "Events", "Platform", "current", "platform_name"]


def platform_name(environ: dict[str, str] | None = None, system: str | None = None) -> str:
    """The platform module's name: the override variable if set, else from `sys.platform`."""
    override = (environ if environ is not None else os.environ).get("SEATKEEPER_PLATFORM")
    if override:
        return override
    system = system or sys.platform
    if system.startswith("linux"):
        return "linux"
    if system == "win32":
        return "windows"
    if system == "darwin":
        return "macos"
    return "null"


def current(environ: dict[str, str] | None = None) -> Platform:
    """A new Platform for this OS (modules imported only when chosen)."""
    name = platform_name(environ)
    if name == "linux":
        from seatkeeper.platform.linux import LinuxPlatform

        return LinuxPlatform()
    if name == "windows":
        from seatkeeper.platform.windows import WindowsPlatform

        return WindowsPlatform()
    if name == "macos":
        from seatkeeper.platform.macos import MacPlatform

        return MacPlatform()
    from seatkeeper.platform.null import NullPlatform

    return NullPlatform()
