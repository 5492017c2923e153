"""The administrator's shutdown setting: release on shutdown is on by default, and lockable off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seatkeeper.config import load_config
from seatkeeper.service.hooks import AgentEvents


class FakeAgent:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def release_now(self, reason: str, budget_s: float) -> bool:
        self.calls.append(("release_now", (reason, budget_s)))
        return True

    def acquire(self) -> None:
        self.calls.append(("acquire", ()))


def config_with(tmp_path: Path, system: str, user: str) -> Any:
    etc = tmp_path / "etc" / "config.toml"
    etc.parent.mkdir(parents=True)
    etc.write_text(system)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(user)
    return load_config({"SEATKEEPER_HOME": str(home)}, system_file=etc)


def test_release_on_shutdown_is_on_by_default(tmp_path: Path) -> None:
    """No setting anywhere: shutdown releases the seat, reason `shutdown`, within 2 s."""
    agent: Any = FakeAgent()
    AgentEvents(agent, config_with(tmp_path, "", "")).shutting_down()
    assert agent.calls == [("release_now", ("shutdown", 2.0))]


def test_locked_off_by_the_administrator_keeps_the_seat(tmp_path: Path) -> None:
    """The system file turns it off and locks it; the user's `true` does not win."""
    config = config_with(tmp_path, 'release_on_shutdown = false\n[policy]\n'
                         'locked = ["release_on_shutdown"]\n', "release_on_shutdown = true\n")
    assert config.release_on_shutdown is False
    agent: Any = FakeAgent()
    events = AgentEvents(agent, config)
    events.shutting_down()
    events.shutdown_cancelled()
    assert agent.calls == []


def test_cancelled_shutdown_asks_for_the_seat_again(tmp_path: Path) -> None:
    """After a release for a shutdown that did not happen, a seat is asked for again, once."""
    agent: Any = FakeAgent()
    events = AgentEvents(agent, config_with(tmp_path, "", ""))
    events.shutting_down()
    events.shutdown_cancelled()
    events.shutdown_cancelled()
    assert [name for name, _ in agent.calls] == ["release_now", "acquire"]


def test_sigterm_after_prepare_for_shutdown_does_not_release_twice(tmp_path: Path) -> None:
    """logind's announcement released the seat; the SIGTERM that follows adds no second wait."""
    agent: Any = FakeAgent()
    events = AgentEvents(agent, config_with(tmp_path, "", ""))
    events.shutting_down()
    events.shutting_down()
    assert [name for name, _ in agent.calls] == ["release_now"]
