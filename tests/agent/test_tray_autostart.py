"""The tray's Start at login item and, on Windows, its hidden window's session messages."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from seatkeeper.platform import windows
from seatkeeper.tray import app as tray_app
from seatkeeper.tray.view import Act, Action

from tests.agent.test_tray_app import ACTIVE, FakeAgent, FakeIcon, FakeItem, FakeMenu


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A temporary home on the Linux platform, with a stand-in pystray."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("SEATKEEPER_PLATFORM", "linux")
    fake = SimpleNamespace(Icon=FakeIcon, Menu=FakeMenu, MenuItem=FakeItem)
    monkeypatch.setattr(tray_app, "_load_pystray", lambda backend: fake)
    return tmp_path


def start_at_login(app: tray_app.TrayApp) -> FakeItem:
    item: FakeItem = next(i for i in app.icon.menu if getattr(i, "text", "") == "Start at login")
    return item


def make(home: Path, backend: str = "test", hooks: Any = None) -> tray_app.TrayApp:
    agent: Any = FakeAgent(ACTIVE)
    return tray_app.TrayApp(agent, backend=backend, log_dir=home / "logs",
                            stop=threading.Event(), hooks=hooks)


def test_start_at_login_ticks_and_unticks_the_autostart_entry(home: Path) -> None:
    """Choosing the item writes ~/.config/autostart/seatkeeper.desktop; again removes it."""
    app = make(home)
    entry = home / ".config" / "autostart" / "seatkeeper.desktop"
    item = start_at_login(app)
    assert item.enabled and not item.checked(item)

    app.choose(Action(Act.START_AT_LOGIN))
    assert entry.is_file()
    item = next(i for i in app.icon.menu.items if getattr(i, "text", "") == "Start at login")
    assert item.checked(item) is True

    app.choose(Action(Act.START_AT_LOGIN))
    assert not entry.exists()
    item = next(i for i in app.icon.menu.items if getattr(i, "text", "") == "Start at login")
    assert item.checked(item) is False


def test_win32_hidden_window_answers_query_end_session(home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """On win32 the tray's window gets the platform's handlers: TRUE to WM_QUERYENDSESSION."""
    monkeypatch.setattr(windows, "_block_reason_create", lambda hwnd, reason: True)
    monkeypatch.setattr(windows, "_block_reason_destroy", lambda hwnd: True)
    released: list[str] = []
    hooks = windows.WindowsPlatform()
    hooks.start(SimpleNamespace(shutting_down=lambda: released.append("release"),
                                shutdown_cancelled=lambda: None, resumed=lambda: None,
                                network_changed=lambda: None))
    FakeIcon._message_handlers = {}  # type: ignore[attr-defined]
    try:
        app = make(home, backend="win32", hooks=hooks)
        handlers = app.icon._message_handlers
        assert handlers[windows.WM_QUERYENDSESSION](0, 0) == 1
        assert released == ["release"]
        handlers[windows.WM_ENDSESSION](1, 0)
        assert app.stop_event.is_set()
    finally:
        del FakeIcon._message_handlers  # type: ignore[attr-defined]


@pytest.mark.parametrize(("backend", "shown"), [("win32", "License: Survey && Mapping"),
                                                ("test", "License: Survey & Mapping")])
def test_win32_menu_shows_an_ampersand_as_itself(home: Path, backend: str, shown: str) -> None:
    """Windows menus read `&` as an access key: the win32 menu doubles it, others keep it."""
    agent: Any = FakeAgent(dataclasses.replace(ACTIVE, license_name="Survey & Mapping"))
    app = tray_app.TrayApp(agent, backend=backend, log_dir=home / "logs",
                           stop=threading.Event())
    labels = [getattr(item, "text", "") for item in app.icon.menu]
    assert shown in labels, labels
