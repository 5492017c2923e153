"""The desktop's own dialogs, which screen readers read, and opening a folder.

A GTK message dialog on Linux, MessageBoxW on Windows, an NSAlert on macOS; each OS
call is one small function, replaced in tests. Call them on the tray's UI thread (the
menu's callbacks run there): they are modal and return when the user answers.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from seatkeeper import __version__
from seatkeeper.i18n import _
from seatkeeper.tray.messages import Kind, Prompt

log = logging.getLogger("seatkeeper.tray")
WINDOW_TITLE = "Seatkeeper"


class Dialogs(Protocol):
    """Ask a question (True for OK) or tell something, in the desktop's own dialog."""

    def ask(self, prompt: Prompt) -> bool: ...

    def tell(self, prompt: Prompt) -> None: ...


# -- Linux: GTK 3 ---------------------------------------------------------------------


def gtk_message(prompt: Prompt, *, question: bool) -> bool:
    """A Gtk.MessageDialog: OK/Cancel for a question (Cancel is the default), else OK."""
    import gi

    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk

    types = {Kind.QUESTION: Gtk.MessageType.QUESTION, Kind.INFO: Gtk.MessageType.INFO,
             Kind.ERROR: Gtk.MessageType.ERROR}
    # Our own button words: GTK's follow the process locale, not the language setting.
    dialog = Gtk.MessageDialog(message_type=types[prompt.kind], text=prompt.title,
                               buttons=Gtk.ButtonsType.NONE)
    if question:
        dialog.add_button("_" + _("Cancel"), Gtk.ResponseType.CANCEL)
    dialog.add_button("_" + _("OK"), Gtk.ResponseType.OK)
    dialog.format_secondary_text(prompt.text)
    dialog.set_title(WINDOW_TITLE)
    dialog.get_accessible().set_name(prompt.title)  # else screen readers say "Question"
    dialog.set_keep_above(True)
    dialog.set_position(Gtk.WindowPosition.CENTER)
    dialog.set_default_response(Gtk.ResponseType.CANCEL if question else Gtk.ResponseType.OK)
    try:
        return bool(dialog.run() == Gtk.ResponseType.OK)
    finally:
        dialog.destroy()


class GtkDialogs:
    def ask(self, prompt: Prompt) -> bool:
        return gtk_message(prompt, question=True)

    def tell(self, prompt: Prompt) -> None:
        gtk_message(prompt, question=False)


# -- Windows: MessageBoxW ------------------------------------------------------------

MB_OK, MB_OKCANCEL = 0x0, 0x1
MB_ICONERROR, MB_ICONQUESTION, MB_ICONINFORMATION = 0x10, 0x20, 0x40
MB_DEFBUTTON2, MB_SETFOREGROUND, MB_TOPMOST = 0x100, 0x10000, 0x40000
IDOK = 1


def message_box(title: str, text: str, flags: int) -> int:
    """user32's MessageBoxW, owned by no window; returns the button's id."""
    import ctypes

    windll: Any = getattr(ctypes, "windll")  # noqa: B009 (absent off Windows, for mypy too)
    return int(windll.user32.MessageBoxW(None, text, title, flags))


MB_ICONS = {Kind.QUESTION: MB_ICONQUESTION, Kind.INFO: MB_ICONINFORMATION,
            Kind.ERROR: MB_ICONERROR}


class Win32Dialogs:
    """A message box titled with the program's name, the question first in its text (as
    Windows programs do, and as the GTK dialog shows it)."""

    def ask(self, prompt: Prompt) -> bool:
        flags = MB_OKCANCEL | MB_DEFBUTTON2 | MB_ICONS[prompt.kind]
        return message_box(WINDOW_TITLE, self.words(prompt),
                           flags | MB_SETFOREGROUND | MB_TOPMOST) == IDOK

    def tell(self, prompt: Prompt) -> None:
        message_box(WINDOW_TITLE, self.words(prompt),
                    MB_OK | MB_ICONS[prompt.kind] | MB_SETFOREGROUND | MB_TOPMOST)

    @staticmethod
    def words(prompt: Prompt) -> str:
        return f"{prompt.title}\n\n{prompt.text}"


# -- macOS: NSAlert ------------------------------------------------------------------

NS_ALERT_FIRST_BUTTON = 1000
NS_ALERT_STYLES = {Kind.QUESTION: 0, Kind.INFO: 1, Kind.ERROR: 2}  # warning, info, critical


def ns_alert(title: str, text: str, buttons: tuple[str, ...], style: int) -> int:
    """An application-modal NSAlert, brought to the front; returns the button's index."""
    import AppKit

    alert = AppKit.NSAlert.alloc().init()
    alert.setMessageText_(title)
    alert.setInformativeText_(text)
    alert.setAlertStyle_(style)
    for button in buttons:
        alert.addButtonWithTitle_(button)
    AppKit.NSApplication.sharedApplication().activateIgnoringOtherApps_(True)
    return int(alert.runModal()) - NS_ALERT_FIRST_BUTTON


class DarwinDialogs:
    def ask(self, prompt: Prompt) -> bool:
        return ns_alert(prompt.title, prompt.text, (_("OK"), _("Cancel")),
                        NS_ALERT_STYLES[prompt.kind]) == 0

    def tell(self, prompt: Prompt) -> None:
        ns_alert(prompt.title, prompt.text, (_("OK"),), NS_ALERT_STYLES[prompt.kind])


def for_backend(backend: str) -> Dialogs:
    """The dialogs that go with a pystray backend."""
    if backend == "win32":
        return Win32Dialogs()
    if backend == "darwin":
        return DarwinDialogs()
    return GtkDialogs()


def versions(backend: str) -> dict[str, str]:
    """What About Seatkeeper tells: the versions in use, the tray's backend and toolkit."""
    found = {"Seatkeeper": __version__, "Python": platform.python_version()}
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        found["pystray"] = importlib.metadata.version("pystray")
    found[_("Tray backend")] = backend
    if backend in ("gtk", "appindicator"):
        from gi.repository import Gtk

        found["GTK"] = ".".join(str(part) for part in (
            Gtk.get_major_version(), Gtk.get_minor_version(), Gtk.get_micro_version()))
    return found


# -- opening the log folder ----------------------------------------------------------


def launch(command: list[str]) -> None:
    """Start a desktop helper and let it go (its window outlives nothing of ours)."""
    subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)


def start_file(path: Path) -> None:
    """Windows' ShellExecute "open" on a path."""
    getattr(os, "startfile")(str(path))  # noqa: B009 (Windows only)


def open_folder(path: Path, platform: str = sys.platform) -> None:
    """Show the folder in the desktop's file manager (made first if it does not exist)."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        if platform == "win32":
            start_file(path)
        elif platform == "darwin":
            launch(["open", str(path)])
        else:
            launch(["xdg-open", str(path)])
    except OSError as exc:
        log.warning("cannot open %s: %s", path, exc)
        raise
