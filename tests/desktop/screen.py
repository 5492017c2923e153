"""A real desktop for tests: Xvfb, trayer (an XEmbed tray), the agent's docked icon, clicks.

    with Desktop(artefacts / "screenshots") as desktop:    # Xvfb :N and trayer
        agent = TrayAgent(home, desktop, server_url=...)  # `seatkeeper run` with its tray,
        agent.start()                                     # under dbus-run-session
        icon = desktop.wait_for_icon()                    # docked in trayer
        desktop.right_click(icon)
        agent.atspi("click", "menu item", "Log out…")     # as a screen reader would
        desktop.screenshot("logout-confirm")

`missing_tools()` says what is not installed; the tests skip with that list.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from PIL import Image

from tests.support.agent import AgentProcess
from tests.support.procs import stop_all

TOOLS = ("Xvfb", "trayer", "xdotool", "dbus-run-session", "import", "xclip")
SCREEN = (720, 480)
ATSPI_DRIVER = Path(__file__).with_name("atspi.py")
NOTIFICATION_SERVER = Path(__file__).with_name("notifications.py")
SNI_WATCHER = Path(__file__).with_name("sni_watcher.py")
START_TIMEOUT_S = 20.0


def missing_tools() -> list[str]:
    """The programs and Python modules the desktop tests need that are not installed."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    for module in ("gi", "Xlib"):
        if importlib.util.find_spec(module) is None:
            missing.append(f"python module {module}")
    if not missing:
        probe = ("import gi; gi.require_version('Gtk', '3.0'); "
                 "gi.require_version('Atspi', '2.0')")
        if subprocess.run([sys.executable, "-c", probe], capture_output=True,
                          check=False).returncode:
            missing.append("GTK 3 or AT-SPI introspection data (gir1.2-gtk-3.0, "
                           "gir1.2-atspi-2.0)")
    return missing


