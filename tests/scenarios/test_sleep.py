"""Sleep and resume: a heartbeat at once on waking, and a seat again if the lease ran out."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scenarios.common import ScenarioServer
from tests.support.agent import AgentProcess
from tests.support.api import Api
from tests.support.logind import Logind, start_logind

pytest.importorskip("dbusmock", reason="python-dbusmock is in the test extra")

# A long heartbeat interval, so a heartbeat within a second of waking is the resume's doing.
SLOW_HEARTBEAT_S = 60


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScenarioServer]:
    server = ScenarioServer(tmp_path_factory.mktemp("sleep-server"), lease_ttl=600,
                            heartbeat_interval=SLOW_HEARTBEAT_S)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def logind(slow_server: ScenarioServer) -> Iterator[Logind]:
    yield from start_logind(slow_server.db_path)


@pytest.fixture
def agent(slow_server: ScenarioServer, logind: Logind, tmp_path: Path) -> Iterator[AgentProcess]:
    """An agent holding a seat on the slow server, with the logind hooks on."""
    api = Api(slow_server.url, slow_server.admin_token)
    account, _ = api.new_account(seats=1)
    api.close()
    with AgentProcess(tmp_path / "laptop", server_url=slow_server.url, device_name="laptop",
                      env={"SEATKEEPER_PLATFORM": "linux",
                           "DBUS_SYSTEM_BUS_ADDRESS": logind.address}) as proc:
        proc.login(account["email"], account["password"])
        proc.start()
        proc.wait_for("active")
        logind.wait_for_locks(["shutdown", "sleep"])
        yield proc


def lease(db_path: Path, lease_id: str) -> sqlite3.Row:
    with sqlite3.connect(db_path) as db:
        db.row_factory = sqlite3.Row
        row: sqlite3.Row = db.execute("SELECT * FROM leases WHERE id = ?",
                                      (lease_id,)).fetchone()
    return row


def test_resume_heartbeats_at_once_and_takes_the_sleep_lock_again(
        slow_server: ScenarioServer, logind: Logind, agent: AgentProcess) -> None:
    """Going to sleep lets the sleep lock go; waking heartbeats now (not in a minute)."""
    status = agent.status()
    lease_id, expires = status["lease"]["lease_id"], status["lease"]["expires_at"]
    logind.emit("PrepareForSleep", True)
    logind.wait_for_locks(["shutdown"])
    time.sleep(1.1)  # the server's clock counts seconds: let the renewal show
    logind.emit("PrepareForSleep", False)
    renewed = agent.wait_for("active", timeout=3,
                             until=lambda s: s["lease"]["expires_at"] != expires)
    assert renewed["lease"]["lease_id"] == lease_id
    logind.wait_for_locks(["shutdown", "sleep"])


def test_a_lease_that_expired_during_sleep_is_acquired_again(
        slow_server: ScenarioServer, logind: Logind, agent: AgentProcess) -> None:
    """The lease ran out while asleep: on waking the agent takes a new seat by itself."""
    old = agent.status()["lease"]["lease_id"]
    logind.emit("PrepareForSleep", True)
    logind.wait_for_locks(["shutdown"])
    with sqlite3.connect(slow_server.db_path) as db:  # a long sleep, as the server sees it
        db.execute("UPDATE leases SET expires_at = ? WHERE id = ?", (int(time.time()) - 1, old))
    logind.emit("PrepareForSleep", False)
    fresh = agent.wait_for("active", timeout=5, until=lambda s: s["lease"]["lease_id"] != old)
    assert fresh["lease"]["lease_id"] != old
    assert "ended on the server" in agent.logs_text()


def test_network_change_is_a_connectivity_hint(logind: Logind, agent: AgentProcess) -> None:
    """NetworkManager's StateChanged reaches the agent as a hint to try what waits."""
    logind.emit_network()
    deadline = time.monotonic() + 5
    while "the network changed" not in agent.logs_text():
        assert time.monotonic() < deadline, agent.logs_tail()
        time.sleep(0.1)
