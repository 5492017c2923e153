"""The tray's first icon: on screen before the agent is built, from the state shown last.

The agent is the real `seatkeeper run` with its GTK tray on Xvfb and trayer, started
through tests/desktop/start_probe.py: it writes down the modules loaded at the moment
the icon is set visible, and can hold the agent's build back (as a slow disk or keyring
would) until the test lets it go. The real server sits behind a proxy the test cuts.
"""

from __future__ import annotations

import json
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from seatkeeper.core.state import SeatState
from seatkeeper.service.control import AgentNotRunning

from tests.desktop.screen import Desktop, TrayAgent
from tests.desktop.test_tray import shows
from tests.scenarios.common import ScenarioServer, live_leases
from tests.support.agent import close_all
from tests.support.api import Api
from tests.support.proxy import FaultProxy

PROBE = Path(__file__).with_name("start_probe.py")
# What the icon must not wait for: the network, crypto, scheduler and keyring stacks.
HEAVY = ("requests", "urllib3", "cryptography", "apscheduler", "keyring", "secretstorage",
         "nacl")
# The agent's own engine and tray app, built after the icon (the command line's control
# client, seatkeeper.service.control, comes before).
AGENT_MODULES = ("seatkeeper.service.daemon", "seatkeeper.service.client",
                 "seatkeeper.service.local_api", "seatkeeper.service.outbox",
                 "seatkeeper.tray.app")


