"""The platform that does nothing: no hooks, no autostart (unknown systems and tests)."""

from __future__ import annotations

from seatkeeper.platform.base import Events, Platform


class NullPlatform(Platform):
    """Listens to nothing; start at login is not available."""

    name = "null"

    def start(self, events: Events) -> None:
        return None

    def stop(self) -> None:
        return None

    def autostart_location(self) -> str | None:
        return None

    def autostart_enabled(self) -> bool:
        return False

    def enable_autostart(self, command: list[str]) -> None:
        raise NotImplementedError("start at login is not available on this system")

    def disable_autostart(self) -> None:
        return None
