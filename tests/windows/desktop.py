"""A Windows desktop for tests: Xvfb, Wine's explorer with its taskbar and tray, and eyes on it.

    with WineDesktop(artefacts / "screenshots") as desktop:   # Xvfb :N, explorer /desktop
        icon = desktop.wait_for_tray_icon()                   # in the taskbar's notification area
        desktop.click(icon.centre, button=3)                  # right-click, as a person would
        box = desktop.wait_for_window("#32770", "Seatkeeper") # the MessageBox, by class and title
        desktop.click(desktop.button(box, "OK").box.centre)

Every Windows program of the lane started with `desktop.env` opens its windows on this
desktop: the prefix's `Explorer\\Desktop` value names it while the desktop runs. The
desktop is seen from the Windows side by `desktop_probe.py` (EnumWindows: class, title,
place, process) and from the X side by screenshots; clicks go through `xdotool`, the way
a person's mouse does.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from PIL import Image

from tests.desktop.screen import Box, _free_display
from tests.support.procs import stop_all
from tests.windows import wine

SCREEN = (1024, 768)
EXPLORER_KEY = r"HKCU\Software\Wine\Explorer"
PROBE = Path(__file__).with_name("desktop_probe.py")
TOOLS = ("Xvfb", "xdotool", "import")
START_TIMEOUT_S = 60.0
INK = 96  # grey level below which a pixel is text (disabled entries are lighter)
MIN_TEXT_PX = 5  # a line of text is taller than a separator
# Wine takes the Windows display language (MessageBox's button captions among others)
# from the locale variables, as Windows takes it from the user's language setting. The
# agent's own words are English (it has no language setting): these tests find buttons
# by their English captions.
ENGLISH = {"LANG": "en_US.UTF-8", "LC_ALL": "en_US.UTF-8", "LANGUAGE": "en_US"}


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@dataclass(frozen=True)
class Window:
    """A window as EnumWindows reports it."""

    hwnd: int
    cls: str
    title: str
    box: Box
    pid: int
    visible: bool
    children: tuple[Window, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Window:
        left, top, right, bottom = data["rect"]
        return cls(hwnd=data["hwnd"], cls=data["class"], title=data["title"],
                   box=Box(left, top, right - left, bottom - top), pid=data["pid"],
                   visible=data["visible"],
                   children=tuple(cls.from_json(c) for c in data.get("children", ())))

    def child(self, cls: str, title: str) -> Window | None:
        return next((c for c in self.children if c.cls == cls and c.title == title), None)

    @property
    def texts(self) -> list[str]:
        """The words the window shows (its static texts), as a screen reader reads them."""
        return [c.title for c in self.children if c.cls == "Static" and c.title]


class Probe:
    """desktop_probe.py running under the Windows CPython, one JSON line per request."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(wine.wine_command(str(wine.windows_path(PROBE))),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, encoding="utf-8",
                                     env=wine.wine_env(env), cwd=wine.REPO_ROOT)
        first = self._read()
        if not first.get("ready"):
            raise AssertionError(f"the Windows probe did not start: {first}")

    def _read(self) -> dict[str, Any]:
        out: IO[str] | None = self.proc.stdout
        assert out is not None
        while True:
            line = out.readline()
            if not line:
                raise AssertionError(f"the Windows probe ended ({self.proc.poll()})")
            if line.startswith("{"):
                reply: dict[str, Any] = json.loads(line)
                return reply

    def call(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if "error" in reply:
            raise AssertionError(f"probe {op}: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        with contextlib.suppress(OSError, AssertionError):
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class WineDesktop:
    """Xvfb with Wine's explorer desktop (taskbar, Start, notification area) filling it."""

    def __init__(self, shots: Path) -> None:
        self.shots = shots
        self.number = _free_display()
        self.display = f":{self.number}"
        # A name of its own: an explorer of an earlier desktop never serves this one.
        self.name = f"seatkeeper-tests-{self.number}-{os.getpid()}"
        self._procs: list[subprocess.Popen[bytes]] = []
        self.probe: Probe | None = None

    @property
    def env(self) -> dict[str, str]:
        """What a Windows program needs to open its windows here (see `wine.wine_env`)."""
        return {"DISPLAY": self.display, **ENGLISH}

    def start(self) -> WineDesktop:
        self.shots.mkdir(parents=True, exist_ok=True)
        self._spawn(["Xvfb", self.display, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
                     "-nolisten", "tcp"])
        _wait(lambda: Path(f"/tmp/.X11-unix/X{self.number}").exists(), "Xvfb")
        size = f"{SCREEN[0]}x{SCREEN[1]}"
        self._reg("add", EXPLORER_KEY, "/v", "Desktop", "/d", self.name, "/f")
        self._reg("add", rf"{EXPLORER_KEY}\Desktops", "/v", self.name, "/d", size, "/f")
        # The shell: a taskbar with Start and the notification area, as on Windows.
        self._reg("add", rf"{EXPLORER_KEY}\Desktops\{self.name}", "/v", "EnableShell",
                  "/t", "REG_DWORD", "/d", "1", "/f")
        # Wine's background programs keep any pipe they inherit open: explorer gets none.
        self._spawn(["wine", "explorer", f"/desktop={self.name},{size}"], wine_env=True)
        # A Windows program started before the desktop exists would make one of its own.
        _wait(self._desktop_shown, "Wine's desktop window", START_TIMEOUT_S)
        self.probe = Probe(self.env)
        _wait(lambda: self.find("Shell_TrayWnd") is not None, "Wine's taskbar",
              START_TIMEOUT_S)
        return self

    def _desktop_shown(self) -> bool:
        """Whether a window the size of the screen is mapped on the X display."""
        from Xlib import X
        from Xlib.display import Display

        x = Display(self.display)
        try:
            for window in x.screen().root.query_tree().children:
                geometry = window.get_geometry()
                if window.get_attributes().map_state == X.IsViewable and \
                        (geometry.width, geometry.height) == SCREEN:
                    return True
            return False
        finally:
            x.close()

    def _reg(self, *args: str) -> None:
        subprocess.run(["wine", "reg", *args], env=wine.wine_env(self.env),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60, check=False)

    def _spawn(self, command: list[str], *, wine_env: bool = False) -> None:
        env = wine.wine_env(self.env) if wine_env else {**os.environ, **self.env}
        self._procs.append(subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))

    def stop(self) -> None:
        if self.probe is not None:
            self.probe.close()
            self.probe = None
        self._reg("delete", EXPLORER_KEY, "/v", "Desktop", "/f")
        self._reg("delete", rf"{EXPLORER_KEY}\Desktops", "/v", self.name, "/f")
        self._reg("delete", rf"{EXPLORER_KEY}\Desktops\{self.name}", "/f")
        stop_all(self._procs)

    def __enter__(self) -> WineDesktop:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- what is on the screen --------------------------------------------------------

    def windows(self) -> list[Window]:
        assert self.probe is not None
        return [Window.from_json(each) for each in self.probe.call("windows")]

    def find(self, cls: str, title: str | None = None, pid: int | None = None,
             visible: bool = True) -> Window | None:
        """The top-level window of this class (and title, and process), if there is one."""
        for window in self.windows():
            if window.cls == cls and (title is None or window.title == title) and \
                    (pid is None or window.pid == pid) and window.visible >= visible:
                return window
        return None

    def wait_for_window(self, cls: str, title: str | None = None, pid: int | None = None,
                        timeout: float = 15.0) -> Window:
        found: list[Window] = []

        def seen() -> bool:
            window = self.find(cls, title, pid)
            if window is not None:
                found.append(window)
            return window is not None

        _wait(seen, f"a {cls} window {title or ''}", timeout)
        return found[-1]

    def wait_for_no_window(self, cls: str, title: str | None = None, pid: int | None = None,
                           timeout: float = 15.0) -> None:
        _wait(lambda: self.find(cls, title, pid) is None, f"the {cls} window to close",
              timeout)

    def post(self, hwnd: int, msg: int, wparam: int = 0, lparam: int = 0) -> None:
        assert self.probe is not None
        assert self.probe.call("post", hwnd=hwnd, msg=msg, wparam=wparam, lparam=lparam)

    def send(self, hwnd: int, msg: int, wparam: int = 0, lparam: int = 0) -> int | None:
        """SendMessage, as Windows sends the end of the session: the window's answer."""
        assert self.probe is not None
        answer: int | None = self.probe.call("send", hwnd=hwnd, msg=msg, wparam=wparam,
                                             lparam=lparam)
        return answer

    def tray_icons(self) -> list[Box]:
        """The icons in the taskbar's notification area, as the eye finds them: the
        non-background pixels at the taskbar's right end, one box per 20-pixel slot."""
        bar = self.find("Shell_TrayWnd")
        if bar is None:
            return []
        image = self.capture(bar.box)
        background = image.getpixel((image.width - 1, 0))
        slot = 20  # Wine draws each notification icon in a 16 px icon plus a 2 px border
        found = []
        right = image.width
        while right - slot >= 0:
            left = right - slot
            cells = image.crop((left, 0, right, image.height))
            if cells.getbbox() is None or all(
                    cells.getpixel((x, y)) == background
                    for x in range(cells.width) for y in range(cells.height)):
                break
            found.append(Box(bar.box.x + left, bar.box.y, slot, bar.box.height))
            right = left
        return found

    def wait_for_tray_icon(self, timeout: float = START_TIMEOUT_S) -> Box:
        icons: list[Box] = []

        def docked() -> bool:
            icons[:] = self.tray_icons()
            return len(icons) == 1

        _wait(docked, "one icon in the taskbar's notification area", timeout)
        return icons[0]

    def text_rows(self, window: Window) -> list[Box]:
        """The lines of dark text in a window (a menu's enabled entries), top to bottom,
        as the eye finds them: bands of rows with ink, thin lines (separators) left out."""
        image = self.capture(window.box).convert("L")
        grey = image.tobytes()  # one byte per pixel, row after row
        inked = [min(grey[y * image.width:(y + 1) * image.width]) < INK
                 for y in range(image.height)]
        rows: list[Box] = []
        top = None
        for y, ink in enumerate([*inked, False]):
            if ink and top is None:
                top = y
            elif not ink and top is not None:
                if y - top >= MIN_TEXT_PX:
                    rows.append(Box(window.box.x, window.box.y + top, window.box.width,
                                    y - top))
                top = None
        return rows

    def capture(self, box: Box) -> Image.Image:
        path = self.shots / ".capture.png"
        subprocess.run(["import", "-window", "root", "-crop",
                        f"{box.width}x{box.height}+{box.x}+{box.y}", str(path)],
                       env={**os.environ, **self.env}, check=True, timeout=30)
        with Image.open(path) as image:
            return image.convert("RGB")

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        subprocess.run(["import", "-window", "root", str(path)], env={**os.environ, **self.env},
                       check=True, timeout=30)
        return path

    # -- a person's hands -------------------------------------------------------------

    def click(self, point: tuple[int, int], button: int = 1) -> None:
        x, y = point
        subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", str(button)],
                       env={**os.environ, **self.env}, check=True, timeout=10)

    def type(self, text: str) -> None:
        """Type `text` on the keyboard into the focused window (Wine maps X's keys)."""
        subprocess.run(["xdotool", "type", "--delay", "30", text],
                       env={**os.environ, **self.env}, check=True, timeout=60)

    def key(self, name: str) -> None:
        subprocess.run(["xdotool", "key", name], env={**os.environ, **self.env}, check=True,
                       timeout=10)

    def clipboard(self) -> str | None:
        """The Windows clipboard's text, as a Windows program pasting it would read it."""
        assert self.probe is not None
        text: str | None = self.probe.call("clipboard")
        return text

    def button(self, window: Window, caption: str) -> Window:
        """The push button labelled `caption` in a dialog, or fail naming what is there."""
        found = window.child("Button", caption)
        assert found is not None, (f"no {caption!r} button in {window.title!r}: "
                                   f"{[c.title for c in window.children if c.cls == 'Button']}")
        return found


def _wait(ready: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not appear within {timeout:g} s")
        time.sleep(0.1)
