"""The platform interface: shutdown, sleep and network hooks, and start at login.

Each OS has one module (`linux`, `windows`, `macos`) with one `Platform` subclass;
`null` does nothing, for systems (and tests) without hooks. The agent talks to the
platform only through this interface; the platform talks back only through `Events`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Protocol

# What logind's delay lock and Windows' WM_QUERYENDSESSION leave us comfortably.
SHUTDOWN_BUDGET_S = 2.0


class Events(Protocol):
    """What the OS tells the agent; each call returns once the agent has done its part."""

    def shutting_down(self) -> None:
        """The computer is going down or the session ends: give the seat back in budget."""

    def shutdown_cancelled(self) -> None:
        """A shutdown announced earlier will not happen after all."""

    def resumed(self) -> None:
        """The computer woke from sleep."""

    def network_changed(self) -> None:
        """The OS says connectivity changed: what waits for the server may go now."""


class Platform(abc.ABC):
    """One OS's hooks and its start-at-login entry."""

    name = "base"

    @abc.abstractmethod
    def start(self, events: Events) -> None:
        """Start listening to the OS (shutdown, sleep, network); never raises for a refusal."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop listening and let go of every lock taken from the OS."""

    def window_messages(self, hwnd: Callable[[], int],
                        exit_now: Callable[[], None]) -> dict[int, Callable[[int, int], int]]:
        """Handlers, by message, for the tray's hidden window `hwnd()` (Windows only);
        `exit_now()` ends the agent."""
        return {}

    def watch_session(self, exit_now: Callable[[], None]) -> None:
        """Without the tray: answer the end of the session and resume on a hidden window of
        the platform's own (Windows only; elsewhere `start` covers it)."""
        return None

    @abc.abstractmethod
    def autostart_location(self) -> str | None:
        """Where this user's start-at-login entry lives: a file or a registry value (None:
        not available here)."""

    def autostart_managed(self) -> str | None:
        """Where the administrator's start-at-login entry for every user lives, when one is
        set (the user cannot remove it); None: there is none."""
        return None

    @abc.abstractmethod
    def autostart_enabled(self) -> bool:
        """Whether the agent starts at this user's login."""

    @abc.abstractmethod
    def enable_autostart(self, command: list[str]) -> None:
        """Start `command` (the agent) at every login of this user."""

    @abc.abstractmethod
    def disable_autostart(self) -> None:
        """Stop starting the agent at login; nothing to do is not an error."""
