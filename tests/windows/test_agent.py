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
        agent.close()


def _probe(*args: str, input: str = "") -> dict[str, Any]:
    done = wine.run_python([wine.windows_path(PROBE), *args], input=input)
    assert done.returncode == 0, f"the probe {args[0]} exited {done.returncode}:\n{done.stdout}"
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


def test_pipe_server_answers_streams_and_stops_at_once() -> None:
    """The pipe server answers, streams a watch to its end, stops within a second with a
    client connected, and then a client is told no agent runs."""
    name = "\\\\.\\pipe\\seatkeeper-probe-" + str(time.time_ns())
    result = _probe("serve", name)
    assert result["answers"] == [{"op": "echo", "a": 1}, [1, 2]]
    assert result["stop_s"] < 1.0
    assert result["after"] == f"AgentNotRunning: no Seatkeeper agent is running ({name})"


def test_release_and_logout_through_the_running_agent(make_agent: Any, api: Api,
                                                       server: ScenarioServer) -> None:
    """`release`, then `logout`, go through the running agent; the server frees the seat."""
    account, license = api.new_account(seats=1)
    agent = make_agent("office-pc")
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    (lease,) = live_leases(api, license["id"])
    watcher = subprocess.Popen(
        wine.wine_command("-m", "seatkeeper", "status", "--watch", "--json"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=wine.wine_env(agent.env))
    assert watcher.stdout is not None and '"active"' in watcher.stdout.readline()
    done = agent.cli("release")
    assert done.returncode == 0 and "Seat released" in done.stdout, done.stdout
    assert _eventually(lambda: live_leases(api, license["id"]) == [])
    assert agent.wait_for("released")["running"] is True
    done = agent.cli("logout")
    assert done.returncode == 0 and "Logged out" in done.stdout, done.stdout
    assert _eventually(lambda: len(server.audit(lease["device"]["id"], "logout")) == 1)
    status = agent.status()
    assert (status["state"], status["running"]) == ("signed_out", True)
    watcher.kill()
    seen = [json.loads(line)["state"] for line in watcher.communicate(timeout=30)[0].splitlines()]
    assert seen[0] == "released" and seen[-1] == "signed_out", seen


def test_killed_agent_leaves_no_lock_behind(make_agent: Any) -> None:
    """After the agent is killed, its lock file stays but the next `run` starts all the same."""
    agent = make_agent()
    agent.start()
    agent.kill()
    assert (agent.home / "run" / "agent.lock").exists()
    agent.start()
    assert agent.status()["running"] is True


class Squatter:
    """A program holding a pipe of the agent's name; `received` counts what reached it."""

    def __init__(self, name: str, *owner: str) -> None:
        self._proc = subprocess.Popen(
            wine.wine_command(wine.windows_path(PROBE), "squat", name, *owner),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=wine.wine_env())
        assert self._proc.stdout is not None
        assert self._proc.stdout.readline().strip() == "ready"

    def __enter__(self) -> Squatter:
        return self

    def __exit__(self, *exc: object) -> None:
        out = self._proc.communicate(input="\n", timeout=30)[0]
        self.received = json.loads(out.strip().splitlines()[-1])["received"]


def test_pipe_taken_by_another_program_is_refused(make_agent: Any) -> None:
    """A pipe of the agent's name made first by another program: `run` says so and stops."""
    agent = make_agent()
    status = agent.status()
    assert status["running"] is False
    name = status["local_api"]
    with Squatter(name):
        done = agent.cli("run", "--headless", timeout=30)
    assert done.returncode == 1, done.stdout
    assert f"The agent's control pipe {name} already exists" in done.stdout
    assert "Close the program that holds it" in done.stdout
    assert "Traceback" not in done.stdout


def test_cli_sends_nothing_to_a_pipe_owned_by_someone_else(make_agent: Any) -> None:
    """A pipe of the agent's name owned by another principal: `login` refuses to use it, and
    the password never reaches it (Administrators stand in for another user here)."""
    agent = make_agent()
    name = agent.status()["local_api"]
    with Squatter(name, "admins") as squatter:
        done = agent.cli("login", "--email", "ann@example.test", "--password-stdin",
                         input="s3cret-password\n", timeout=30)
    assert done.returncode == 1, done.stdout
    assert f"The control pipe {name} belongs to another user" in done.stdout
    assert "nothing was sent to it" in done.stdout and "Traceback" not in done.stdout
    assert squatter.received == 0


def test_two_data_folders_are_two_agents_on_two_pipes(make_agent: Any, api: Api) -> None:
    """Two SEATKEEPER_HOMEs run side by side: two pipes, two devices, two seats, and each
    command line reaches its own agent."""
    account, license = api.new_account(seats=2)
    first, second = make_agent("desk-a"), make_agent("desk-b")
    for agent in (first, second):
        agent.login(account["email"], account["password"])
        agent.start()
    shown = [agent.wait_for("active") for agent in (first, second)]
    pipes = [status["local_api"] for status in shown]
    assert all(pipe.startswith("\\\\.\\pipe\\seatkeeper-") for pipe in pipes), pipes
    assert pipes[0] != pipes[1]
    assert [status["device"] for status in shown] == ["desk-a", "desk-b"], shown
    names = sorted(lease["device"]["name"] for lease in live_leases(api, license["id"]))
    assert names == ["desk-a", "desk-b"]
    done = second.cli("release")
    assert done.returncode == 0, done.stdout
    assert _eventually(lambda: [lease["device"]["name"] for lease in
                                live_leases(api, license["id"])] == ["desk-a"])
    assert first.status()["state"] == "active"
