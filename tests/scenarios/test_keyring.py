"""The desktop's own keyring holds the device token: a real Secret Service (gnome-keyring)."""

from __future__ import annotations

import logging
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from seatkeeper.service import secret_helper
from seatkeeper.service.credentials import CredentialStore

from tests.scenarios.common import ScenarioServer
from tests.scenarios.conftest import AgentFactory
from tests.support.agent import AgentProcess
from tests.support.api import Api
from tests.support.secret_service import SecretService, missing


@pytest.fixture
def secret_service(tmp_path: Path) -> Iterator[SecretService]:
    """gnome-keyring on this test's own session bus, its login keyring unlocked."""
    problem = missing()
    if problem is not None:
        pytest.skip(f"{problem}; scripts/test installs it when run as root")
    with SecretService(tmp_path / "keyring") as service:
        yield service


def test_the_token_lives_in_the_keyring_and_logout_removes_it(
        secret_service: SecretService, scenario_server: ScenarioServer, scenario_api: Api,
        make_agent: AgentFactory) -> None:
    """With a Secret Service on the session bus (keyring's default choice), the token is
    kept there, never in a file; the daemon uses it; Log Out deletes it."""
    account, _license = scenario_api.new_account(seats=1)
    agent = make_agent("desktop-pc", server_url=scenario_server.url,
                       env={**secret_service.env, "PYTHON_KEYRING_BACKEND": None})
    agent.login(account["email"], account["password"])
    stored = secret_service.secrets("seatkeeper")
    assert len(stored) == 1, stored
    [token] = stored.values()
    assert token.startswith("skd_")
    assert not (agent.data_dir / "device-token").exists(), "the token went to a file"
    authorized = {"Authorization": f"Bearer {token}"}
    assert scenario_api.get("/v1/account", headers=authorized).status_code == 200

    agent.start()
    agent.wait_for("active")
    assert "no OS keyring" not in agent.logs_text()
    assert "keeping it in an owner-only file" not in agent.logs_text()
    assert agent.cli("logout").returncode == 0
    agent.wait_for("signed_out", until=lambda s: not s["pending"])
    assert eventually(lambda: secret_service.secrets("seatkeeper") == {}), \
        "logout left the token in the keyring"
    assert scenario_api.get("/v1/account", headers=authorized).status_code == 401
    assert no_token_in_file(agent.data_dir)


