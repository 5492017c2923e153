"""Linux: logind delay locks for shutdown and sleep, NetworkManager hints, XDG autostart.

The hooks run on one thread with one jeepney connection to the system bus
(`DBUS_SYSTEM_BUS_ADDRESS` points it elsewhere, as the tests do). Each D-Bus call is
wrapped in one small function below; jeepney is imported only inside them.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from pathlib import Path
from typing import Any

from seatkeeper.platform.base import Events, Platform

log = logging.getLogger("seatkeeper.platform")

LOGIND_NAME = "org.freedesktop.login1"
LOGIND_PATH = "/org/freedesktop/login1"
LOGIND_IFACE = "org.freedesktop.login1.Manager"
NM_IFACE = "org.freedesktop.NetworkManager"
WHO, WHY = "Seatkeeper", "Giving the license seat back"
DESKTOP_FILE = "seatkeeper.desktop"
POLL_S = 0.25

# -- the OS calls, one small function each -----------------------------------------------


def _connect() -> Any:
    from jeepney.io.blocking import open_dbus_connection

    return open_dbus_connection(bus="SYSTEM", enable_fds=True)


def _subscribe(conn: Any, members: list[tuple[str, str]]) -> collections.deque[Any]:
    """Ask the bus for these (interface, member) signals; they land in the returned queue."""
    from jeepney import MatchRule
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import Proxy

    matches: collections.deque[Any] = collections.deque()
    bus = Proxy(message_bus, conn)
    for interface, member in members:
        rule = MatchRule(type="signal", interface=interface, member=member)
        conn.filter(rule, queue=matches)
        bus.AddMatch(rule)
    return matches


def _inhibit(conn: Any, what: str) -> int:
    """A logind delay lock on `what` (shutdown or sleep): its file descriptor."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.wrappers import unwrap_msg

    logind = DBusAddress(LOGIND_PATH, bus_name=LOGIND_NAME, interface=LOGIND_IFACE)
    reply = conn.send_and_get_reply(
        new_method_call(logind, "Inhibit", "ssss", (what, WHO, WHY, "delay")), timeout=5)
    fd: int = unwrap_msg(reply)[0].to_raw_fd()
    return fd


def _next_signal(conn: Any, matches: collections.deque[Any]) -> tuple[str, tuple[Any, ...]] | None:
    """The next matched signal as (member, body), or None after a short wait."""
    try:
        message = conn.recv_until_filtered(matches, timeout=POLL_S)
    except TimeoutError:
        return None
    return message.header.fields.get(_member_field()), tuple(message.body)


def _member_field() -> Any:
    from jeepney import HeaderFields

    return HeaderFields.member


def _close(fd: int) -> None:
    os.close(fd)


# -- the hooks ---------------------------------------------------------------------------


class LogindHooks:
    """Delay locks for shutdown and sleep, and what to do when logind announces either."""

    def __init__(self, events: Events) -> None:
        self.events = events
        self.locks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="logind", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * POLL_S + 1)
        for what in list(self.locks):
            self.let_go(what)

    def _run(self) -> None:
        try:
            self._conn = _connect()
            matches = _subscribe(self._conn, [
                (LOGIND_IFACE, "PrepareForShutdown"), (LOGIND_IFACE, "PrepareForSleep"),
                (NM_IFACE, "StateChanged")])
        except Exception as exc:  # no system bus is a normal desktop-less setup
            log.warning("no system D-Bus (%s): shutdown release relies on SIGTERM", exc)
            return
        self.take("shutdown")
        self.take("sleep")
        try:
            while not self._stop.is_set():
                received = _next_signal(self._conn, matches)
                if received is not None:
                    self.handle(*received)
        except (ConnectionError, OSError) as exc:
            log.warning("the system D-Bus connection ended (%s): shutdown release relies "
                        "on SIGTERM", exc)
        except Exception:
            log.exception("the logind hooks stopped")
        finally:
            self._conn.close()

    def take(self, what: str) -> None:
        """Take the delay lock on `what`; a refusal is logged, and the agent carries on."""
        if what in self.locks:
            return
        try:
            self.locks[what] = _inhibit(self._conn, what)
            log.info("logind: %s delay lock taken", what)
        except Exception as exc:
            log.warning("logind refused a %s delay lock (%s): the seat is released on "
                        "SIGTERM only", what, exc)

    def let_go(self, what: str) -> None:
        fd = self.locks.pop(what, None)
        if fd is not None:
            _close(fd)
            log.info("logind: %s delay lock let go", what)

    def handle(self, member: str, body: tuple[Any, ...]) -> None:
        """One signal from logind or NetworkManager."""
        if member == "PrepareForShutdown":
            if body and body[0]:
                log.info("logind: the system is shutting down")
                try:
                    self.events.shutting_down()
                finally:
                    self.let_go("shutdown")
            else:
                log.info("logind: the shutdown was cancelled")
                self.take("shutdown")
                self.events.shutdown_cancelled()
        elif member == "PrepareForSleep":
            if body and body[0]:
                log.info("logind: going to sleep")
                self.let_go("sleep")
            else:
                log.info("logind: resumed from sleep")
                self.events.resumed()
                self.take("sleep")
        elif member == "StateChanged":
            self.events.network_changed()


# -- start at login ----------------------------------------------------------------------


def autostart_dir(environ: dict[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/autostart`, or `~/.config/autostart`."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "autostart"


def exec_line(command: list[str]) -> str:
    """`command` as a desktop entry's Exec value (quoted where the spec asks for it)."""
    def quote(arg: str) -> str:
        if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`='):
            return arg
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        return f'"{escaped}"'

    return " ".join(quote(arg) for arg in command).replace("%", "%%")


def desktop_entry(command: list[str]) -> str:
    """The XDG autostart entry that starts `command` at login."""
    return ("[Desktop Entry]\n"
            "Type=Application\n"
            "Name=Seatkeeper\n"
            "Comment=Keeps your license seat in step with you\n"
            f"Exec={exec_line(command)}\n"
            "Terminal=false\n"
            "Categories=Utility;\n"
            "X-GNOME-Autostart-enabled=true\n")


class LinuxPlatform(Platform):
    """logind and NetworkManager over the system bus; an XDG autostart entry."""

    name = "linux"

    def __init__(self) -> None:
        self.hooks: LogindHooks | None = None

    def start(self, events: Events) -> None:
        self.hooks = LogindHooks(events)
        self.hooks.start()

    def stop(self) -> None:
        if self.hooks is not None:
            self.hooks.stop()

    def entry(self) -> Path:
        return autostart_dir() / DESKTOP_FILE

    def autostart_location(self) -> str:
        return str(self.entry())

    def autostart_enabled(self) -> bool:
        return self.entry().is_file()

    def enable_autostart(self, command: list[str]) -> None:
        path = self.entry()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(desktop_entry(command), encoding="utf-8")
        tmp.replace(path)

    def disable_autostart(self) -> None:
        self.entry().unlink(missing_ok=True)
