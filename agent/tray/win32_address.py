"""The license server's address on Windows: a real Win32 dialog, built from a template in memory.

`template()` lays the dialog out as a resource compiler would (DLGTEMPLATE and its
DLGITEMTEMPLATEs, in dialog units, "MS Shell Dlg" 8 pt), and `DialogBoxIndirectParamW`
runs it modally: the question, a "Server address:" label before an edit field (so
screen readers name the field by it), a line for problems, Connect (the default) and
Cancel. Connect makes the field read-only and runs the check on a worker thread, which
posts its verdict back to the dialog (WM_APP + 1); a problem is shown, with a beep, and
the field is selected again for a correction. user32 is loaded as a library of our own,
so the argument types set here never touch pystray's.
"""

from __future__ import annotations

import ctypes
import logging
import struct
import threading
from ctypes import wintypes
from dataclasses import dataclass
from typing import Any

from seatkeeper.tray.address import STOP_POLL_S, Check, Keep, Stopped, Verdict, checked
from seatkeeper.tray.dialogs import WINDOW_TITLE
from seatkeeper.tray.messages import AddressPrompt

log = logging.getLogger("seatkeeper.tray")

WS_POPUP, WS_CHILD, WS_VISIBLE = 0x80000000, 0x40000000, 0x10000000
WS_CAPTION, WS_SYSMENU, WS_BORDER, WS_TABSTOP = 0x00C00000, 0x00080000, 0x00800000, 0x00010000
DS_SETFONT, DS_MODALFRAME, DS_SETFOREGROUND, DS_CENTER = 0x40, 0x80, 0x200, 0x800
WS_EX_TOPMOST = 0x8
ES_AUTOHSCROLL, SS_NOPREFIX, BS_DEFPUSHBUTTON = 0x80, 0x80, 0x1
BUTTON, EDIT, STATIC = 0x0080, 0x0081, 0x0082  # the predefined window classes' atoms
WM_INITDIALOG, WM_COMMAND, WM_APP = 0x0110, 0x0111, 0x8000
WM_CHECKED = WM_APP + 1
EM_SETSEL, EM_SETREADONLY = 0x00B1, 0x00CF
EN_CHANGE = 0x0300
IDOK, IDCANCEL = 1, 2
MB_ICONERROR = 0x10
HEADING, TEXT, LABEL, FIELD, PROBLEM = 100, 101, 102, 103, 104
FONT = (8, "MS Shell Dlg")
WIDTH, MARGIN = 270, 8


@dataclass(frozen=True)
class Control:
    """One control of a dialog template: its class atom, text, id, place and style."""

    cls: int
    text: str
    id: int
    box: tuple[int, int, int, int]  # x, y, width, height in dialog units
    style: int = 0


def _text(value: str) -> bytes:
    return value.encode("utf-16-le") + b"\0\0"


def template(title: str, size: tuple[int, int], controls: list[Control]) -> bytes:
    """A DLGTEMPLATE with its controls, as DialogBoxIndirectParamW reads it."""
    style = (WS_POPUP | WS_CAPTION | WS_SYSMENU | DS_MODALFRAME | DS_SETFONT
             | DS_SETFOREGROUND | DS_CENTER)
    data = struct.pack("<IIH4h", style, WS_EX_TOPMOST, len(controls), 0, 0, *size)
    data += b"\0\0" + b"\0\0" + _text(title)  # no menu, the default dialog class
    data += struct.pack("<H", FONT[0]) + _text(FONT[1])
    for control in controls:
        data += b"\0" * (-len(data) % 4)  # each item starts on a DWORD boundary
        data += struct.pack("<II4hH", WS_CHILD | WS_VISIBLE | control.style, 0,
                            *control.box, control.id)
        data += struct.pack("<HH", 0xFFFF, control.cls) + _text(control.text)
        data += struct.pack("<H", 0)  # no creation data
    return data


