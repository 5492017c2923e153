"""Seats between devices: the limit, giving a seat back, one agent per home, remote takeaway."""

from __future__ import annotations

import time

from tests.scenarios.common import ScenarioServer, live_leases
from tests.scenarios.conftest import AgentFactory
from tests.support.api import Api
from tests.support.proxy import FaultProxy


def test_second_device_sees_who_holds_the_seat_and_gets_it_after_logout(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """With one seat, the second device names the holder, then takes the seat once it is free."""
    account, license = scenario_api.new_account(seats=1)
    office = make_agent("office-pc", server_url=scenario_server.url)
    laptop = make_agent("survey-laptop", server_url=scenario_server.url, seat_retry_s=1)
    for agent in (office, laptop):
        agent.login(account["email"], account["password"])
    office.start()
    office.wait_for("active")
    laptop.start()

    blocked = laptop.wait_for("seat_limit_reached")
    assert [holder["name"] for holder in blocked["seat_holders"]] == ["office-pc"]
    assert blocked["message"]
    assert laptop.cli("status").stdout.count("In use on: office-pc") == 1

    logout = office.cli("logout")
    assert logout.returncode == 0, logout.stderr
    assert "Logged out" in logout.stdout
    assert office.status()["state"] == "signed_out"

    active = laptop.wait_for("active", timeout=10)  # seat_retry_s = 1
    assert active["seat_holders"] == []
    holders = [lease["device"]["name"] for lease in live_leases(scenario_api, license["id"])]
    assert holders == ["survey-laptop"]


def test_release_gives_the_seat_back_and_acquire_takes_it_again(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """`release` frees the seat on the server but stays logged in; `acquire` takes it again."""
    account, license = scenario_api.new_account(seats=1)
    agent = make_agent("drafting-pc", server_url=scenario_server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")

    released = agent.cli("release")
    assert released.returncode == 0, released.stderr
    assert "stay logged in" in released.stdout
    status = agent.wait_for("released")
    assert status["account"] == account["email"]
    assert status["lease"] is None
    deadline = time.monotonic() + 10
    while live_leases(scenario_api, license["id"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live_leases(scenario_api, license["id"]) == []
    time.sleep(1.5)  # more than a heartbeat interval: no seat is taken behind the user's back
    assert agent.status()["state"] == "released"
    assert live_leases(scenario_api, license["id"]) == []

    acquired = agent.cli("acquire")
    assert acquired.returncode == 0, acquired.stderr
    active = agent.wait_for("active")
    [lease] = live_leases(scenario_api, license["id"])
    assert lease["lease_id"] == active["lease"]["lease_id"]
    assert lease["device"]["name"] == "drafting-pc"


def test_second_run_for_the_same_home_says_one_is_running(
        scenario_server: ScenarioServer, make_agent: AgentFactory) -> None:
    """A second `seatkeeper run` on the same home refuses, names the running one, exits 1."""
    agent = make_agent("twice-pc", server_url=scenario_server.url)
    agent.start()
    second = agent.cli("run", "--headless", timeout=20)
    assert second.returncode != 0
    assert "already running" in second.stderr
    assert str(agent.pid) in second.stderr
    assert agent.alive
    assert agent.status()["running"] is True


def test_remote_deactivation_shows_revoked_and_does_not_take_the_seat_back(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """Deactivated from another device, the agent shows `revoked` by whom, and stays seatless."""
    account, license = scenario_api.new_account(seats=2)
    office = make_agent("office-pc", server_url=scenario_server.url)
    phone = make_agent("home-laptop", server_url=scenario_server.url)
    for agent in (office, phone):
        agent.login(account["email"], account["password"])
    switched = phone.cli("remote-deactivation", "on")  # no seat is held yet: allowed
    assert switched.returncode == 0, switched.stderr
    assert "is on" in switched.stdout
    office.start()
    office.wait_for("active")

    office_id = office.session()["device_id"]
    deactivated = phone.cli("devices", "--deactivate", office_id)
    assert deactivated.returncode == 0, deactivated.stderr
    assert "office-pc" in deactivated.stdout

    revoked = office.wait_for("revoked", timeout=10)  # at its next heartbeat (every 1 s)
    assert revoked["revoked_by"] == "another device of your account"
    assert revoked["message"]
    assert live_leases(scenario_api, license["id"]) == []
    time.sleep(3)  # three heartbeat intervals: it must not ask for a seat again
    assert office.status()["state"] == "revoked"
    assert live_leases(scenario_api, license["id"]) == []
    assert len(scenario_server.audit(office_id, "acquire")) == 1
    assert office.alive


def test_seat_taken_again_before_a_queued_release_lands_stays_held(
        scenario_server: ScenarioServer, scenario_api: Api, proxy: FaultProxy,
        make_agent: AgentFactory) -> None:
    """Released offline, then `acquire` as the network returns: `active` means a live seat."""
    account, license = scenario_api.new_account(seats=1)
    agent = make_agent("return-pc", server_url=proxy.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    proxy.cut()
    agent.wait_for("offline", timeout=10)
    assert agent.control("release")["state"] == "released"
    deadline = time.monotonic() + 5
    while agent.status()["pending"][0]["attempts"] < 1:  # tried, failed, waits for a retry
        assert time.monotonic() < deadline, agent.status()
        time.sleep(0.05)
    proxy.restore()
    agent.control("acquire")  # before the queued release has had its next try

    deadline = time.monotonic() + 3  # the outbox retries within ~2 s; heartbeats every 1 s
    seen_active = 0
    while time.monotonic() < deadline:
        status = agent.status()
        if status["state"] == "active":
            live = [lease["lease_id"] for lease in live_leases(scenario_api, license["id"])]
            if agent.status()["lease"] == status["lease"]:  # not renewed meanwhile
                assert status["lease"]["lease_id"] in live, (status, live)
                seen_active += 1
        time.sleep(0.05)
    assert seen_active > 10
    assert agent.status()["pending"] == []
    # Had the late release ended it, the next heartbeat would have found the seat gone.
    assert "ended on the server" not in agent.logs_text()