def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Whether `check()` holds within `timeout_s` (the keyring's work done in the background)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def no_token_in_file(data_dir: Path) -> bool:
    """No device token in the owner-only file (absent, or empty as a Log Out leaves it)."""
    path = data_dir / "device-token"
    return not path.exists() or path.read_text(encoding="ascii").strip() == ""


# What keyring's Secret Service and KWallet backends load, as the daemon's memory map shows
# them: cryptography's Rust binding (secretstorage imports it with jeepney, for the
# service's encrypted session), dbus-python's, libsecret through GObject's.
COSTLY_LIBRARIES = ("cryptography/hazmat/bindings/_rust", "_dbus_bindings", "libsecret-1.so")


def costly_libraries(pid: int) -> list[str]:
    """The lines of /proc/PID/maps naming one of the keyring libraries the daemon avoids."""
    maps = Path(f"/proc/{pid}/maps").read_text(encoding="ascii", errors="replace")
    return [line for line in maps.splitlines() if any(lib in line for lib in COSTLY_LIBRARIES)]


def test_the_headless_daemon_keeps_the_keyring_libraries_out_of_its_memory(
        secret_service: SecretService, scenario_server: ScenarioServer, scenario_api: Api,
        make_agent: AgentFactory) -> None:
    """A headless daemon signed in with its token in the Secret Service writes, reads back
    after a restart, and deletes at Log Out that token without ever loading secretstorage
    or cryptography itself (a short-lived child does the keyring's work)."""
    account, _license = scenario_api.new_account(seats=1)
    agent = make_agent("headless-pc", server_url=scenario_server.url,
                       env={**secret_service.env, "PYTHON_KEYRING_BACKEND": None})
    agent.start()
    assert agent.pid is not None
    agent.control("login", email=account["email"], password=account["password"],
                  server_url=scenario_server.url)
    agent.wait_for("active")
    # Stored beside the seat request, so it may come a moment after the seat.
    assert eventually(lambda: len(secret_service.secrets("seatkeeper")) == 1)
    [token] = secret_service.secrets("seatkeeper").values()
    assert not (agent.data_dir / "device-token").exists(), "the token went to a file"
    assert scenario_api.get("/v1/account", headers={"Authorization": f"Bearer {token}"}
                            ).status_code == 200
    assert costly_libraries(agent.pid) == []

    agent.stop()
    agent.start()
    assert agent.pid is not None
    # Active again: a seat, which needs the token, read back from the keyring.
    assert agent.wait_for("active")["account"] == account["email"]
    assert costly_libraries(agent.pid) == []
    assert not (agent.data_dir / "device-token").exists()

    assert agent.cli("logout").returncode == 0
    agent.wait_for("signed_out", until=lambda s: not s["pending"])
    assert eventually(lambda: secret_service.secrets("seatkeeper") == {}), \
        "logout left the token in the keyring"
    assert costly_libraries(agent.pid) == []
    log = agent.logs_text()
    assert token not in log
    assert "keyring" not in log, log  # neither refused nor unreadable nor absent


TOKEN = "skd_" + "k" * 40


@pytest.fixture
def desktop_env(secret_service: SecretService, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's environment as a desktop's, so the children it starts find the bus."""
    for key, value in secret_service.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(secret_service.home / ".config"))


@pytest.mark.usefixtures("desktop_env")
def test_a_keyring_that_never_answers_leaves_the_token_in_the_owner_only_file(
        secret_service: SecretService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A Secret Service that hangs is given up after the child's timeout: the token goes to
    the owner-only file as when the keyring refuses it, and the log says why, not the token."""
    monkeypatch.setattr(secret_helper, "TIMEOUT_S", 2.0)
    (tmp_path / "data").mkdir()
    store = CredentialStore(tmp_path / "data")
    caplog.set_level(logging.WARNING)
    with secret_service.frozen():
        started = time.monotonic()
        store.save(TOKEN)
        store.finish(timeout_s=10)
        took = time.monotonic() - started
    assert 2.0 <= took < 10, took
    assert store.file.read_text(encoding="ascii").strip() == TOKEN
    assert stat.S_IMODE(store.file.stat().st_mode) == 0o600
    assert "refused the device token (no answer within 2 s)" in caplog.text
    assert TOKEN not in caplog.text
    assert store.load() == TOKEN  # the file first, no keyring asked
    assert secret_service.secrets("seatkeeper") == {}
    store.clear()
    assert no_token_in_file(store.data_dir)
    assert store.load() is None


def test_where_no_keyring_works_the_child_says_so_and_the_file_is_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """No session bus and no keyring configured: the child finds no backend, and the store
    does as it did when it resolved none itself (the owner-only file, said once)."""
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "data").mkdir()
    store = CredentialStore(tmp_path / "data")
    caplog.set_level(logging.WARNING)
    assert store.load() is None
    assert not store.use_keyring, "the child's answer was not kept"
    store.save(TOKEN)
    assert "no OS keyring is available" in caplog.text
    assert TOKEN not in caplog.text
    assert stat.S_IMODE(store.file.stat().st_mode) == 0o600
    assert CredentialStore(tmp_path / "data").load() == TOKEN


@pytest.mark.usefixtures("desktop_env")
def test_a_child_that_dies_leaves_the_token_in_the_owner_only_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A child that dies at once (its interpreter finds no standard library) is a refusal:
    the token goes to the owner-only file and the log gives the child's exit status."""
    monkeypatch.setenv("PYTHONHOME", str(tmp_path / "nowhere"))
    (tmp_path / "data").mkdir()
    store = CredentialStore(tmp_path / "data")
    caplog.set_level(logging.WARNING)
    store.save(TOKEN)
    store.finish(timeout_s=10)
    assert "refused the device token (exit status 1)" in caplog.text
    assert TOKEN not in caplog.text
    assert stat.S_IMODE(store.file.stat().st_mode) == 0o600
    assert store.load() == TOKEN


def keyring_agent(secret_service: SecretService, scenario_server: ScenarioServer,
                  scenario_api: Api, make_agent: AgentFactory, name: str
                  ) -> tuple[AgentProcess, dict[str, Any]]:
    """A headless daemon on the keyring's bus, started, and an account for it to log in to."""
    account, _license = scenario_api.new_account(seats=1)
    agent = make_agent(name, server_url=scenario_server.url,
                       env={**secret_service.env, "PYTHON_KEYRING_BACKEND": None})
    agent.start()
    return agent, account


def log_in(agent: AgentProcess, account: dict[str, Any], url: str) -> dict[str, Any]:
    status: dict[str, Any] = agent.control("login", email=account["email"],
                                           password=account["password"], server_url=url)
    return status


def test_log_out_answers_at_once_and_the_keyring_delete_follows(
        secret_service: SecretService, scenario_server: ScenarioServer, scenario_api: Api,
        make_agent: AgentFactory) -> None:
    """Log Out's call returns once the logout is queued, without waiting for the keyring
    (stopped here, answering nothing); the token's item is gone soon after it answers."""
    agent, account = keyring_agent(secret_service, scenario_server, scenario_api, make_agent,
                                   "quick-logout-pc")
    log_in(agent, account, scenario_server.url)
    agent.wait_for("active")
    assert eventually(lambda: len(secret_service.secrets("seatkeeper")) == 1)
    with secret_service.frozen():
        started = time.monotonic()
        status = agent.control("logout")
        took = time.monotonic() - started
    assert took < 5.0, f"Log Out's call waited for the keyring ({took:.1f} s)"
    assert status["account"] is None and status["state"] in ("logout_pending", "signed_out")
    assert eventually(lambda: secret_service.secrets("seatkeeper") == {}), \
        "the token's delete from the keyring never came"
    agent.wait_for("signed_out", until=lambda s: not s["pending"])


def test_a_stop_right_after_log_in_keeps_the_token(
        secret_service: SecretService, scenario_server: ScenarioServer, scenario_api: Api,
        make_agent: AgentFactory) -> None:
    """The session ends (SIGTERM) right after Log In, the keyring not answering: the daemon
    still exits in time, the token in the owner-only file, and the next start is logged in."""
    agent, account = keyring_agent(secret_service, scenario_server, scenario_api, make_agent,
                                   "quick-quit-pc")
    with secret_service.frozen():
        started = time.monotonic()
        status = log_in(agent, account, scenario_server.url)
        assert time.monotonic() - started < 5.0, "Log In waited for the keyring"
        assert status["account"] == account["email"]
        assert agent.stop() == 0
        took = time.monotonic() - started
    assert took < 10.0, took
    token = agent.device_token()
    assert token.startswith("skd_"), "the token was lost"
    assert stat.S_IMODE((agent.data_dir / "device-token").stat().st_mode) == 0o600
    log = agent.logs_text()
    assert "the OS keyring has not stored the device token in 2 s" in log
    assert token not in log
    agent.start()
    assert agent.wait_for("active")["account"] == account["email"]


def test_a_restart_after_log_out_is_logged_out_though_the_delete_did_not_finish(
        secret_service: SecretService, scenario_server: ScenarioServer, scenario_api: Api,
        make_agent: AgentFactory) -> None:
    """Stopped right after Log Out, its delete from the keyring cut short (the keyring not
    answering): the token is still in the keyring, yet the next start is logged out."""
    agent, account = keyring_agent(secret_service, scenario_server, scenario_api, make_agent,
                                   "logout-stop-pc")
    log_in(agent, account, scenario_server.url)
    agent.wait_for("active")
    assert eventually(lambda: len(secret_service.secrets("seatkeeper")) == 1)
    with secret_service.frozen():
        agent.control("logout")
        assert agent.stop() == 0
    assert len(secret_service.secrets("seatkeeper")) == 1, "the delete was not cut short"
    agent.start()
    status = agent.status()
    assert status["account"] is None, status
    assert status["state"] in ("logout_pending", "signed_out"), status
    agent.wait_for("signed_out", until=lambda s: not s["pending"])


@pytest.mark.usefixtures("desktop_env")
def test_the_token_is_read_ahead_only_where_the_keyring_holds_it(
        secret_service: SecretService, tmp_path: Path) -> None:
    """`read_ahead` starts the keyring's child at once, and `load` takes the answer it has
    already (the keyring stopped meanwhile); where the file answers (a Log Out left it
    empty), no child is started."""
    data = tmp_path / "data"
    data.mkdir()
    first = CredentialStore(data)
    first.save(TOKEN)
    first.finish(timeout_s=10)
    assert secret_service.secrets("seatkeeper") == {first.user: TOKEN}

    ahead = CredentialStore(data)
    ahead.read_ahead()
    reading = ahead._reading
    assert reading is not None, "no child was started"
    assert eventually(lambda: reading._proc.poll() is not None), "the child did not finish"
    with secret_service.frozen():
        assert ahead.load() == TOKEN

    ahead.clear()
    ahead.finish(timeout_s=10)
    assert secret_service.secrets("seatkeeper") == {}
    after_logout = CredentialStore(data)
    after_logout.read_ahead()
    assert after_logout._reading is None, "a child was started though the file answers"
    assert after_logout.load() is None
