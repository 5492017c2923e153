"""The choices a refusal offers: continue in Discovery mode, or use another license."""

from __future__ import annotations

import time

from tests.scenarios.common import ScenarioServer, live_leases
from tests.scenarios.conftest import AgentFactory
from tests.support.api import Api


def test_use_another_license_takes_a_seat_of_that_license(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """`acquire` with a license id gives back the seat held and takes one of that license."""
    account, first = scenario_api.new_account(seats=1)
    second = scenario_api.create_license(account["id"], name="PIX4Dmatic Yearly", seats=1)
    agent = make_agent("survey-laptop", server_url=scenario_server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    assert agent.wait_for("active")["license"]["name"] == "PIX4Dmapper Yearly"

    agent.control("release")
    agent.wait_for("released")
    agent.control("acquire", license_id=second["id"])
    status = agent.wait_for("active")
    assert status["license"]["name"] == "PIX4Dmatic Yearly"
    assert [lease["device"]["name"] for lease in live_leases(scenario_api, second["id"])] == [
        "survey-laptop"]
    deadline = time.monotonic() + 10
    while live_leases(scenario_api, first["id"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live_leases(scenario_api, first["id"]) == []


def test_continue_in_discovery_mode_stops_asking_for_a_seat(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """After "Continue in Discovery mode" a freed seat is not taken until the user asks."""
    account, license = scenario_api.new_account(seats=1)
    office = make_agent("office-pc", server_url=scenario_server.url)
    laptop = make_agent("survey-laptop", server_url=scenario_server.url, seat_retry_s=1)
    for agent in (office, laptop):
        agent.login(account["email"], account["password"])
    office.start()
    office.wait_for("active")
    laptop.start()
    laptop.wait_for("seat_limit_reached")

    chosen = laptop.control("discovery")
    assert chosen["state"] == "discovery" and chosen["discovery_chosen"] is True
    assert "as you chose" in chosen["message"]
    office.control("release")
    office.wait_for("released")
    time.sleep(2.5)  # more than two retry intervals: the free seat stays free
    assert laptop.status()["state"] == "discovery"
    assert live_leases(scenario_api, license["id"]) == []

    laptop.control("acquire")
    assert laptop.wait_for("active")["discovery_chosen"] is False
