"""Which pystray backend this desktop can show, chosen before pystray is imported.

win32 on Windows, darwin on macOS. On Linux the icon needs a display and a tray
host: GTK's status icon when an XEmbed system tray owns `_NET_SYSTEM_TRAY_Sn` on the
X display (it shows the menu exactly where the tray is), else AppIndicator when a
StatusNotifierWatcher is on the session bus (GNOME's extension, KDE, most Wayland
panels). `PYSTRAY_BACKEND` names one of them to insist on it. With neither, the
agent runs headless; a panel that starts a moment after the agent is waited for.
Each probe of the desktop is one small function, replaced in tests.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger("seatkeeper.tray")

# At login the agent may start before the panel that hosts its icon.
TRAY_WAIT_S = 5.0
POLL_S = 0.25
SNI_WATCHER = "org.kde.StatusNotifierWatcher"
BACKENDS = ("win32", "darwin", "gtk", "appindicator")


@dataclass(frozen=True)
class Choice:
    """A pystray backend name, or None for headless, and why (said to the user)."""

    backend: str | None
    reason: str


def has_gtk() -> bool:
    """PyGObject and GTK 3's introspection data are installed (the `gtk` extra)."""
    try:
        import gi

        gi.require_version("Gtk", "3.0")
    except (ImportError, ValueError):
        return False
    return True


def xembed_tray(display_name: str) -> bool | None:
    """Whether an XEmbed system tray runs on the X display; None: no connection to it.

    Asked through libX11 itself (GTK loads it anyway), which costs a tenth of importing
    python-xlib before the icon; python-xlib where libX11 cannot be loaded."""
    import ctypes

    try:
        x11 = ctypes.CDLL("libX11.so.6")
    except OSError:
        return _xembed_tray_xlib(display_name)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultScreen.argtypes = [ctypes.c_void_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XGetSelectionOwner.restype = ctypes.c_ulong
    x11.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    display = x11.XOpenDisplay(display_name.encode())
    if not display:
        return None
    try:
        name = f"_NET_SYSTEM_TRAY_S{x11.XDefaultScreen(display)}".encode()
        return bool(x11.XGetSelectionOwner(display, x11.XInternAtom(display, name, 0)))
    finally:
        x11.XCloseDisplay(display)


def _xembed_tray_xlib(display_name: str) -> bool | None:
    try:
        from Xlib import X
        from Xlib.display import Display
    except ImportError:
        return None
    try:
        display = Display(display_name)
    except Exception:  # python-xlib raises many kinds (DisplayNameError, ConnectionClosedError…)
        return None
    try:
        atom = display.intern_atom(f"_NET_SYSTEM_TRAY_S{display.get_default_screen()}")
        return bool(display.get_selection_owner(atom) != X.NONE)
    finally:
        display.close()


def status_notifier_watcher() -> bool:
    """Whether a StatusNotifierWatcher (the AppIndicator host) is on the session bus."""
    try:
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection
    except ImportError:
        return False
    try:
        connection = open_dbus_connection("SESSION")
    except Exception:  # no session bus, or its address is wrong
        return False
    try:
        reply = connection.send_and_get_reply(message_bus.NameHasOwner(SNI_WATCHER), timeout=2)
        return bool(reply.body[0])
    except Exception:
        return False
    finally:
        connection.close()


@dataclass(frozen=True)
class Probes:
    """The desktop probes `choose` uses; tests pass their own."""

    has_gtk: Callable[[], bool] = has_gtk
    xembed_tray: Callable[[str], bool | None] = xembed_tray
    status_notifier_watcher: Callable[[], bool] = status_notifier_watcher


def choose(env: Mapping[str, str], platform: str = sys.platform, *,
           probes: Probes = Probes(), wait_s: float = TRAY_WAIT_S,
           sleep: Callable[[float], None] = time.sleep,
           clock: Callable[[], float] = time.monotonic) -> Choice:
    """The backend for this desktop, or None (headless) with the reason."""
    if platform == "win32":
        return Choice("win32", "Windows")
    if platform == "darwin":
        return Choice("darwin", "macOS")
    display, wayland = env.get("DISPLAY", ""), env.get("WAYLAND_DISPLAY", "")
    if not display and not wayland:
        return Choice(None, "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)")
    if not probes.has_gtk():
        return Choice(None, "PyGObject is not installed (pip install 'seatkeeper[gtk]')")
    wanted = env.get("PYSTRAY_BACKEND", "")
    if wanted and wanted not in ("gtk", "appindicator"):
        return Choice(None, f"PYSTRAY_BACKEND={wanted} is not one the agent can use here "
                            "(gtk or appindicator)")
    deadline = clock() + wait_s
    while True:
        if wanted != "appindicator" and display:
            found = probes.xembed_tray(display)
            if found is None and not wayland:
                return Choice(None, f"cannot connect to the X display {display}")
            if found:
                return Choice("gtk", f"an XEmbed system tray is on display {display}")
        if wanted != "gtk" and probes.status_notifier_watcher():
            return Choice("appindicator", "a StatusNotifier host is on the session bus")
        if clock() >= deadline:
            break
        sleep(POLL_S)
    hosts = {"gtk": f"no XEmbed system tray on display {display or '(none)'}",
             "appindicator": "no StatusNotifier host (AppIndicator) on the session bus"}
    missing = [text for name, text in hosts.items() if wanted in ("", name)]
    return Choice(None, f"no system tray to show the icon in ({'; '.join(missing)})")
