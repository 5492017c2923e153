"""The agent on Windows: login, `run`, and the CLI over the named pipe, against the real server.

The agent is the Windows CPython under Wine running this checkout's wheel; the license
server runs on Linux on 127.0.0.1. Wine runs every process as one and the same user, so
"another user cannot open the pipe" is shown by reading the pipe's access list back
(it grants the current user alone), and a pipe squatted by another program is shown with
a program of the same user: a second Windows user cannot be tried here.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.common import ScenarioServer, live_leases
from tests.support.api import Api
from tests.windows import wine
from tests.windows.agent import WindowsAgent

PROBE = Path(__file__).with_name("windows_probe.py")
FILE_ALL_ACCESS = 0x1F01FF
# Everyone, Users, Authenticated Users, Guests: who must not be in a private file's list.
OTHERS = {"S-1-1-0", "S-1-5-32-545", "S-1-5-11", "S-1-5-32-546"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScenarioServer]:
    """The real server on SQLite, for every test of this module: 60 s leases, 1 s heartbeat."""
    running = ScenarioServer(tmp_path_factory.mktemp("server"), lease_ttl=60,
                             heartbeat_interval=1)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def api(server: ScenarioServer) -> Iterator[Api]:
    client = Api(server.url, server.admin_token)
    yield client
    client.close()


@pytest.fixture
def make_agent(tmp_path: Path, server: ScenarioServer) -> Iterator[Any]:
    """`make_agent(name)`: a Windows agent with its own home (a device of its own)."""
    made: list[WindowsAgent] = []

    def make(name: str = "windows-pc", **kw: Any) -> WindowsAgent:
        agent = WindowsAgent(tmp_path / name, server_url=server.url, device_name=name, **kw)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.kill()


@pytest.fixture(scope="module")
def seated(tmp_path_factory: pytest.TempPathFactory, server: ScenarioServer,
           api: Api) -> Iterator[tuple[WindowsAgent, dict[str, Any]]]:
    """A Windows agent logged in with a password and running headless: (agent, license)."""
    account, license = api.new_account(seats=2)
    agent = WindowsAgent(tmp_path_factory.mktemp("seated"), server_url=server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    try:
        agent.wait_for("active")
        yield agent, license
    finally:
        agent.kill()


def _probe(*args: str, input: str = "") -> dict[str, Any]:
    done = wine.run_python([wine.windows_path(PROBE), *args], input=input)
    assert done.returncode == 0, done.stdout
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """True once `check()` is (the agent delivers a release from its outbox, at once)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_status_over_the_named_pipe(seated: tuple[WindowsAgent, dict[str, Any]],
                                    api: Api) -> None:
    """`status --json` reaches the running agent over its pipe: active, and the server agrees."""
    agent, license = seated
    status = agent.status()
    assert status["running"] is True
    assert status["state"] == "active"
    assert status["local_api"].startswith("\\\\.\\pipe\\seatkeeper-")
    leases = live_leases(api, license["id"])
    assert [lease["device"]["name"] for lease in leases] == ["windows-pc"]
    assert status["lease"]["lease_id"] == leases[0]["lease_id"]


def test_device_token_is_in_the_credential_manager(
        seated: tuple[WindowsAgent, dict[str, Any]]) -> None:
    """The login's token lands in the Windows Credential Manager, not in a file."""
    agent, _ = seated
    code = ("import keyring, os; from seatkeeper.config import Paths; "
            "from seatkeeper.service.credentials import CredentialStore; "
            "token = CredentialStore(Paths.resolve(os.environ).data_dir).load() or ''; "
            "print(type(keyring.get_keyring()).__name__, token[:4], len(token))")
    done = wine.run_python(["-c", code], env=agent.env)
    backend, prefix, length = done.stdout.split()
    assert (backend, prefix) == ("WinVaultKeyring", "skd_"), done.stdout
    assert int(length) > 20
    assert not (agent.data_dir / "device-token").exists()