@dataclass(frozen=True)
class Box:
    """A window's place on the screen."""

    x: int
    y: int
    width: int
    height: int

    @property
    def centre(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2


def _free_display() -> int:
    for number in range(90, 200):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and \
                not Path(f"/tmp/.X{number}-lock").exists():
            return number
    raise RuntimeError("no free X display number between :90 and :199")


class Desktop:
    """Xvfb on a free display with trayer docked at its top right; screenshots go to `shots`."""

    def __init__(self, shots: Path, *, tray: bool = True) -> None:
        self.shots = shots
        self.tray = tray
        self.number = _free_display()
        self.display = f":{self.number}"
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DISPLAY": self.display}

    def start(self) -> Desktop:
        self.shots.mkdir(parents=True, exist_ok=True)
        self._spawn(["Xvfb", self.display, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
                     "-nolisten", "tcp"])
        self._wait(lambda: Path(f"/tmp/.X11-unix/X{self.number}").exists(), "Xvfb")
        if self.tray:
            self.start_tray()
        return self

    def start_tray(self) -> None:
        """trayer, the XEmbed tray host, at the top right of the screen."""
        self._spawn(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                     "--height", "32", "--SetDockType", "true", "--SetPartialStrut", "true"])
        self._wait(self.tray_running, "trayer")

    def _spawn(self, command: list[str]) -> None:
        self._procs.append(subprocess.Popen(command, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))

    def _wait(self, ready: Any, what: str, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not start on {self.display}")
            time.sleep(0.05)

    def stop(self) -> None:
        stop_all(self._procs)

    def __enter__(self) -> Desktop:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- what is on the screen --------------------------------------------------------

    def _x(self) -> Any:
        from Xlib.display import Display

        return Display(self.display)

    def tray_running(self) -> bool:
        from Xlib import X

        try:
            x = self._x()
        except Exception:
            return False
        try:
            owner = x.get_selection_owner(x.intern_atom("_NET_SYSTEM_TRAY_S0"))
            return bool(owner != X.NONE)
        finally:
            x.close()

    def docked_icon(self, name: str = "seatkeeper") -> Box | None:
        """Where the window of class `name` sits inside the tray, if it is docked there."""
        x = self._x()
        try:
            root = x.screen().root
            for top in root.query_tree().children:
                if "trayer" not in [part.lower() for part in top.get_wm_class() or ()]:
                    continue
                found = _find_class(top, name)
                if found is not None:
                    geometry = found.get_geometry()
                    place = found.translate_coords(root, 0, 0)
                    return Box(-place.x, -place.y, geometry.width, geometry.height)
            return None
        finally:
            x.close()

    def wait_for_icon(self, timeout: float = START_TIMEOUT_S, *, gone: bool = False) -> Box:
        """The agent's icon once it is docked (its size settled), or fail."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            box = self.docked_icon()
            if box is not None and box == last and box.width > 1:
                return box
            last = box
            time.sleep(0.1)
        raise AssertionError(f"no Seatkeeper icon docked in trayer within {timeout:g} s")

    def right_click(self, box: Box) -> None:
        x, y = box.centre
        subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "3"],
                       env=self.env, check=True, timeout=10)

    def key(self, name: str) -> None:
        subprocess.run(["xdotool", "key", name], env=self.env, check=True, timeout=10)

    def click(self, box: Box) -> None:
        x, y = box.centre
        subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"],
                       env=self.env, check=True, timeout=10)

    def type(self, text: str) -> None:
        """Type `text` on the keyboard, key by key, into the window that has the focus."""
        subprocess.run(["xdotool", "type", "--delay", "20", text], env=self.env, check=True,
                       timeout=60)

    def clipboard(self) -> str:
        """What a paste would insert now: the clipboard's text, as another program reads it."""
        done = subprocess.run(["xclip", "-selection", "clipboard", "-out"], env=self.env,
                              capture_output=True, text=True, timeout=10, check=False)
        return done.stdout

    def set_clipboard(self, text: str) -> None:
        """Copy `text` as another program would (xclip serves it until the next copy)."""
        subprocess.run(["xclip", "-selection", "clipboard", "-in"], input=text, text=True,
                       env=self.env, check=True, timeout=10, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def screenshot(self, name: str) -> Path:
        """The whole screen as `shots/NAME.png` (a test artefact)."""
        path = self.shots / f"{name}.png"
        subprocess.run(["import", "-window", "root", str(path)], env=self.env, check=True,
                       timeout=30)
        return path

    def icon_image(self, box: Box) -> Image.Image:
        """What the docked icon looks like right now."""
        path = self.shots / ".icon.png"
        subprocess.run(["import", "-window", "root", "-crop",
                        f"{box.width}x{box.height}+{box.x}+{box.y}", str(path)],
                       env=self.env, check=True, timeout=30)
        with Image.open(path) as image:
            return image.convert("RGB")


def _find_class(window: Any, name: str) -> Any:
    for child in window.query_tree().children:
        try:
            wm_class = child.get_wm_class()
        except Exception:  # the window went away meanwhile
            continue
        if wm_class and wm_class[0] == name:
            return child
        found = _find_class(child, name)
        if found is not None:
            return found
    return None


class TrayAgent(AgentProcess):
    """`seatkeeper run` with its tray (GTK backend) on the desktop, under dbus-run-session."""

    def __init__(self, home: Path, desktop: Desktop, **kw: Any) -> None:
        super().__init__(home, **kw)
        self.desktop = desktop
        self.bus_file = self.home / "session-bus"
        self.notices_file = self.home / "notifications.jsonl"
        self.items_file = self.home / "status-notifier-items.jsonl"
        self._helpers: list[subprocess.Popen[bytes]] = []
        self.extra_env.update({"DISPLAY": desktop.display, "PYSTRAY_BACKEND": "gtk"})
        self.extra_env.pop("NO_AT_BRIDGE", None)

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        for key in ("DBUS_SESSION_BUS_ADDRESS", "NO_AT_BRIDGE", "WAYLAND_DISPLAY"):
            env.pop(key, None)
        return env

    def run_command(self) -> list[str]:
        self.bus_file.unlink(missing_ok=True)
        record = 'echo "$$ $DBUS_SESSION_BUS_ADDRESS" > "$0"; exec "$@"'
        return ["dbus-run-session", "--", "sh", "-c", record, str(self.bus_file),
                *self.command("run")]

    def session_bus(self) -> tuple[int, str]:
        """The agent's pid and its session bus address (once dbus-run-session started it)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.bus_file.exists() or not self.bus_file.read_text().strip():
            assert time.monotonic() < deadline, "dbus-run-session did not start the agent"
            time.sleep(0.05)
        pid, address = self.bus_file.read_text().split(maxsplit=1)
        return int(pid), address.strip()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM to the agent itself; dbus-run-session then ends with the agent's status."""
        self._signal_agent(signal.SIGTERM, timeout)
        code = super().stop(timeout)
        for helper in self._helpers:
            helper.terminate()
            helper.wait(timeout=10)
        self._helpers.clear()
        return code

    def serve_notifications(self) -> None:
        """A notification server on the agent's session bus, recording what it is told."""
        self._serve(NOTIFICATION_SERVER, self.notices_file)

    def serve_status_notifier_watcher(self) -> None:
        """An AppIndicator host registry on the agent's session bus, recording its items."""
        self._serve(SNI_WATCHER, self.items_file)

    def _serve(self, script: Path, out: Path) -> None:
        """Run a stand-in D-Bus service on the agent's bus; it touches `out` once it owns
        its name."""
        _, address = self.session_bus()
        out.unlink(missing_ok=True)
        helper = subprocess.Popen(
            [sys.executable, str(script), str(out)],
            env={**self.desktop.env, "DBUS_SESSION_BUS_ADDRESS": address},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._helpers.append(helper)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not out.exists():
            assert helper.poll() is None, f"{script.name} stopped"
            assert time.monotonic() < deadline, f"{script.name} did not start"
            time.sleep(0.05)

    def click_notification_button(self, number: int, key: str) -> None:
        """Click a button of notification `number`, as on the desktop (the stand-in server
        then sends ActionInvoked)."""
        import gi

        gi.require_version("Gio", "2.0")
        from gi.repository import Gio, GLib

        _, address = self.session_bus()
        flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
                 | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
        bus = Gio.DBusConnection.new_for_address_sync(address, flags, None, None)
        try:
            bus.call_sync("org.freedesktop.Notifications", "/org/freedesktop/Notifications",
                          "org.seatkeeper.test.Notifications", "Click",
                          GLib.Variant("(us)", (number, key)), None, Gio.DBusCallFlags.NONE,
                          5000, None)
        finally:
            bus.close_sync(None)

    def notifications(self) -> list[dict[str, Any]]:
        """What the agent showed as desktop notifications, oldest first."""
        if not self.notices_file.exists():
            return []
        lines = self.notices_file.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def kill(self) -> None:
        self._signal_agent(signal.SIGKILL, 5.0)
        super().kill()

    def _signal_agent(self, signum: int, timeout: float) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None or not self.bus_file.exists():
            return
        pid, _ = self.session_bus()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)

    def atspi(self, *args: str, timeout: float = 10.0) -> str:
        """Run the AT-SPI driver against this agent's accessibility tree; its output."""
        _, address = self.session_bus()
        env = {**self.desktop.env, "DBUS_SESSION_BUS_ADDRESS": address}
        done = subprocess.run([sys.executable, str(ATSPI_DRIVER), *args, "--timeout",
                               str(timeout)], env=env, capture_output=True, text=True,
                              timeout=timeout + 30, check=False)
        assert done.returncode == 0, (f"atspi {' '.join(args)} failed:\n{done.stdout}\n"
                                      f"{done.stderr}\n{self.logs_tail()}")
        return done.stdout
