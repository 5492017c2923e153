"""The clipboard: GTK's on Linux, Win32's on Windows, NSPasteboard on macOS (untested).

Each is one small function, called on the tray's UI thread. On X11 the text is served
by the agent's own process while it runs (the clipboard owner); `store()` hands it to
a clipboard manager, where one runs, so it outlives the agent too.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("seatkeeper.tray")

# Another program may hold the Windows clipboard open for a moment.
OPEN_ATTEMPTS, OPEN_PAUSE_S = 10, 0.05


def gtk_copy(text: str) -> None:
    import gi

    gi.require_version("Gtk", "3.0")
    gi.require_version("Gdk", "3.0")
    from gi.repository import Gdk, Gtk

    clipboard = Gtk.Clipboard.get(Gdk.SELECTION_CLIPBOARD)
    clipboard.set_text(text, -1)
    clipboard.store()


def win32_copy(text: str) -> None:
    import pywintypes
    import win32clipboard

    for attempt in range(OPEN_ATTEMPTS):
        try:
            win32clipboard.OpenClipboard(None)
            break
        except pywintypes.error:
            if attempt == OPEN_ATTEMPTS - 1:
                raise
            time.sleep(OPEN_PAUSE_S)
    try:
        win32clipboard.EmptyClipboard()
        win32clipboard.SetClipboardText(text, win32clipboard.CF_UNICODETEXT)
    finally:
        win32clipboard.CloseClipboard()


def darwin_copy(text: str) -> None:
    import AppKit

    board = AppKit.NSPasteboard.generalPasteboard()
    board.clearContents()
    board.setString_forType_(text, AppKit.NSPasteboardTypeString)


def copy(text: str, backend: str) -> bool:
    """Put `text` on the clipboard; False (and a log line) when the desktop refused."""
    copier = {"win32": win32_copy, "darwin": darwin_copy}.get(backend, gtk_copy)
    try:
        copier(text)
    except Exception as exc:  # pywin32, PyObjC and GLib each raise their own kinds
        log.warning("could not put the text on the clipboard: %s", exc)
        return False
    log.info("copied to the clipboard")
    return True