def test_token_file_without_a_keyring_is_the_users_alone(make_agent: Any, api: Api) -> None:
    """With no keyring the token file and its folder let nobody else in (no Everyone, Users).

    Wine keeps no access lists on files: it derives them from the Unix mode, so after the
    agent's protected user-only list it shows the user plus SYSTEM (the group bits), where
    Windows keeps the user alone. Before it, the token file showed Everyone: read.
    """
    account, _ = api.new_account(seats=1)
    agent = make_agent(env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    agent.login(account["email"], account["password"])
    token = agent.data_dir / "device-token"
    assert token.read_text(encoding="ascii").startswith("skd_")
    for path in (token, agent.data_dir):
        acl = _probe("file-acl", wine.windows_path(path))
        grantees = {ace["sid"]: ace["mask"] for ace in acl["aces"]}
        assert grantees.get(acl["user"]) == FILE_ALL_ACCESS, (path, acl)
        assert not set(grantees) & OTHERS, (path, acl)


def test_second_run_is_refused(seated: tuple[WindowsAgent, dict[str, Any]]) -> None:
    """A second `run` while one runs says so and exits non-zero; the first runs on."""
    agent, _ = seated
    done = agent.cli("run", "--headless")
    assert done.returncode == 1, done.stdout
    assert "Seatkeeper is already running (pid " in done.stdout
    assert "seatkeeper status" in done.stdout
    assert "Traceback" not in done.stdout
    assert agent.alive and agent.status()["running"] is True


def test_pipe_grants_only_the_current_user(seated: tuple[WindowsAgent, dict[str, Any]]) -> None:
    """The pipe's access list, read back, grants the current user alone, who also owns it."""
    agent, _ = seated
    acl = _probe("acl", agent.status()["local_api"])
    assert acl["owner"] == acl["user"]
    assert acl["aces"] == [{"type": acl["allowed_type"], "flags": 0, "mask": FILE_ALL_ACCESS,
                            "sid": acl["user"]}]


def test_stalled_clients_do_not_block_others(
        seated: tuple[WindowsAgent, dict[str, Any]]) -> None:
    """With one client stuck mid-line and one watcher not reading, eight calls at once answer."""
    agent, _ = seated
    assert _probe("stall", agent.status()["local_api"]) == {"results": ["pong"] * 8}
    assert agent.status()["state"] == "active"


def test_release_and_logout_through_the_running_agent(make_agent: Any, api: Api,
                                                       server: ScenarioServer) -> None:
    """`release`, then `logout`, go through the running agent; the server frees the seat."""
    account, license = api.new_account(seats=1)
    agent = make_agent("office-pc")
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    (lease,) = live_leases(api, license["id"])
    done = agent.cli("release")
    assert done.returncode == 0 and "Seat released" in done.stdout, done.stdout
    assert _eventually(lambda: live_leases(api, license["id"]) == [])
    assert agent.wait_for("released")["running"] is True
    done = agent.cli("logout")
    assert done.returncode == 0 and "Logged out" in done.stdout, done.stdout
    assert _eventually(lambda: len(server.audit(lease["device"]["id"], "logout")) == 1)
    status = agent.status()
    assert (status["state"], status["running"]) == ("signed_out", True)


def test_killed_agent_leaves_no_lock_behind(make_agent: Any) -> None:
    """After the agent is killed, its lock file stays but the next `run` starts all the same."""
    agent = make_agent()
    agent.start()
    agent.kill()
    assert (agent.home / "run" / "agent.lock").exists()
    agent.start()
    assert agent.status()["running"] is True


def test_pipe_taken_by_another_program_is_refused(make_agent: Any) -> None:
    """A pipe of the agent's name made first by another program: `run` says so and stops."""
    agent = make_agent()
    status = agent.status()
    assert status["running"] is False
    name = status["local_api"]
    squatter = subprocess.Popen(
        wine.wine_command(wine.windows_path(PROBE), "squat", name), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=wine.wine_env())
    try:
        assert squatter.stdout is not None and squatter.stdout.readline().strip() == "ready"
        done = agent.cli("run", "--headless", timeout=30)
    finally:
        squatter.communicate(input="\n", timeout=30)
    assert done.returncode == 1, done.stdout
    assert f"The agent's control pipe {name} already exists" in done.stdout
    assert "Close the program that holds it" in done.stdout
    assert "Traceback" not in done.stdout
