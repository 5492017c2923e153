"""Shutdown, session end and sleep: the seat goes back in time, and comes back after resume.

The agent listens to a logind mock on a private system bus (`tests/support/logind.py`),
which hands out real inhibitor file descriptors and notes, the moment one is
closed, which leases the server's database shows as released.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.common import ScenarioServer
from tests.scenarios.conftest import AgentFactory
from tests.support.agent import AgentProcess
from tests.support.api import Api
from tests.support.logind import Logind, start_logind
from tests.support.proxy import FaultProxy

pytest.importorskip("dbusmock", reason="python-dbusmock is in the test extra")

BUDGET_S = 2.0
SLACK_S = 0.3  # D-Bus round trips and a busy two-core machine, on top of the budget


@pytest.fixture
def logind(scenario_server: ScenarioServer) -> Iterator[Logind]:
    """A logind mock on a private system bus, probing the scenario server's database."""
    yield from start_logind(scenario_server.db_path)


def hooked(make_agent: AgentFactory, logind: Logind, name: str, url: str) -> AgentProcess:
    return make_agent(name, server_url=url,
                      env={"SEATKEEPER_PLATFORM": "linux",
                           "DBUS_SYSTEM_BUS_ADDRESS": logind.address})


def lease_row(db_path: Path, lease_id: str) -> dict[str, Any]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM leases WHERE id = ?", (lease_id,)).fetchone()
    assert row is not None, lease_id
    return dict(row)


def started(agent: AgentProcess, account: dict[str, Any]) -> str:
    """Log in, run, wait for a seat; the lease id."""
    agent.login(account["email"], account["password"])
    agent.start()
    status = agent.wait_for("active")
    lease_id: str = status["lease"]["lease_id"]
    return lease_id


def test_shutdown_releases_the_seat_before_letting_go_of_the_lock(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory,
        logind: Logind) -> None:
    """On PrepareForShutdown the server shows the seat released before the lock closes, in 2 s."""
    account, _ = scenario_api.new_account(seats=1)
    agent = hooked(make_agent, logind, "desk-pc", scenario_server.url)
    lease_id = started(agent, account)
    logind.wait_for_locks(["shutdown", "sleep"])

    sent = logind.emit("PrepareForShutdown", True)
    logind.wait_for_locks(["sleep"], timeout=BUDGET_S + 2)
    [drop] = logind.drops("shutdown")
    assert lease_id in drop["released"], "the lock was let go before the seat was released"
    assert drop["at"] - sent < BUDGET_S + SLACK_S, drop["at"] - sent
    assert lease_row(scenario_server.db_path, lease_id)["release_reason"] == "shutdown"
    status = agent.status()
    assert status["state"] == "released" and status["account"] == account["email"]


def test_shutdown_during_an_outage_queues_the_release_and_still_lets_go_in_time(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory,
        logind: Logind, proxy: FaultProxy) -> None:
    """Server stalled: the release waits in the outbox, the lock closes within the budget;
    the next start delivers that release (once) before taking a new seat."""
    account, _ = scenario_api.new_account(seats=1)
    agent = hooked(make_agent, logind, "field-pc", proxy.url)
    lease_id = started(agent, account)
    logind.wait_for_locks(["shutdown", "sleep"])

    proxy.stall()
    sent = logind.emit("PrepareForShutdown", True)
    logind.wait_for_locks(["sleep"], timeout=BUDGET_S + 2)
    [drop] = logind.drops("shutdown")
    assert drop["at"] - sent < BUDGET_S + SLACK_S, drop["at"] - sent
    assert lease_id not in drop["released"]
    pending = agent.status()["pending"]
    assert [item["kind"] for item in pending] == ["release"], pending

    agent.kill()  # the machine went down
    proxy.cut()
    proxy.restore()
    agent.start()
    # The next start delivers the queued release first, then takes a new seat.
    again = agent.wait_for("active", until=lambda s: not s["pending"])
    assert lease_row(scenario_server.db_path, lease_id)["release_reason"] == "shutdown"
    assert proxy.forwarded("DELETE", f"/v1/seats/{lease_id}") == 1
    assert again["lease"]["lease_id"] != lease_id


def test_cancelled_shutdown_takes_the_seat_and_the_lock_again(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory,
        logind: Logind) -> None:
    """PrepareForShutdown(false) after (true): a seat again, and a new shutdown lock."""
    account, _ = scenario_api.new_account(seats=1)
    agent = hooked(make_agent, logind, "lab-pc", scenario_server.url)
    started(agent, account)
    logind.wait_for_locks(["shutdown", "sleep"])
    logind.emit("PrepareForShutdown", True)
    agent.wait_for("released")
    logind.emit("PrepareForShutdown", False)
    agent.wait_for("active")
    logind.wait_for_locks(["shutdown", "sleep"])


def test_shutdown_release_can_be_turned_off(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory,
        logind: Logind) -> None:
    """With release_on_shutdown = false the seat is kept and the lock still let go."""
    account, _ = scenario_api.new_account(seats=1)
    agent = hooked(make_agent, logind, "kiosk-pc", scenario_server.url)
    agent.write_config(release_on_shutdown=False)
    lease_id = started(agent, account)
    logind.wait_for_locks(["shutdown", "sleep"])
    logind.emit("PrepareForShutdown", True)
    logind.wait_for_locks(["sleep"])
    assert lease_row(scenario_server.db_path, lease_id)["released_at"] is None
    assert agent.status()["state"] == "active"


def test_refused_lock_is_logged_and_the_agent_runs_on(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory,
        tmp_path: Path) -> None:
    """No logind on the bus (the lock cannot be had): a warning, and the seat as usual."""
    account, _ = scenario_api.new_account(seats=1)
    agent = make_agent("no-logind-pc", server_url=scenario_server.url,
                       env={"SEATKEEPER_PLATFORM": "linux",
                            "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"})
    started(agent, account)
    assert "shutdown release relies on SIGTERM" in agent.logs_text()
    assert agent.alive
