"""Windows without the tray: a hidden top-level window of the agent's own for session messages.

Windows tells of the end of the session (`WM_QUERYENDSESSION`, `WM_ENDSESSION`) and of
resume (`WM_POWERBROADCAST`) only to top-level windows, and a console program that
loads user32 no longer gets `CTRL_SHUTDOWN_EVENT`. The tray answers on pystray's hidden
window; a headless agent (`run --headless`, or no tray to be had) makes this one, on a
thread of its own with its own message loop. It is top-level, never shown, and not a
message-only window, which broadcasts do not reach. pywin32 is imported inside the
functions, so this module imports anywhere.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

log = logging.getLogger("seatkeeper.platform")

CLASS_NAME = "SeatkeeperSessionWindow"
WINDOW_TITLE = "Seatkeeper"
START_TIMEOUT_S = 5.0

Handler = Callable[[int, int], int]


class MessageWindow:
    """A hidden window that answers `handlers` (by message) on its own thread."""

    def __init__(self, handlers: Mapping[int, Handler]) -> None:
        self.handlers = dict(handlers)
        self.hwnd = 0
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> bool:
        """Make the window and run its loop; False (logged) when Windows refuses."""
        self._thread = threading.Thread(target=self._run, name="windows-session",
                                        daemon=True)
        self._thread.start()
        self._ready.wait(START_TIMEOUT_S)
        if not self.hwnd:
            log.warning("no window for the end of the session: %s; the seat is not given "
                        "back at shutdown (the server's lease expiry frees it)",
                        self._error or "it was not made in time")
            return False
        log.info("listening for the end of the session and resume (hidden window)")
        return True

    def _run(self) -> None:
        try:
            import win32api
            import win32con
            import win32gui

            wndproc = {message: self._wrap(handler)
                       for message, handler in self.handlers.items()}
            wndproc[win32con.WM_DESTROY] = lambda *_: win32gui.PostQuitMessage(0) or 0
            wc = win32gui.WNDCLASS()
            wc.hInstance = win32api.GetModuleHandle(None)
            wc.lpszClassName = CLASS_NAME
            wc.lpfnWndProc = wndproc  # pywin32: other messages go to DefWindowProc
            atom = win32gui.RegisterClass(wc)
            self.hwnd = win32gui.CreateWindowEx(0, atom, WINDOW_TITLE, win32con.WS_POPUP,
                                                0, 0, 0, 0, 0, 0, wc.hInstance, None)
        except Exception as exc:  # pywin32 missing, or Windows said no
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        win32gui.PumpMessages()
        win32gui.UnregisterClass(atom, wc.hInstance)

    @staticmethod
    def _wrap(handler: Handler) -> Callable[[int, int, int, int], int]:
        def answer(_hwnd: int, _message: int, wparam: int, lparam: int) -> int:
            try:
                return handler(wparam, lparam)
            except Exception:
                log.exception("a window message handler failed")
                return 1
        return answer

    def stop(self) -> None:
        """Close the window and end its loop."""
        if not self.hwnd:
            return
        import win32con
        import win32gui

        try:
            win32gui.PostMessage(self.hwnd, win32con.WM_CLOSE, 0, 0)
        except Exception as exc:  # the window is gone already
            log.debug("closing the session window: %s", exc)
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.hwnd = 0
