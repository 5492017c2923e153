"""The platform modules: chosen in one place; logind's signals handled in the right order."""

from __future__ import annotations

import logging

import pytest
from seatkeeper import platform
from seatkeeper.platform import linux
from seatkeeper.platform.null import NullPlatform


class Recorder:
    """Events that write down what happened, in order, with the lock calls beside them."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def shutting_down(self) -> None:
        self.calls.append("release")

    def shutdown_cancelled(self) -> None:
        self.calls.append("acquire")

    def resumed(self) -> None:
        self.calls.append("heartbeat")

    def network_changed(self) -> None:
        self.calls.append("hint")


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> linux.LogindHooks:
    """LogindHooks with logind's Inhibit and close() replaced; both locks held."""
    fds = iter(range(100, 200))

    def inhibit(_conn: object, what: str) -> int:
        calls.append(f"take {what}")
        return next(fds)

    monkeypatch.setattr(linux, "_inhibit", inhibit)
    monkeypatch.setattr(linux, "_close", lambda fd: calls.append(f"close {fd}"))
    made = linux.LogindHooks(Recorder(calls))
    made.take("shutdown")
    made.take("sleep")
    calls.clear()
    return made


@pytest.mark.parametrize(("system", "expected"), [
    ("linux", "linux"), ("win32", "windows"), ("darwin", "macos"), ("freebsd14", "null")])
def test_platform_is_chosen_from_the_system(system: str, expected: str) -> None:
    """sys.platform picks the module; anything unknown gets the null platform."""
    assert platform.platform_name({}, system) == expected


def test_override_variable_wins() -> None:
    """SEATKEEPER_PLATFORM overrides the choice, as PYSTRAY_BACKEND does for pystray."""
    assert platform.platform_name({"SEATKEEPER_PLATFORM": "null"}, "linux") == "null"
    assert isinstance(platform.current({"SEATKEEPER_PLATFORM": "null"}), NullPlatform)


def test_shutdown_releases_before_the_lock_is_closed(hooks: linux.LogindHooks,
                                                     calls: list[str]) -> None:
    """PrepareForShutdown(true): the release returns first, then the shutdown lock goes."""
    hooks.handle("PrepareForShutdown", (True,))
    assert calls == ["release", "close 100"]
    assert list(hooks.locks) == ["sleep"]


def test_cancelled_shutdown_takes_the_lock_again_then_acquires(
        hooks: linux.LogindHooks, calls: list[str]) -> None:
    """PrepareForShutdown(false): a new shutdown lock, and a seat asked for again."""
    hooks.handle("PrepareForShutdown", (True,))
    calls.clear()
    hooks.handle("PrepareForShutdown", (False,))
    assert calls == ["take shutdown", "acquire"]


def test_sleep_lets_go_and_resume_heartbeats_then_locks_again(
        hooks: linux.LogindHooks, calls: list[str]) -> None:
    """PrepareForSleep(true) lets the sleep lock go; (false) heartbeats, then locks again."""
    hooks.handle("PrepareForSleep", (True,))
    hooks.handle("PrepareForSleep", (False,))
    assert calls == ["close 101", "heartbeat", "take sleep"]


def test_network_change_is_a_hint(hooks: linux.LogindHooks, calls: list[str]) -> None:
    """NetworkManager's StateChanged becomes a connectivity hint."""
    hooks.handle("StateChanged", (70,))
    assert calls == ["hint"]


def test_refused_lock_is_logged_not_fatal(monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """logind saying no to Inhibit leaves a warning and no lock; nothing raises."""
    def refuse(_conn: object, what: str) -> int:
        raise PermissionError("Access denied")

    monkeypatch.setattr(linux, "_inhibit", refuse)
    made = linux.LogindHooks(Recorder([]))
    with caplog.at_level(logging.WARNING):
        made.take("shutdown")
    assert made.locks == {}
    assert "refused a shutdown delay lock" in caplog.text


def test_shutdown_with_no_lock_still_releases(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a lock (refused earlier) the announcement still gives the seat back."""
    calls: list[str] = []
    monkeypatch.setattr(linux, "_close", lambda fd: calls.append("close"))
    linux.LogindHooks(Recorder(calls)).handle("PrepareForShutdown", (True,))
    assert calls == ["release"]
