"""The test harness itself: the real server starts on each backend and its API can be driven."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.agent import AgentProcess
from tests.support.api import Api
from tests.support.procs import ServerProcess


def test_server_answers_health(api: Api, backend: str) -> None:
    """The server answers GET /v1/health with 200 and status "ok" on every backend."""
    response = api.get("/v1/health")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


def test_created_account_can_log_in(api: Api) -> None:
    """An account made through the admin API can log in with its password."""
    account = api.create_account()
    device = api.login(account["email"], account["password"])
    assert device.token
    assert device.account is not None
    assert device.account["email"] == account["email"]


def test_short_server_shares_the_database(api: Api, short_api: Api) -> None:
    """An account created on `server` can log in on `short_server`: one database, two servers."""
    account = api.create_account()
    device = short_api.login(account["email"], account["password"])
    assert device.account is not None
    assert device.account["id"] == account["id"]


def test_server_logs_to_its_home(server: ServerProcess) -> None:
    """The server's output lands in the log file the harness shows when a start fails."""
    assert server.log_path.is_file()
    assert server.log_path.parent == server.home


def test_new_device_holds_and_releases_a_seat(api: Api) -> None:
    """`new_device` gives a logged-in device whose helpers acquire, heartbeat and release."""
    device = api.new_device(seats=1)
    assert device.license is not None
    acquired = device.acquire()
    assert acquired.status_code == 201, acquired.text
    lease = acquired.json()["lease"]
    assert lease["license"]["id"] == device.license["id"]
    assert device.heartbeat(lease["lease_id"]).status_code == 200
    assert device.release(lease["lease_id"], reason="user").status_code == 204


def test_short_server_hands_out_short_leases(short_api: Api) -> None:
    """`short_server` runs with a 2 s lease TTL and a 1 s heartbeat interval."""
    device = short_api.new_device()
    acquired = device.acquire()
    assert acquired.status_code == 201, acquired.text
    lease = acquired.json()["lease"]
    assert (lease["ttl_s"], lease["heartbeat_interval_s"]) == (2, 1)


def test_a_dead_daemon_is_never_taken_for_a_running_one(api: Api, tmp_path: Path) -> None:
    """The daemon dies by itself: status() and wait_for() fail at once (no CLI fallback that
    rebuilds an `active` state from disk), and teardown reports its exit status."""
    account, _license = api.new_account(seats=1)
    agent = AgentProcess(tmp_path / "crashing-pc", server_url=api.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    assert agent.pid is not None
    os.kill(agent.pid, signal.SIGKILL)  # not through agent.kill(): the test did not mean it
    started = time.monotonic()
    with pytest.raises(AssertionError, match="exited by itself"):
        agent.wait_for("active")
    assert time.monotonic() - started < 5
    assert agent.cli("status", "--json").stdout.count('"active"') == 1  # what the CLI would say
    agent.start()
    agent.wait_for("active")
    os.kill(agent.pid, signal.SIGKILL)
    with pytest.raises(AssertionError, match="ended with status -9"):
        agent.close()


def test_teardown_accepts_a_daemon_the_test_killed(api: Api, tmp_path: Path) -> None:
    """A daemon ended by `kill()` on purpose is no teardown failure; the CLI then answers."""
    agent = AgentProcess(tmp_path / "killed-pc", server_url=api.url)
    agent.start()
    agent.kill()
    assert agent.status()["state"] == "signed_out"
    agent.close()
