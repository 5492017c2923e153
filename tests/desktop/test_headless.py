"""`seatkeeper run` where no tray can be shown: it runs headless, says why and how to go on."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.desktop.screen import Desktop
from tests.scenarios.common import ScenarioServer
from tests.support.agent import AgentProcess
from tests.support.api import Api


class TraylessAgent(AgentProcess):
    """`seatkeeper run` (no --headless) with the display it is given, or none."""

    def __init__(self, home: Path, display: str | None = None, **kw: object) -> None:
        super().__init__(home, **kw)  # type: ignore[arg-type]
        self.display = display

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        for key in ("DISPLAY", "WAYLAND_DISPLAY", "PYSTRAY_BACKEND"):
            env.pop(key, None)
        if self.display:
            env["DISPLAY"] = self.display
        return env

    def run_command(self) -> list[str]:
        return [sys.executable, "-m", "seatkeeper", "run"]

    def output(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")


def wait_for_output(agent: TraylessAgent, text: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while text not in agent.output():
        assert time.monotonic() < deadline, f"{text!r} not printed:\n{agent.output()}"
        time.sleep(0.1)
    return agent.output()


def test_no_display_runs_headless_and_keeps_running(tmp_path: Path) -> None:
    """With no display the agent says it runs headless and why, names the CLI, and stays up."""
    agent = TraylessAgent(tmp_path / "server-room-pc")
    agent.start()
    try:
        out = wait_for_output(agent, "running headless")
        assert "no tray: no display (neither DISPLAY nor WAYLAND_DISPLAY is set)" in out
        assert "`seatkeeper status`" in out and "`seatkeeper logout`" in out
        time.sleep(1.5)
        assert agent.alive
        assert agent.status()["state"] == "signed_out"
    finally:
        code = agent.stop()
    assert code == 0


def test_display_without_tray_host_runs_headless(tmp_path: Path, artefacts_dir: Path) -> None:
    """A display with no system tray (no XEmbed tray, no StatusNotifier host) is headless too."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (scripts/test installs it when run as root)")
    with Desktop(artefacts_dir / "screenshots", tray=False) as desktop:
        agent = TraylessAgent(tmp_path / "kiosk", display=desktop.display)
        agent.start()
        try:
            out = wait_for_output(agent, "running headless", timeout=30)
            assert f"no XEmbed system tray on display {desktop.display}" in out
            assert agent.alive
        finally:
            code = agent.stop()
    assert code == 0


def test_quit_gives_the_seat_back_and_keeps_the_login(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """What Quit does after the tray closes: the seat is released, the login stays."""
    from seatkeeper.config import load_config
    from seatkeeper.runner import _release_before_quit
    from seatkeeper.service.credentials import CredentialStore
    from seatkeeper.service.daemon import Agent

    server = ScenarioServer(tmp_path_factory.mktemp("quit-server"), lease_ttl=60,
                            heartbeat_interval=1)
    with server:
        api = Api(server.url, server.admin_token)
        account, license = api.new_account(seats=1)
        home = tmp_path / "laptop"
        config = load_config({"SEATKEEPER_HOME": str(home)}, system_file=home / "none.toml")
        agent = Agent(config, credentials=CredentialStore(config.paths.data_dir,
                                                          use_keyring=False))
        agent.login(account["email"], account["password"], server.url)
        agent.start()
        try:
            deadline = time.monotonic() + 10
            while agent.status().state.value != "active":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            _release_before_quit(agent)
            assert agent.status().account == account["email"]
            live = api.admin_get(f"/v1/admin/licenses/{license['id']}").json()["leases"]
            assert live == [] and agent.status().pending == ()
        finally:
            agent.stop()
            agent.outbox.close()
