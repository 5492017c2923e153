"""The tray app's glue, over a stand-in pystray and agent: what each menu choice does."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from seatkeeper.config import Config, load_config
from seatkeeper.core.errors import SeatkeeperError
from seatkeeper.core.state import SeatState, Status
from seatkeeper.tray import app as tray_app
from seatkeeper.tray import icons, login_flow
from seatkeeper.tray.messages import Prompt
from seatkeeper.tray.view import Act, Action

ACTIVE = Status(state=SeatState.ACTIVE, account="ana@example.com", license_name="PIX4Dmapper",
                seats_used=1, seats_total=2)
DEVICES = [{"id": "d1", "name": "survey-laptop", "platform": "linux", "current": True,
            "seat": None, "last_heartbeat_at": None},
           {"id": "d2", "name": "office-pc", "platform": "linux", "current": False,
            "seat": None, "last_heartbeat_at": None}]


class FakeIcon:
    def __init__(self, name: str, icon: Any, title: str, menu: Any) -> None:
        self.name, self.icon, self.title, self.menu = name, icon, title, menu
        self.notified: list[tuple[str, str]] = []
        self.stopped = False
        self.visible = False

    def notify(self, text: str, title: str) -> None:
        self.notified.append((title, text))

    def stop(self) -> None:
        self.stopped = True


class FakeMenu:
    SEPARATOR = object()

    def __init__(self, *items: Any) -> None:
        self.items = items


class FakeItem:
    def __init__(self, text: str, action: Any, checked: Any = None, enabled: bool = True) -> None:
        self.text, self.action, self.checked, self.enabled = text, action, checked, enabled


class FakeAgent:
    """The control interface, recording calls; `fail` makes the next call refuse."""

    def __init__(self, status: Status, config: Config | None = None) -> None:
        self.current = status
        # No files behind it: a server set by a variable, so the menu offers Log in….
        self.config = config or load_config(
            {"SEATKEEPER_HOME": "/nonexistent/seatkeeper-home",
             "SEATKEEPER_SERVER_URL": "https://lic.example"},
            system_file=Path("/nonexistent/system.toml"))
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.called = threading.Event()
        self.fail: str | None = None

    def status(self) -> Status:
        return self.current

    def subscribe(self, callback: Any) -> Any:
        return lambda: None

    def account(self) -> dict[str, Any]:
        return {"id": "a1", "email": "ana@example.com", "remote_deactivation": True,
                "licenses": []}

    def devices(self) -> list[dict[str, Any]]:
        return DEVICES

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any) -> Status:
            self.calls.append((name, args))
            self.called.set()
            if self.fail:
                raise SeatkeeperError(self.fail)
            return self.current
        return call


class FakeDialogs:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked: list[Prompt] = []
        self.told: list[Prompt] = []

    def ask(self, prompt: Prompt) -> bool:
        self.asked.append(prompt)
        return self.answer

    def tell(self, prompt: Prompt) -> None:
        self.told.append(prompt)


@pytest.fixture
def make_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    fake = SimpleNamespace(Icon=FakeIcon, Menu=FakeMenu, MenuItem=FakeItem)
    monkeypatch.setattr(tray_app, "_load_pystray", lambda backend: fake)
    monkeypatch.setenv("SEATKEEPER_PLATFORM", "null")  # no start at login: never the real one

    def make(status: Status = ACTIVE, answer: bool = True,
             server_url: str | None = "https://lic.example") -> tray_app.TrayApp:
        env = {"SEATKEEPER_HOME": str(tmp_path / "home")}
        if server_url is not None:
            env["SEATKEEPER_SERVER_URL"] = server_url
        agent: Any = FakeAgent(status, load_config(env, system_file=tmp_path / "none.toml"))
        app = tray_app.TrayApp(agent, backend="test", log_dir=tmp_path / "logs",
                               stop=threading.Event())
        app.dialogs = FakeDialogs(answer)
        return app
    return make


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_log_out_asks_first_and_logs_out_on_ok(make_app: Any) -> None:
    """Log out… shows the confirmation; OK logs out through the control interface."""
    app = make_app(answer=True)
    app.choose(Action(Act.LOGOUT))
    assert "seat will be freed" in app.dialogs.asked[0].text
    wait_for(lambda: app.agent.calls)
    assert app.agent.calls == [("logout", ())]


def test_cancel_leaves_the_login_alone(make_app: Any) -> None:
    """Cancel in the confirmation calls nothing."""
    app = make_app(answer=False)
    app.choose(Action(Act.LOGOUT))
    time.sleep(0.1)
    assert app.agent.calls == []


def test_a_refusal_is_shown_in_a_dialog(make_app: Any) -> None:
    """When the agent refuses, the reason is told in an error dialog."""
    app = make_app()
    app.agent.fail = "Remote device deactivation is off for this account."
    app.choose(Action(Act.REMOTE_DEACTIVATION, "on"))
    wait_for(lambda: app.dialogs.told)
    assert app.agent.calls == [("set_remote_deactivation", (True,))]
    assert app.dialogs.told[0].text == "Remote device deactivation is off for this account."


def test_choices_reach_their_control_calls(make_app: Any) -> None:
    """Release, acquire, another license, Discovery mode, borrow and return each make their
    one call."""
    app = make_app()
    for action, call in [(Action(Act.RELEASE), ("release", ())),
                         (Action(Act.BORROW, "3"), ("borrow", (3,))),
                         (Action(Act.RETURN), ("return_seat", ())),
                         (Action(Act.ACQUIRE), ("acquire", ())),
                         (Action(Act.USE_LICENSE, "lic2"), ("acquire", ("lic2",))),
                         (Action(Act.DISCOVERY), ("continue_in_discovery", ()))]:
        app.agent.calls.clear()
        app.choose(action)
        wait_for(lambda: app.agent.calls)
        assert app.agent.calls == [call]


def test_deactivate_names_the_device_and_deactivates_it(make_app: Any) -> None:
    """Deactivate… asks about that device by name, then deactivates it by id."""
    app = make_app()
    app._fetch_account()
    app.choose(Action(Act.DEACTIVATE, "d2"))
    assert app.dialogs.asked[0].title == "Deactivate office-pc?"
    wait_for(lambda: app.agent.calls)
    assert app.agent.calls == [("deactivate", ("d2",))]


def test_about_only_tells(make_app: Any) -> None:
    """About lists versions in a dialog and calls nothing."""
    app = make_app(Status(state=SeatState.SIGNED_OUT))
    app.choose(Action(Act.ABOUT))
    assert [p.title for p in app.dialogs.told] == ["About Seatkeeper"]
    assert "Seatkeeper" in app.dialogs.told[0].text and app.agent.calls == []


GRANT = {"device_code": "skc_x", "user_code": "BCDF-GHJK", "interval": 0.01, "expires_in": 30,
         "verification_uri": "https://lic.example/portal/device",
         "verification_uri_complete": "https://lic.example/portal/device?code=BCDF-GHJK",
         "server_url": "https://lic.example"}


def browser_login(monkeypatch: pytest.MonkeyPatch, final: dict[str, Any]) -> Any:
    """Stand-ins for the browser and the device login; `answer.set()` ends the waiting."""
    opened: list[str] = []
    answer = threading.Event()
    started: list[str | None] = []
    monkeypatch.setattr(login_flow.webbrowser, "open", opened.append)
    def start(agent: Any, url: str | None) -> dict[str, Any]:
        started.append(url)
        return GRANT

    monkeypatch.setattr(login_flow.device_login, "start", start)
    monkeypatch.setattr(login_flow.device_login, "poll", lambda agent, url, code: final
                        if answer.is_set() else {"result": "authorization_pending",
                                                 "final": False, "message": "waiting"})
    return SimpleNamespace(opened=opened, answer=answer, started=started)


def labels(app: Any) -> list[str]:
    app.render()
    return [item.text for item in app.icon.menu.items if isinstance(item, FakeItem)]


def test_log_in_opens_the_browser_shows_the_code_and_polls_until_approved(
        make_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Log in… opens the approve page, shows the code in the menu and a notice, then polls."""
    login = browser_login(monkeypatch, {"result": "approved", "final": True, "message": "ok"})
    app = make_app(Status(state=SeatState.SIGNED_OUT))
    app.choose(Action(Act.LOGIN))
    wait_for(lambda: login.opened and app.icon.notified)
    assert login.opened == [GRANT["verification_uri_complete"]]
    assert "BCDF-GHJK" in app.icon.notified[0][1]
    assert "Approve the code BCDF-GHJK in the browser" in labels(app)
    assert "Log in…" not in labels(app)
    app.choose(Action(Act.LOGIN))  # again: the same page, no second login
    assert login.opened == [GRANT["verification_uri_complete"]] * 2
    login.answer.set()
    wait_for(lambda: app.login.code is None)
    assert "Log in…" in labels(app) and app.dialogs.told == []


