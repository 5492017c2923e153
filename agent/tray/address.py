"""The dialog that asks for the license server's address: the desktop's own, with a text field.

GTK on Linux (a Gtk.Dialog, which screen readers read through AT-SPI), a Win32 dialog
on Windows (`win32_address.py`), an NSAlert with a text field on macOS. Each runs on
the tray's UI thread and returns once the address was accepted (or None: cancelled).
Connect runs `check(text)` on a worker thread, so the dialog stays responsive while the
server is asked; its verdict comes back to the UI thread, where `keep(address)` saves
it. Either one's problem is shown in the dialog, which stays open for a correction.
`stopped()` turning true (the agent is told to stop) closes it as Cancel would.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from seatkeeper.i18n import _
from seatkeeper.tray.dialogs import WINDOW_TITLE
from seatkeeper.tray.messages import AddressPrompt

log = logging.getLogger("seatkeeper.tray")


@dataclass(frozen=True)
class Verdict:
    """What the check said of a typed address: the address to keep, or why not."""

    address: str | None = None
    problem: str | None = None


Check = Callable[[str], Verdict]  # on a worker thread: may ask the server
Keep = Callable[[str], str | None]  # on the UI thread: saves; returns a problem, or None
Stopped = Callable[[], bool]
STOP_POLL_S = 0.25


class AddressDialog(Protocol):
    def ask(self, prompt: AddressPrompt, check: Check, keep: Keep,
            stopped: Stopped = lambda: False) -> str | None: ...


def checked(check: Check, typed: str) -> Verdict:
    """`check`, never raising: a failure of the check itself is a problem to show."""
    try:
        return check(typed)
    except Exception as exc:
        log.exception("the address check failed")
        return Verdict(problem=_("The address could not be checked: {problem}").format(
            problem=exc))


# -- Linux: GTK 3 ---------------------------------------------------------------------


class GtkAddressDialog:
    """A Gtk.Dialog: the question, a labelled entry, a line for problems, Cancel and Connect."""

    def ask(self, prompt: AddressPrompt, check: Check, keep: Keep,
            stopped: Stopped = lambda: False) -> str | None:
        import gi

        gi.require_version("Gtk", "3.0")
        from gi.repository import GLib, Gtk

        dialog = Gtk.Dialog(title=WINDOW_TITLE)
        dialog.get_accessible().set_name(prompt.title)
        dialog.set_keep_above(True)
        dialog.set_position(Gtk.WindowPosition.CENTER)
        dialog.set_resizable(False)
        dialog.add_button(prompt.cancel, Gtk.ResponseType.CANCEL)
        connect = dialog.add_button(prompt.confirm, Gtk.ResponseType.OK)
        connect.get_style_context().add_class("suggested-action")
        dialog.set_default_response(Gtk.ResponseType.OK)

        heading = Gtk.Label(xalign=0)
        heading.set_markup(f"<b>{GLib.markup_escape_text(prompt.title)}</b>")
        text = Gtk.Label(label=prompt.text, xalign=0, wrap=True, max_width_chars=56)
        label = Gtk.Label.new_with_mnemonic("_" + prompt.label)
        label.set_xalign(0)
        entry = Gtk.Entry(text=prompt.initial, activates_default=True, width_chars=44)
        entry.set_placeholder_text(prompt.placeholder)
        label.set_mnemonic_widget(entry)
        entry.get_accessible().set_name(prompt.label)  # what screen readers call the field
        problem = Gtk.Label(xalign=0, wrap=True, max_width_chars=56, selectable=False)
        problem.set_no_show_all(True)
        area = dialog.get_content_area()
        area.set_spacing(8)
        area.set_border_width(12)
        for widget in (heading, text, label, entry, problem):
            area.pack_start(widget, False, False, 0)

        loop = GLib.MainLoop()
        result: dict[str, Any] = {"address": None, "busy": False, "open": True}

        def say(words: str) -> None:
            problem.set_text(words)
            problem.show()

        def busy(yes: bool) -> None:
            result["busy"] = yes
            connect.set_sensitive(not yes)
            entry.set_editable(not yes)

        def done(verdict: Verdict) -> bool:
            if not result["open"]:
                return False  # cancelled while the server was asked: nothing is kept
            found = verdict.problem
            if found is None and verdict.address is not None:
                found = keep(verdict.address)
            busy(False)
            if found is None:
                result["address"] = verdict.address
                loop.quit()
                return False
            say(found)
            # Screen readers read the field again, with the problem as its description.
            entry.get_accessible().set_description(found)
            entry.grab_focus()
            return False

        def responded(_dialog: Any, response: int) -> None:
            if response != Gtk.ResponseType.OK:
                loop.quit()
                return
            if result["busy"]:
                return
            typed = entry.get_text()
            busy(True)
            say(prompt.checking)
            threading.Thread(target=lambda: GLib.idle_add(done, checked(check, typed)),
                             name="tray-check-server", daemon=True).start()

        def watch() -> bool:
            if stopped():
                loop.quit()
            return result["open"]

        def edited(_entry: Any) -> None:
            if not result["busy"]:  # a correction under way: the old problem goes
                problem.hide()

        entry.connect("changed", edited)
        dialog.connect("response", responded)
        GLib.timeout_add(int(STOP_POLL_S * 1000), watch)
        dialog.show_all()
        entry.grab_focus()
        try:
            loop.run()
        finally:
            result["open"] = False
            dialog.destroy()
        address: str | None = result["address"]
        return address


# -- macOS: NSAlert with a text field (never run: see docs/platform.md) ------------------

NS_ALERT_FIRST_BUTTON = 1000
FIELD_SIZE = (320.0, 24.0)


class DarwinAddressDialog:
    """An NSAlert whose accessory view is the text field; a problem is shown in its text
    and the alert is shown again. The check runs while the alert is closed (macOS has no
    modal loop of ours to keep turning)."""

    def ask(self, prompt: AddressPrompt, check: Check, keep: Keep,
            stopped: Stopped = lambda: False) -> str | None:
        import AppKit

        field = AppKit.NSTextField.alloc().initWithFrame_(((0.0, 0.0), FIELD_SIZE))
        field.setStringValue_(prompt.initial)
        field.setPlaceholderString_(prompt.placeholder)
        field.setAccessibilityLabel_(prompt.label)
        found: str | None = None
        while True:
            alert = AppKit.NSAlert.alloc().init()
            alert.setMessageText_(prompt.title)
            alert.setInformativeText_(prompt.text if found is None
                                      else f"{found}\n\n{prompt.text}")
            alert.setAlertStyle_(2 if found else 1)  # critical after a problem, else info
            alert.addButtonWithTitle_(prompt.confirm)
            alert.addButtonWithTitle_(prompt.cancel)
            alert.setAccessoryView_(field)
            alert.window().setInitialFirstResponder_(field)
            AppKit.NSApplication.sharedApplication().activateIgnoringOtherApps_(True)
            if int(alert.runModal()) != NS_ALERT_FIRST_BUTTON:
                return None
            verdict = checked(check, str(field.stringValue()))
            found = verdict.problem
            if found is None and verdict.address is not None:
                found = keep(verdict.address)
            if found is None:
                return verdict.address


def for_backend(backend: str) -> AddressDialog:
    """The address dialog that goes with a pystray backend."""
    if backend == "win32":
        from seatkeeper.tray.win32_address import Win32AddressDialog

        return Win32AddressDialog()
    if backend == "darwin":
        return DarwinAddressDialog()
    return GtkAddressDialog()
