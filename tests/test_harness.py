"""The test harness itself: the real server starts on each backend and its API can be driven."""

from __future__ import annotations

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
