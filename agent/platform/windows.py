r"""Windows: end of session through a hidden window, resume, Run keys and policy.

Windows asks every top-level window `WM_QUERYENDSESSION` before logoff or shutdown
and waits about 5 s; pystray's window answers 0 for messages it does not know, which
vetoes the shutdown. The tray installs `window_messages()` on that window; a headless
agent gets a hidden window of its own (`watch_session`, windows_window.py). We answer
TRUE once the seat is released (within the budget, with a shutdown block reason shown
meanwhile), exit on `WM_ENDSESSION`, and heartbeat on `WM_POWERBROADCAST` resume.
Start at login is the user's own `HKCU\…\Run` value, or the machine's `HKLM\…\Run`
value that the MSI writes for every user (the administrator's: the user cannot remove
it). The administrator's settings live where Group Policy writes them,
`HKLM\SOFTWARE\Policies\Seatkeeper`, read by `read_policy()` for `seatkeeper.config`.
Each OS call is one small function below; `ctypes.windll` and `winreg` are imported
only inside them, so tests on Linux replace these functions.
"""

from __future__ import annotations

import importlib
import logging
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from seatkeeper.platform.base import Events, Platform

log = logging.getLogger("seatkeeper.platform")

WM_CLOSE = 0x0010
WM_QUERYENDSESSION = 0x0011
WM_ENDSESSION = 0x0016
WM_POWERBROADCAST = 0x0218
PBT_APMRESUMEAUTOMATIC = 0x0012
PBT_APMRESUMESUSPEND = 0x0007
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "Seatkeeper"
USER_RUN_LOCATION = rf"HKEY_CURRENT_USER\{RUN_KEY}\{RUN_VALUE}"
MACHINE_RUN_LOCATION = rf"HKEY_LOCAL_MACHINE\{RUN_KEY}\{RUN_VALUE}"
POLICY_KEY = r"SOFTWARE\Policies\Seatkeeper"
POLICY_LOCATION = rf"HKEY_LOCAL_MACHINE\{POLICY_KEY}"
BLOCK_REASON = "Giving the license seat back"

# -- the OS calls, one small function each -----------------------------------------------


def _block_reason_create(hwnd: int, reason: str) -> bool:
    import ctypes

    return bool(ctypes.windll.user32.ShutdownBlockReasonCreate(hwnd, reason))  # type: ignore[attr-defined]


def _block_reason_destroy(hwnd: int) -> bool:
    import ctypes

    return bool(ctypes.windll.user32.ShutdownBlockReasonDestroy(hwnd))  # type: ignore[attr-defined]


def _winreg() -> Any:
    """`winreg`, typed loosely: mypy checks this module on Linux, where it has no stubs."""
    return importlib.import_module("winreg")


def _run_key_get() -> str | None:
    winreg = _winreg()
    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            value, _kind = winreg.QueryValueEx(key, RUN_VALUE)
            return str(value)
    except FileNotFoundError:
        return None


def _machine_run_key_get() -> str | None:
    """The machine's Run value (every user's start at login), written by the MSI."""
    winreg = _winreg()
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, RUN_KEY, 0,
                            winreg.KEY_READ | winreg.KEY_WOW64_64KEY) as key:
            value, _kind = winreg.QueryValueEx(key, RUN_VALUE)
            return str(value)
    except FileNotFoundError:
        return None


def read_policy() -> dict[str, Any]:
    """Every value under the policy key, as winreg gives it (REG_SZ: str, REG_DWORD: int,
    REG_MULTI_SZ: list of str, …); empty when the key does not exist. OSError: unreadable."""
    winreg = _winreg()
    try:
        key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, POLICY_KEY, 0,
                             winreg.KEY_READ | winreg.KEY_WOW64_64KEY)
    except FileNotFoundError:
        return {}
    values: dict[str, Any] = {}
    with key:
        _subkeys, count, _modified = winreg.QueryInfoKey(key)
        for index in range(count):
            name, value, _kind = winreg.EnumValue(key, index)
            values[name] = value
    return values


