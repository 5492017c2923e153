"""Choosing the tray backend per desktop, and each platform's dialogs through its one OS call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from seatkeeper.tray import dialogs
from seatkeeper.tray.backend import Probes, choose
from seatkeeper.tray.messages import Kind, Prompt

QUESTION = Prompt(title="Log out of Seatkeeper?", text="Your seat will be freed.",
                  kind=Kind.QUESTION)
INFO = Prompt(title="About Seatkeeper", text="Seatkeeper 0.1.0")


def probes(*, gtk: bool = True, xembed: bool | None = False, sni: bool = False) -> Probes:
    return Probes(has_gtk=lambda: gtk, xembed_tray=lambda display: xembed,
                  status_notifier_watcher=lambda: sni)


def pick(env: dict[str, str], platform: str = "linux", **kw: Any) -> tuple[str | None, str]:
    found = choose(env, platform, probes=probes(**kw), wait_s=0, sleep=lambda s: None)
    return found.backend, found.reason


def test_windows_and_macos_have_their_own_backend() -> None:
    """win32 on Windows, darwin on macOS, whatever the environment says."""
    assert pick({}, "win32")[0] == "win32"
    assert pick({}, "darwin")[0] == "darwin"


def test_no_display_is_headless_and_says_so() -> None:
    """Without DISPLAY or WAYLAND_DISPLAY there is no tray, and the reason names them."""
    backend, reason = pick({})
    assert backend is None and "DISPLAY" in reason


def test_gtk_is_preferred_when_an_xembed_tray_is_present() -> None:
    """An XEmbed tray on the X display means GTK, even when AppIndicator is also there."""
    assert pick({"DISPLAY": ":1"}, xembed=True, sni=True)[0] == "gtk"
    assert pick({"DISPLAY": ":1"}, xembed=False, sni=True)[0] == "appindicator"
    assert pick({"WAYLAND_DISPLAY": "wayland-0"}, sni=True)[0] == "appindicator"


def test_no_tray_host_is_headless() -> None:
    """A display with no tray host of either kind runs headless, naming both."""
    backend, reason = pick({"DISPLAY": ":1"})
    assert backend is None and "XEmbed" in reason and "StatusNotifier" in reason
    backend, reason = pick({"DISPLAY": ":1"}, xembed=None)
    assert backend is None and "cannot connect to the X display :1" in reason


def test_without_pygobject_it_says_what_to_install() -> None:
    backend, reason = pick({"DISPLAY": ":1"}, gtk=False, xembed=True)
    assert backend is None and "seatkeeper[gtk]" in reason


def test_pystray_backend_insists_on_one_host() -> None:
    """PYSTRAY_BACKEND=gtk ignores an AppIndicator host; an unusable name is refused."""
    assert pick({"DISPLAY": ":1", "PYSTRAY_BACKEND": "gtk"}, sni=True)[0] is None
    assert pick({"DISPLAY": ":1", "PYSTRAY_BACKEND": "appindicator"}, xembed=True,
                sni=True)[0] == "appindicator"
    backend, reason = pick({"DISPLAY": ":1", "PYSTRAY_BACKEND": "xorg"}, xembed=True)
    assert backend is None and "xorg" in reason


def test_a_panel_starting_late_is_waited_for() -> None:
    """At login the tray may appear a moment after the agent: it is polled until the wait ends."""
    answers = iter([False, False, True])
    clock = iter(range(100))
    found = choose({"DISPLAY": ":1"}, "linux",
                   probes=Probes(has_gtk=lambda: True, xembed_tray=lambda d: next(answers),
                                 status_notifier_watcher=lambda: False),
                   wait_s=10, sleep=lambda s: None, clock=lambda: float(next(clock)))
    assert found.backend == "gtk"


def test_windows_dialogs_call_message_box(monkeypatch: pytest.MonkeyPatch) -> None:
    """A question is OK/Cancel with Cancel as default, titled Seatkeeper; OK answers True."""
    calls: list[tuple[str, str, int]] = []

    def box(title: str, text: str, flags: int) -> int:
        calls.append((title, text, flags))
        return dialogs.IDOK

    monkeypatch.setattr(dialogs, "message_box", box)
    win = dialogs.for_backend("win32")
    assert win.ask(QUESTION) is True
    win.tell(INFO)
    (title, text, flags), (_, _, info_flags) = calls
    assert (title, text) == ("Seatkeeper", "Log out of Seatkeeper?\n\nYour seat will be freed.")
    assert flags & dialogs.MB_OKCANCEL and flags & dialogs.MB_DEFBUTTON2
    assert flags & dialogs.MB_ICONQUESTION and not info_flags & dialogs.MB_OKCANCEL


def test_macos_dialogs_call_ns_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first button is OK; Cancel (the second) answers False."""
    calls: list[tuple[str, tuple[str, ...]]] = []
    answers = iter([1, 0])

    def alert(title: str, text: str, buttons: tuple[str, ...], style: int) -> int:
        calls.append((title, buttons))
        return next(answers)

    monkeypatch.setattr(dialogs, "ns_alert", alert)
    mac = dialogs.for_backend("darwin")
    assert mac.ask(QUESTION) is False
    mac.tell(INFO)
    assert calls == [("Log out of Seatkeeper?", ("OK", "Cancel")), ("About Seatkeeper", ("OK",))]


def test_linux_dialogs_call_gtk(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, bool]] = []

    def message(prompt: Prompt, *, question: bool) -> bool:
        calls.append((prompt.title, question))
        return True

    monkeypatch.setattr(dialogs, "gtk_message", message)
    gtk = dialogs.for_backend("gtk")
    assert gtk.ask(QUESTION) is True
    gtk.tell(INFO)
    assert calls == [("Log out of Seatkeeper?", True), ("About Seatkeeper", False)]


@pytest.mark.parametrize(("platform", "expected"), [("linux", ["xdg-open"]),
                                                    ("darwin", ["open"])])
def test_open_folder_uses_the_desktop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                      platform: str, expected: list[str]) -> None:
    """The log folder is made if needed and handed to the desktop's opener."""
    launched: list[list[str]] = []
    monkeypatch.setattr(dialogs, "launch", launched.append)
    folder = tmp_path / "logs"
    dialogs.open_folder(folder, platform)
    assert folder.is_dir() and launched == [[*expected, str(folder)]]
    started: list[Path] = []
    monkeypatch.setattr(dialogs, "start_file", started.append)
    dialogs.open_folder(folder, "win32")
    assert started == [folder]