def test_a_denied_browser_login_is_told_and_log_in_is_offered_again(
        make_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A denied login ends the waiting with a dialog saying so; the tray never asks a password."""
    login = browser_login(monkeypatch, {"result": "access_denied", "final": True,
                                        "message": "The login was denied in the browser."})
    login.answer.set()
    app = make_app(Status(state=SeatState.SIGNED_OUT))
    app.choose(Action(Act.LOGIN))
    wait_for(lambda: app.dialogs.told)
    assert "denied" in app.dialogs.told[0].text
    assert "password" not in app.dialogs.told[0].text.lower()
    assert "Log in…" in labels(app)


def test_cancel_ends_a_browser_login_under_way(make_app: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancel the login stops the polling quietly and offers Log in… again."""
    browser_login(monkeypatch, {"result": "approved", "final": True, "message": "ok"})
    app = make_app(Status(state=SeatState.SIGNED_OUT))
    app.choose(Action(Act.LOGIN))
    wait_for(lambda: app.login.code is not None)
    app.choose(Action(Act.CANCEL_LOGIN))
    assert "Log in…" in labels(app)
    time.sleep(0.1)
    assert app.dialogs.told == []


def test_quit_stops_the_icon_and_asks_for_the_release(make_app: Any) -> None:
    """Quit ends the tray's loop; the runner then gives the seat back."""
    app = make_app()
    app.choose(Action(Act.QUIT))
    assert app.quit_requested and app.icon.stopped


def test_a_change_redraws_the_icon_tooltip_and_menu(make_app: Any) -> None:
    """A new state draws its icon and tooltip; the menu carries the state's choices."""
    app = make_app()
    app.render()
    assert app.icon.title == "Seat 1 of 2 · PIX4Dmapper"
    app._changed(Status(state=SeatState.SIGNED_OUT))
    assert app.icon.icon is icons.render(SeatState.SIGNED_OUT, tray_app.ICON_PX)
    labels = [item.text for item in app.icon.menu.items if isinstance(item, FakeItem)]
    assert "Log in…" in labels and "Log out…" not in labels
    first = app.icon.menu.items[0]
    assert first.text == "Not logged in" and not first.enabled


def test_menu_entries_map_to_pystray_items(make_app: Any) -> None:
    """Check items carry their state, submenus nest, and clicking an item makes its choice."""
    app = make_app(answer=False)
    app._fetch_account()
    app.render()
    items = {item.text: item for item in app.icon.menu.items if isinstance(item, FakeItem)}
    assert items["Start at login"].checked(None) is False
    assert not items["Start at login"].enabled
    devices = items["Devices"].action
    assert isinstance(devices, FakeMenu)
    assert any(getattr(i, "text", "") == "Deactivate office-pc…" for i in devices.items)
    items["Log out…"].action(app.icon, items["Log out…"])
    assert app.dialogs.asked and app.agent.calls == []
