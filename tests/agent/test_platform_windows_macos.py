"""Windows and macOS hooks, driven on Linux by replacing each wrapped OS call."""

from __future__ import annotations

import plistlib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from seatkeeper.platform import macos, windows
from seatkeeper.platform.base import SHUTDOWN_BUDGET_S


class Events:
    """Records calls in order; the release takes `release_s` (as a slow server would)."""

    def __init__(self, calls: list[str], release_s: float = 0.0) -> None:
        self.calls = calls
        self.release_s = release_s

    def shutting_down(self) -> None:
        time.sleep(self.release_s)
        self.calls.append("release")

    def shutdown_cancelled(self) -> None:
        self.calls.append("acquire")

    def resumed(self) -> None:
        self.calls.append("heartbeat")

    def network_changed(self) -> None:
        self.calls.append("hint")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The call log, with ShutdownBlockReasonCreate/Destroy replaced to write to it."""
    log: list[str] = []

    def create(hwnd: int, reason: str) -> bool:
        log.append(f"block {hwnd} {reason}")
        return True

    def destroy(hwnd: int) -> bool:
        log.append(f"unblock {hwnd}")
        return True

    monkeypatch.setattr(windows, "_block_reason_create", create)
    monkeypatch.setattr(windows, "_block_reason_destroy", destroy)
    return log


def session(calls: list[str], release_s: float = 0.0) -> dict[int, Callable[[int, int], int]]:
    """The hidden window's handlers, as WindowsPlatform hands them to the tray."""
    plat = windows.WindowsPlatform()
    plat.start(Events(calls, release_s))
    return plat.window_messages(lambda: 42, lambda: calls.append("exit"))


def test_query_end_session_releases_then_answers_true(calls: list[str]) -> None:
    """WM_QUERYENDSESSION: block reason shown, seat released, reason removed, TRUE returned."""
    handlers = session(calls, release_s=0.2)
    started = time.monotonic()
    answer = handlers[windows.WM_QUERYENDSESSION](0, 0)
    took = time.monotonic() - started
    assert answer == 1  # 0 would veto the shutdown
    assert calls == ["block 42 Giving the license seat back", "release", "unblock 42"]
    assert took < SHUTDOWN_BUDGET_S


def test_end_session_exits_after_the_release(calls: list[str]) -> None:
    """WM_ENDSESSION(TRUE) after the query: the release came first, then the exit."""
    handlers = session(calls)
    handlers[windows.WM_QUERYENDSESSION](0, 0)
    handlers[windows.WM_ENDSESSION](1, 0)
    assert [c for c in calls if c in ("release", "exit")] == ["release", "exit"]


def test_cancelled_end_session_takes_a_seat_again(calls: list[str]) -> None:
    """WM_ENDSESSION(FALSE): another application vetoed; the agent asks for a seat again."""
    handlers = session(calls)
    handlers[windows.WM_QUERYENDSESSION](0, 0)
    handlers[windows.WM_ENDSESSION](0, 0)
    assert calls[-1] == "acquire" and "exit" not in calls


def test_second_query_does_not_release_twice(calls: list[str]) -> None:
    """Windows may ask again; the seat was given back once."""
    handlers = session(calls)
    handlers[windows.WM_QUERYENDSESSION](0, 0)
    assert handlers[windows.WM_QUERYENDSESSION](0, 0) == 1
    assert calls.count("release") == 1


def test_failed_release_still_answers_true(calls: list[str]) -> None:
    """A release that raises never vetoes the shutdown, and the block reason is removed."""
    failing: Any = Events(calls)
    failing.shutting_down = lambda: 1 / 0
    messages = windows.SessionMessages(failing, lambda: 7, lambda: None)
    assert messages.query_end_session(0, 0) == 1
    assert calls[-1] == "unblock 7"


@pytest.mark.parametrize("event", [windows.PBT_APMRESUMEAUTOMATIC,
                                   windows.PBT_APMRESUMESUSPEND])