def _run_key_set(command_line: str) -> None:
    winreg = _winreg()
    with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
        winreg.SetValueEx(key, RUN_VALUE, 0, winreg.REG_SZ, command_line)


def _run_key_delete() -> None:
    winreg = _winreg()
    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
            winreg.DeleteValue(key, RUN_VALUE)
    except FileNotFoundError:
        pass


# -- the window messages -----------------------------------------------------------------


class SessionMessages:
    """The hidden window's answers to the end of the session and to resume."""

    def __init__(self, events: Events, hwnd: Callable[[], int],
                 exit_now: Callable[[], None]) -> None:
        self.events = events
        self.hwnd = hwnd
        self.exit_now = exit_now
        self._released = threading.Event()

    def handlers(self) -> dict[int, Callable[[int, int], int]]:
        return {WM_QUERYENDSESSION: self.query_end_session, WM_ENDSESSION: self.end_session,
                WM_POWERBROADCAST: self.power_broadcast, WM_CLOSE: self.close}

    def close(self, _wparam: int, _lparam: int) -> int:
        """Asked to close (`taskkill` without /F, the MSI's uninstall): give the seat back as
        at the end of the session, keep the login, and exit."""
        log.info("WM_CLOSE: asked to close")
        try:
            if not self._released.is_set():
                self.events.shutting_down()
                self._released.set()
        except Exception:
            log.exception("WM_CLOSE: the release failed; exiting anyway")
        self.exit_now()
        return 0

    def query_end_session(self, _wparam: int, _lparam: int) -> int:
        """Release within the budget, then say yes (TRUE): we never veto a shutdown."""
        log.info("WM_QUERYENDSESSION: giving the seat back before the session ends")
        hwnd = self.hwnd()
        blocked = _block_reason_create(hwnd, BLOCK_REASON)
        try:
            if not self._released.is_set():
                self.events.shutting_down()
                self._released.set()
        except Exception:
            log.exception("WM_QUERYENDSESSION: the release failed; letting Windows go on")
        finally:
            if blocked:
                _block_reason_destroy(hwnd)
        return 1

    def end_session(self, wparam: int, _lparam: int) -> int:
        """The session ends (wparam TRUE): exit now; cancelled (FALSE): take a seat again."""
        if wparam:
            log.info("WM_ENDSESSION: the session ends")
            self.exit_now()
        elif self._released.is_set():
            self._released.clear()
            self.events.shutdown_cancelled()
        return 0

    def power_broadcast(self, wparam: int, _lparam: int) -> int:
        if wparam in (PBT_APMRESUMEAUTOMATIC, PBT_APMRESUMESUSPEND):
            self.events.resumed()
        return 1


class WindowsPlatform(Platform):
    """Window messages on the tray's hidden window; the per-user and machine Run keys."""

    name = "windows"

    def __init__(self) -> None:
        self.events: Events | None = None
        self._window: Any = None

    def start(self, events: Events) -> None:
        self.events = events

    def stop(self) -> None:
        if self._window is not None:
            self._window.stop()
            self._window = None

    def watch_session(self, exit_now: Callable[[], None]) -> None:
        """Headless: the same answers, on a hidden window of our own (windows_window)."""
        if self.events is None or self._window is not None:
            return
        from seatkeeper.platform.windows_window import MessageWindow

        window = MessageWindow({})
        window.handlers = SessionMessages(self.events, lambda: window.hwnd, exit_now).handlers()
        if window.start():
            self._window = window

    def window_messages(self, hwnd: Callable[[], int],
                        exit_now: Callable[[], None]) -> dict[int, Callable[[int, int], int]]:
        if self.events is None:
            return {}
        return SessionMessages(self.events, hwnd, exit_now).handlers()

    def autostart_location(self) -> str:
        return USER_RUN_LOCATION

    def autostart_managed(self) -> str | None:
        return MACHINE_RUN_LOCATION if _machine_run_key_get() is not None else None

    def autostart_enabled(self) -> bool:
        return _run_key_get() is not None

    def enable_autostart(self, command: list[str]) -> None:
        _run_key_set(subprocess.list2cmdline(command))

    def disable_autostart(self) -> None:
        _run_key_delete()