def layout(prompt: AddressPrompt) -> tuple[tuple[int, int], list[Control]]:
    """The dialog's size and controls for `prompt`, top to bottom."""
    inner = WIDTH - 2 * MARGIN
    lines = max(2, -(-len(prompt.text) // 62))  # about 62 characters a line at this width
    y = 7
    controls = [Control(STATIC, prompt.title, HEADING, (MARGIN, y, inner, 10), SS_NOPREFIX)]
    y += 14
    controls.append(Control(STATIC, prompt.text, TEXT, (MARGIN, y, inner, 9 * lines),
                            SS_NOPREFIX))
    y += 9 * lines + 6
    controls.append(Control(STATIC, "&" + prompt.label, LABEL, (MARGIN, y, inner, 9)))
    y += 11
    controls.append(Control(EDIT, "", FIELD, (MARGIN, y, inner, 13),
                            WS_BORDER | WS_TABSTOP | ES_AUTOHSCROLL))
    y += 17
    controls.append(Control(STATIC, "", PROBLEM, (MARGIN, y, inner, 27), SS_NOPREFIX))
    y += 31
    controls += [
        Control(BUTTON, prompt.confirm, IDOK, (WIDTH - MARGIN - 104, y, 50, 14),
                BS_DEFPUSHBUTTON | WS_TABSTOP),
        Control(BUTTON, prompt.cancel, IDCANCEL, (WIDTH - MARGIN - 50, y, 50, 14), WS_TABSTOP),
    ]
    return (WIDTH, y + 14 + 7), controls


def _library(name: str) -> Any:
    """A DLL loaded as a library object of our own (absent off Windows, for mypy too)."""
    return getattr(ctypes, "WinDLL")(name, use_last_error=True)  # noqa: B009


def _user32() -> Any:
    """user32, with the argument types this module uses."""
    user32 = _library("user32")
    user32.DialogBoxIndirectParamW.argtypes = (wintypes.HINSTANCE, ctypes.c_void_p,
                                               wintypes.HWND, DLGPROC, wintypes.LPARAM)
    user32.DialogBoxIndirectParamW.restype = ctypes.c_ssize_t
    user32.SendDlgItemMessageW.argtypes = (wintypes.HWND, ctypes.c_int, wintypes.UINT,
                                           wintypes.WPARAM, wintypes.LPARAM)
    user32.SendDlgItemMessageW.restype = wintypes.LPARAM
    user32.PostMessageW.argtypes = (wintypes.HWND, wintypes.UINT, wintypes.WPARAM,
                                    wintypes.LPARAM)
    user32.GetDlgItem.argtypes = (wintypes.HWND, ctypes.c_int)
    user32.GetDlgItem.restype = wintypes.HWND
    user32.EndDialog.argtypes = (wintypes.HWND, ctypes.c_ssize_t)
    user32.SetDlgItemTextW.argtypes = (wintypes.HWND, ctypes.c_int, wintypes.LPCWSTR)
    user32.GetDlgItemTextW.argtypes = (wintypes.HWND, ctypes.c_int, wintypes.LPWSTR,
                                       ctypes.c_int)
    user32.EnableWindow.argtypes = (wintypes.HWND, wintypes.BOOL)
    user32.SetFocus.argtypes = (wintypes.HWND,)
    user32.SetForegroundWindow.argtypes = (wintypes.HWND,)
    return user32


DLGPROC = getattr(ctypes, "WINFUNCTYPE", ctypes.CFUNCTYPE)(
    ctypes.c_ssize_t, wintypes.HWND, wintypes.UINT, wintypes.WPARAM, wintypes.LPARAM)


class Win32AddressDialog:
    def ask(self, prompt: AddressPrompt, check: Check, keep: Keep,
            stopped: Stopped = lambda: False) -> str | None:
        user32 = _user32()
        size, controls = layout(prompt)
        state: dict[str, Any] = {"busy": False, "verdict": None, "address": None}
        closed = threading.Event()

        def show_problem(hwnd: int, words: str) -> None:
            user32.SetDlgItemTextW(hwnd, PROBLEM, words)
            user32.MessageBeep(MB_ICONERROR)
            field = user32.GetDlgItem(hwnd, FIELD)
            user32.SetFocus(field)
            user32.SendDlgItemMessageW(hwnd, FIELD, EM_SETSEL, 0, -1)

        def set_busy(hwnd: int, yes: bool) -> None:
            state["busy"] = yes
            user32.SendDlgItemMessageW(hwnd, FIELD, EM_SETREADONLY, int(yes), 0)
            user32.EnableWindow(user32.GetDlgItem(hwnd, IDOK), not yes)

        def start_check(hwnd: int) -> None:
            buffer = ctypes.create_unicode_buffer(2048)
            user32.GetDlgItemTextW(hwnd, FIELD, buffer, len(buffer))
            typed = buffer.value
            set_busy(hwnd, True)
            user32.SetDlgItemTextW(hwnd, PROBLEM, prompt.checking)

            def work() -> None:
                state["verdict"] = checked(check, typed)
                user32.PostMessageW(hwnd, WM_CHECKED, 0, 0)

            threading.Thread(target=work, name="tray-check-server", daemon=True).start()

        def finish(hwnd: int) -> None:
            verdict: Verdict = state["verdict"]
            found = verdict.problem
            if found is None and verdict.address is not None:
                found = keep(verdict.address)
            set_busy(hwnd, False)
            if found is None:
                state["address"] = verdict.address
                user32.EndDialog(hwnd, IDOK)
            else:
                show_problem(hwnd, found)

        def watch(hwnd: int) -> None:
            """Cancel the dialog once the agent is told to stop (until it closes)."""
            while not closed.wait(STOP_POLL_S):
                if stopped():
                    user32.PostMessageW(hwnd, WM_COMMAND, IDCANCEL, 0)
                    return

        def proc(hwnd: int, msg: int, wparam: int, _lparam: int) -> int:
            try:
                if msg == WM_INITDIALOG:
                    threading.Thread(target=watch, args=(hwnd,), name="tray-dialog-stop",
                                     daemon=True).start()
                    user32.SetDlgItemTextW(hwnd, FIELD, prompt.initial)
                    user32.SetFocus(user32.GetDlgItem(hwnd, FIELD))
                    user32.SendDlgItemMessageW(hwnd, FIELD, EM_SETSEL, 0, -1)
                    user32.SetForegroundWindow(hwnd)
                    return 0  # the focus is set: Windows must not move it
                if msg == WM_COMMAND and wparam & 0xFFFF == IDOK:
                    if not state["busy"]:
                        start_check(hwnd)
                    return 1
                if msg == WM_COMMAND and wparam == (EN_CHANGE << 16 | FIELD):
                    if not state["busy"]:  # a correction under way: the old problem goes
                        user32.SetDlgItemTextW(hwnd, PROBLEM, "")
                    return 1
                if msg == WM_COMMAND and wparam & 0xFFFF == IDCANCEL:
                    user32.EndDialog(hwnd, IDCANCEL)  # a check under way is forgotten
                    return 1
                if msg == WM_CHECKED:
                    finish(hwnd)
                    return 1
            except Exception:
                log.exception("the address dialog failed at message %#x", msg)
            return 0

        callback = DLGPROC(proc)  # kept alive while the dialog runs
        data = ctypes.create_string_buffer(template(WINDOW_TITLE, size, controls))
        kernel32 = _library("kernel32")
        kernel32.GetModuleHandleW.argtypes = (wintypes.LPCWSTR,)
        kernel32.GetModuleHandleW.restype = wintypes.HMODULE
        try:
            answer = user32.DialogBoxIndirectParamW(kernel32.GetModuleHandleW(None), data,
                                                    None, callback, 0)
        finally:
            closed.set()  # the watcher ends
        if answer == -1:
            log.error("the address dialog could not be shown (error %d)",
                      getattr(ctypes, "get_last_error")())  # noqa: B009
            return None
        address: str | None = state["address"] if answer == IDOK else None
        return address
