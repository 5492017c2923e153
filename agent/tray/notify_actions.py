"""Desktop notifications with buttons on Linux: freedesktop's Notify with `actions`, over GDBus.

pystray's own notifications carry no buttons. Where the notification server says it
shows them (`GetCapabilities` lists "actions": GNOME, KDE, most others), a notice with
actions is sent here instead, and a click (the `ActionInvoked` signal) runs its
handler on the GTK main loop, i.e. the tray's UI thread. Call `notify` on that thread:
the signal is delivered to the main context it was subscribed from, at the first notice
(a notification server may start after the agent). Where there is none (no session bus,
a server without actions) `notify` returns False and pystray's notice is used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("seatkeeper.tray")

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
APP_NAME = "Seatkeeper"
CALL_TIMEOUT_MS = 2000


class ActionNotifier:
    """Notifications whose buttons call back; one handler table per notification shown."""

    def __init__(self) -> None:
        self._handlers: dict[int, Mapping[str, Callable[[], None]]] = {}
        self._bus: Any = None

    def _connect(self) -> bool:
        """Whether the desktop shows buttons; asked until it says so."""
        if self._bus is not None:
            return True
        try:
            return self._subscribe()
        except Exception as exc:  # no session bus, no notification server: GLib.Error
            log.info("notifications without buttons: %s", exc)
            return False

    def _subscribe(self) -> bool:
        import gi

        gi.require_version("Gio", "2.0")
        from gi.repository import Gio, GLib

        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        reply = bus.call_sync(NAME, PATH, NAME, "GetCapabilities", None,
                              GLib.VariantType.new("(as)"), Gio.DBusCallFlags.NONE,
                              CALL_TIMEOUT_MS, None)
        capabilities = reply.unpack()[0]
        if "actions" not in capabilities:
            log.info("the notification server shows no buttons (%s)", ", ".join(capabilities))
            return False
        bus.signal_subscribe(NAME, NAME, "ActionInvoked", PATH, None,
                             Gio.DBusSignalFlags.NONE, self._invoked)
        bus.signal_subscribe(NAME, NAME, "NotificationClosed", PATH, None,
                             Gio.DBusSignalFlags.NONE, self._closed)
        self._bus = bus
        return True

    def notify(self, title: str, text: str, actions: tuple[tuple[str, str], ...],
               handlers: Mapping[str, Callable[[], None]]) -> bool:
        """Show the notice with its buttons ((key, label)); False if it could not be sent."""
        if not self._connect():
            return False
        from gi.repository import Gio, GLib

        flat = [part for key, label in actions for part in (key, label)]
        try:
            reply = self._bus.call_sync(
                NAME, PATH, NAME, "Notify",
                GLib.Variant("(susssasa{sv}i)", (APP_NAME, 0, "", title, text, flat, {}, -1)),
                GLib.VariantType.new("(u)"), Gio.DBusCallFlags.NONE, CALL_TIMEOUT_MS, None)
        except Exception as exc:  # GLib.Error: the server went away meanwhile
            log.warning("the notification was not shown: %s", exc)
            return False
        self._handlers[reply.unpack()[0]] = dict(handlers)
        return True

    def _invoked(self, _bus: Any, _sender: str, _path: str, _interface: str, _signal: str,
                 parameters: Any) -> None:
        number, key = parameters.unpack()
        handler = self._handlers.get(number, {}).get(key)
        if handler is None:
            return
        log.info("notification button: %s", key)
        try:
            handler()
        except Exception:
            log.exception("the notification's %s failed", key)

    def _closed(self, _bus: Any, _sender: str, _path: str, _interface: str, _signal: str,
                parameters: Any) -> None:
        self._handlers.pop(parameters.unpack()[0], None)
