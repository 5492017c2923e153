"""The agent's folders are its owner's alone, and a planted symlink never receives a secret."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.scenarios.common import ScenarioServer
from tests.scenarios.conftest import AgentFactory
from tests.support.agent import AgentProcess
from tests.support.api import Api

NOBODY_UID = 65534


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def folders(agent: AgentProcess) -> list[Path]:
    """The agent's own four folders: configuration (the home itself), data, logs, runtime."""
    return [agent.home, agent.data_dir, agent.log_dir, agent.runtime_dir]


def test_planted_symlinks_in_an_open_data_folder_receive_nothing(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory,
        tmp_path: Path) -> None:
    """Folders others could write are tightened to 0700; symlinks planted where the token,
    the session and their temporary files go are never followed."""
    account, _license = scenario_api.new_account(seats=1)
    agent = make_agent("shared-pc", server_url=scenario_server.url)
    loot = tmp_path / "attacker"
    loot.mkdir()
    for folder in folders(agent):
        folder.mkdir(exist_ok=True)
        folder.chmod(0o777)
    planted = ["device-token.tmp", "session.tmp", "device-token", "session.json",
               "outbox.sqlite3"]
    for name in planted:
        (agent.data_dir / name).symlink_to(loot / name)
    (agent.log_dir / "seatkeeper.log").symlink_to(loot / "seatkeeper.log")

    # The planted names that are not ours to replace stop the agent, naming the file.
    refused = agent.cli("login", "--email", account["email"], "--password-stdin",
                        "--server", scenario_server.url, input=account["password"] + "\n")
    assert list(loot.iterdir()) == [], f"a symlink was followed: {list(loot.iterdir())}"
    assert refused.returncode == 1, refused
    assert "outbox.sqlite3" in refused.stderr and "symbolic link" in refused.stderr, \
        refused.stderr
    assert "Traceback" not in refused.stderr
    for folder in folders(agent):
        assert mode(folder) == 0o700, f"{folder} was left {oct(mode(folder))}"

    (agent.data_dir / "outbox.sqlite3").unlink()
    agent.login(account["email"], account["password"])
    assert list(loot.iterdir()) == [], f"a symlink was followed: {list(loot.iterdir())}"
    for name in ("device-token", "session.json"):
        path = agent.data_dir / name
        assert path.is_file() and not path.is_symlink(), f"{path} is still the planted link"
        assert mode(path) == 0o600
    token = agent.device_token()
    assert token.startswith("skd_")
    refused = agent.cli("run", "--headless", timeout=20)
    assert refused.returncode == 1 and "seatkeeper.log" in refused.stderr, refused
    (agent.log_dir / "seatkeeper.log").unlink()
    agent.start()
    agent.wait_for("active")
    assert list(loot.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a folder to another user")
def test_a_folder_owned_by_another_user_is_refused_by_name(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """A data folder someone else owns: login and run stop, naming the folder; nothing written."""
    account, _license = scenario_api.new_account(seats=1)
    agent = make_agent("kiosk", server_url=scenario_server.url)
    agent.data_dir.mkdir()
    agent.data_dir.chmod(0o777)
    os.chown(agent.data_dir, NOBODY_UID, NOBODY_UID)
    for args, stdin in ((("login", "--email", account["email"], "--password-stdin"),
                         account["password"] + "\n"), (("run", "--headless"), None)):
        done = agent.cli(*args, input=stdin, timeout=20)
        assert done.returncode == 1, done
        assert str(agent.data_dir) in done.stderr and "another user" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert list(agent.data_dir.iterdir()) == []
    assert mode(agent.data_dir) == 0o777  # not ours to change