def test_resume_broadcast_heartbeats(calls: list[str], event: int) -> None:
    """WM_POWERBROADCAST resume: a heartbeat now."""
    assert session(calls)[windows.WM_POWERBROADCAST](event, 0) == 1
    assert calls == ["heartbeat"]


def test_run_key_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """enable writes HKCU\\...\\Run\\Seatkeeper as one quoted command line; disable removes it."""
    registry: dict[str, str] = {}
    monkeypatch.setattr(windows, "_run_key_get", lambda: registry.get("Seatkeeper"))
    monkeypatch.setattr(windows, "_run_key_set",
                        lambda line: registry.__setitem__("Seatkeeper", line))
    monkeypatch.setattr(windows, "_run_key_delete", lambda: registry.pop("Seatkeeper", None))
    plat = windows.WindowsPlatform()
    command = [r"C:\Program Files\Seatkeeper\seatkeeper.exe", "run"]
    plat.enable_autostart(command)
    assert plat.autostart_enabled()
    assert registry["Seatkeeper"] == subprocess.list2cmdline(command)
    assert registry["Seatkeeper"].startswith('"C:\\Program Files\\Seatkeeper\\seatkeeper.exe"')
    plat.disable_autostart()
    plat.disable_autostart()  # nothing left to remove is fine
    assert not plat.autostart_enabled()


@pytest.fixture
def observers(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[Any], None]]:
    """NSWorkspace's notification center, replaced by a dict of observers by name."""
    seen: dict[str, Callable[[Any], None]] = {}

    def add(name: str, callback: Callable[[Any], None]) -> str:
        seen[name] = callback
        return name

    monkeypatch.setattr(macos, "_add_observer", add)
    monkeypatch.setattr(macos, "_remove_observer", lambda token: seen.pop(token))
    return seen


def test_power_off_notification_releases(observers: dict[str, Callable[[Any], None]]) -> None:
    """NSWorkspaceWillPowerOffNotification: the seat is released before the observer returns."""
    calls: list[str] = []
    plat = macos.MacPlatform()
    plat.start(Events(calls))
    observers[macos.WILL_POWER_OFF](None)
    assert calls == ["release"]
    observers[macos.DID_WAKE](None)
    assert calls == ["release", "heartbeat"]
    plat.stop()
    assert observers == {}


def test_no_appkit_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    """Without pyobjc (as here on Linux) start logs a warning and carries on."""
    plat = macos.MacPlatform()
    plat.start(Events([]))
    assert plat.tokens == []
    assert "release relies on SIGTERM" in caplog.text


def test_launch_agent_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """enable writes ~/Library/LaunchAgents/com.seatkeeper.agent.plist; disable removes it."""
    monkeypatch.setenv("HOME", str(tmp_path))
    plat = macos.MacPlatform()
    plat.enable_autostart(["/Applications/Seatkeeper.app/Contents/MacOS/seatkeeper", "run"])
    path = tmp_path / "Library" / "LaunchAgents" / "com.seatkeeper.agent.plist"
    assert plat.autostart_enabled() and plat.autostart_location() == str(path)
    written = plistlib.loads(path.read_bytes())
    assert written["RunAtLoad"] is True and written["LimitLoadToSessionType"] == "Aqua"
    assert written["ProgramArguments"][-1] == "run"
    plat.disable_autostart()
    assert not path.exists()


def test_headless_without_a_window_says_the_seat_is_not_given_back(
        calls: list[str], caplog: pytest.LogCaptureFixture) -> None:
    """No window to be had (here: no pywin32): a warning, and the agent runs on."""
    plat = windows.WindowsPlatform()
    plat.start(Events(calls))
    with caplog.at_level("WARNING", logger="seatkeeper.platform"):
        plat.watch_session(lambda: calls.append("exit"))
    assert "no window for the end of the session" in caplog.text
    plat.stop()
    assert calls == []
