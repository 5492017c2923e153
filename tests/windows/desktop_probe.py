"""The Windows side of the lane's desktop tests: what a person sees on the Wine desktop.

Runs under the Windows CPython (never on Linux) and answers JSON lines on stdin:

    {"op": "windows"}                       every top-level window, with its children
    {"op": "post", "hwnd": H, "msg": M, "wparam": W, "lparam": L}   PostMessageW
    {"op": "send", "hwnd": H, "msg": M, "wparam": W, "lparam": L}   SendMessageTimeoutW:
                                            the window's answer (null if it gave none in 10 s)
    {"op": "clipboard"}                     the clipboard's text, as a paste would insert it
    {"op": "quit"}

It creates no window of its own, so `wineboot --end-session` neither asks nor ends it.
"""

from __future__ import annotations

import ctypes
import json
import sys
from ctypes import wintypes
from typing import Any

user32: Any = getattr(ctypes, "WinDLL")("user32")  # noqa: B009 (Windows only, for mypy too)
kernel32: Any = getattr(ctypes, "WinDLL")("kernel32")  # noqa: B009
user32.GetClipboardData.restype = ctypes.c_void_p
kernel32.GlobalLock.argtypes = (ctypes.c_void_p,)
kernel32.GlobalLock.restype = ctypes.c_void_p
kernel32.GlobalUnlock.argtypes = (ctypes.c_void_p,)
CF_UNICODETEXT = 13
SMTO_NORMAL = 0x0
SEND_TIMEOUT_MS = 10_000
ENUM_PROC = getattr(ctypes, "WINFUNCTYPE")(wintypes.BOOL, wintypes.HWND,  # noqa: B009
                                           wintypes.LPARAM)


def _text(hwnd: int, call: Any) -> str:
    buffer = ctypes.create_unicode_buffer(512)
    call(hwnd, buffer, 512)
    return buffer.value


def describe(hwnd: int) -> dict[str, Any]:
    """A window as a person (and a screen reader) knows it: class, title, place, owner."""
    rect = wintypes.RECT()
    user32.GetWindowRect(hwnd, ctypes.byref(rect))
    pid = wintypes.DWORD()
    user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
    return {"hwnd": hwnd, "class": _text(hwnd, user32.GetClassNameW),
            "title": _text(hwnd, user32.GetWindowTextW),
            "rect": [rect.left, rect.top, rect.right, rect.bottom], "pid": pid.value,
            "visible": bool(user32.IsWindowVisible(hwnd))}


def _collector(found: list[int]) -> Any:
    def collect(hwnd: int, _lparam: int) -> bool:
        found.append(hwnd)
        return True
    return ENUM_PROC(collect)


def children(hwnd: int) -> list[dict[str, Any]]:
    found: list[int] = []
    user32.EnumChildWindows(hwnd, _collector(found), 0)
    return [describe(child) for child in found]


def windows() -> list[dict[str, Any]]:
    found: list[int] = []
    user32.EnumWindows(_collector(found), 0)
    return [{**describe(hwnd), "children": children(hwnd)} for hwnd in found]


def clipboard() -> str | None:
    """The clipboard's Unicode text (None: no text there), read as a program pasting it."""
    if not user32.OpenClipboard(None):
        raise OSError("the clipboard is held open by another program")
    try:
        handle = user32.GetClipboardData(CF_UNICODETEXT)
        if not handle:
            return None
        pointer = kernel32.GlobalLock(handle)
        try:
            return ctypes.wstring_at(pointer)
        finally:
            kernel32.GlobalUnlock(handle)
    finally:
        user32.CloseClipboard()


def answer(request: dict[str, Any]) -> Any:
    op = request["op"]
    if op == "windows":
        return windows()
    if op == "post":
        return bool(user32.PostMessageW(request["hwnd"], request["msg"],
                                        request.get("wparam", 0), request.get("lparam", 0)))
    if op == "send":
        result = ctypes.c_size_t()
        answered = user32.SendMessageTimeoutW(
            wintypes.HWND(request["hwnd"]), request["msg"], wintypes.WPARAM(request["wparam"]),
            wintypes.LPARAM(request.get("lparam", 0)), SMTO_NORMAL, SEND_TIMEOUT_MS,
            ctypes.byref(result))
        return result.value if answered else None
    if op == "clipboard":
        return clipboard()
    raise ValueError(f"unknown op {op!r}")


def main() -> None:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "quit":
            return
        try:
            reply = {"result": answer(request)}
        except Exception as exc:  # the test reads the error, not a dead pipe
            reply = {"error": repr(exc)}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