class ProbedTrayAgent(TrayAgent):
    """A TrayAgent whose `run` goes through the start probe."""

    def __init__(self, home: Path, desktop: Desktop, **kw: Any) -> None:
        super().__init__(home, desktop, **kw)
        self.record = self.home / "modules-at-icon.json"
        self.gate = self.home / "build-may-go"
        self.gate.touch()

    def command(self, *args: str) -> list[str]:
        if args[:1] == ("run",):
            return [sys.executable, str(PROBE), str(self.record), str(self.gate), *args]
        return super().command(*args)

    def modules_at_icon(self, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while not self.record.exists():
            assert time.monotonic() < deadline, f"the icon was never shown:\n{self.logs_tail()}"
            time.sleep(0.05)
        names: list[str] = json.loads(self.record.read_text())
        return names

    @property
    def state_file(self) -> Path:
        return self.data_dir / "tray-state.json"


def kept_icon(path: Path) -> str | None:
    try:
        icon: str | None = json.loads(path.read_text(encoding="utf-8"))["icon"]
    except (OSError, ValueError, KeyError):
        return None
    return icon


@pytest.fixture
def make_probed(desktop: Desktop, tmp_path: Path) -> Iterator[Any]:
    made: list[ProbedTrayAgent] = []

    def make(name: str, **kw: Any) -> ProbedTrayAgent:
        agent = ProbedTrayAgent(tmp_path / name, desktop, device_name=name, **kw)
        made.append(agent)
        return agent

    yield make
    close_all(list(made), timeout=10)


def test_the_icon_is_shown_before_the_network_crypto_and_scheduler_stacks_load(
        desktop: Desktop, tray_server: ScenarioServer, tray_api: Api, make_probed: Any) -> None:
    """At the moment the icon is set visible, none of requests, cryptography, APScheduler,
    keyring or PyNaCl is loaded, nor the agent's engine; the agent then takes its seat."""
    account, _ = tray_api.new_account(seats=1)
    agent = make_probed("survey-laptop", server_url=tray_server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    loaded = agent.modules_at_icon()
    assert "pystray" in loaded and "seatkeeper.tray.starting" in loaded, loaded
    assert [name for name in loaded if name.split(".")[0] in HEAVY] == []
    assert [name for name in loaded if name in AGENT_MODULES] == []
    agent.wait_for("active")
    shows(desktop, SeatState.ACTIVE)
    assert kept_icon(agent.state_file) == "active"
    assert agent.stop() == 0
    # The seat went back at the session's end: the next start asks for one again.
    assert json.loads(agent.state_file.read_text()) == {
        "icon": "acquiring", "borrowed": False, "signed_in": True}


def test_the_last_state_shows_before_the_agent_is_built_and_a_log_out_then_is_kept(
        desktop: Desktop, tray_server: ScenarioServer, tray_api: Api, make_probed: Any) -> None:
    """The tray keeps the state it shows (owner-only); after a crash, at the next start with
    the server unreachable and the agent's build held back, the docked icon is that
    state's and the menu says Starting…; Log out… chosen then asks for confirmation once
    the agent is attached, the icon turns to the agent's own state, and the logout is
    delivered."""
    account, _ = tray_api.new_account(seats=1)
    office = tray_api.login(account["email"], account["password"], name="office-pc")
    assert office.acquire().status_code == 201
    with FaultProxy(tray_server.port) as proxy:
        agent = make_probed("drafting-pc", server_url=proxy.url)
        agent.login(account["email"], account["password"])
        agent.start()
        agent.wait_for("seat_limit_reached")
        shows(desktop, SeatState.SEAT_LIMIT_REACHED)
        agent.kill()  # a crash, or the power cut: what was shown last is what is kept
        kept = json.loads(agent.state_file.read_text())
        assert kept == {"icon": "seat_limit_reached", "borrowed": False, "signed_in": True}
        assert stat.S_IMODE(agent.state_file.stat().st_mode) == 0o600

        proxy.cut()
        agent.gate.unlink()
        agent.record.unlink()
        agent.launch()
        agent.modules_at_icon()
        shows(desktop, SeatState.SEAT_LIMIT_REACHED)
        with pytest.raises(AgentNotRunning):
            agent.control("ping")  # no agent yet: the icon came first
        desktop.right_click(desktop.wait_for_icon())
        agent.atspi("find", "menu item", "Starting…")
        desktop.screenshot("starting-menu")
        agent.atspi("click", "menu item", "Log out…")

        agent.gate.touch()
        shows(desktop, SeatState.ACQUIRING)  # the agent's own state: no seat, no answer
        agent.atspi("click", "push button", "OK")
        agent.wait_for("logout_pending")
        proxy.restore()
        agent.wait_for("signed_out", timeout=30)
        shows(desktop, SeatState.SIGNED_OUT)
        assert agent.stop() == 0
    assert json.loads(agent.state_file.read_text())["signed_in"] is False


def test_an_unreadable_last_state_gives_the_neutral_icon(
        desktop: Desktop, tray_server: ScenarioServer, tray_api: Api, make_probed: Any) -> None:
    """A corrupt tray-state.json is no crash: the neutral icon (the grey dots) first, then
    the agent's state, and the file is written again."""
    account, _ = tray_api.new_account(seats=1)
    agent = make_probed("site-tablet", server_url=tray_server.url)
    agent.login(account["email"], account["password"])
    agent.state_file.parent.mkdir(parents=True, exist_ok=True)
    agent.state_file.write_bytes(b'{"icon": "on fire", \xff')
    agent.gate.unlink()
    agent.launch()
    agent.modules_at_icon()
    shows(desktop, SeatState.ACQUIRING)
    agent.gate.touch()
    agent.wait_for("active")
    shows(desktop, SeatState.ACTIVE)
    deadline = time.monotonic() + 10
    while kept_icon(agent.state_file) != "active":
        assert time.monotonic() < deadline, agent.state_file.read_bytes()
        time.sleep(0.1)
    assert agent.stop() == 0


def test_quit_while_the_agent_starts_ends_it_with_no_seat_taken(
        desktop: Desktop, tray_server: ScenarioServer, tray_api: Api, make_probed: Any) -> None:
    """Quit from the starting menu ends the agent once it is built: exit 0, no seat left
    taken on the server, the login kept, and the next start's icon is "asking"."""
    account, license = tray_api.new_account(seats=1)
    agent = make_probed("site-laptop", server_url=tray_server.url)
    agent.login(account["email"], account["password"])
    agent.gate.unlink()
    agent.launch()
    agent.modules_at_icon()
    desktop.right_click(desktop.wait_for_icon())
    agent.atspi("click", "menu item", "Quit")
    agent.gate.touch()
    deadline = time.monotonic() + 20
    while agent.alive:
        assert time.monotonic() < deadline, f"the agent did not end:\n{agent.logs_tail()}"
        time.sleep(0.1)
    assert agent.stop() == 0
    assert live_leases(tray_api, license["id"]) == []
    assert agent.status()["account"] == account["email"]
    assert kept_icon(agent.state_file) == "acquiring"
