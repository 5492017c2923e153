"""Applications' release dates and `app` mode offline, with the real agent and server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.scenarios.common import ScenarioServer, live_leases
from tests.scenarios.conftest import AgentFactory
from tests.support.api import Api
from tests.support.local_api import SdkApp, raw, wait_until
from tests.support.proxy import FaultProxy

SHORT_TTL_S = 4


def test_a_version_released_after_support_ended_is_refused_and_nothing_else_changes(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """A perpetual license with S&U until 2026-06-01: an application released later gets
    SUPPORT_EXPIRED from open_session; the seat stays held; an older one opens."""
    account, license = scenario_api.new_account(seats=1, kind="perpetual",
                                                support_until="2026-06-01")
    agent = make_agent("perpetual-pc", server_url=scenario_server.url,
                       app_release_date="2026-01-15")
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    with raw(agent) as conn:
        refused = conn.call("open_session", app="PIX4Dmapper", version="5.0.0",
                            released="2026-09-01", pid=None)
        assert refused["error"]["code"] == "SUPPORT_EXPIRED"
        assert "2026-06-01" in refused["error"]["message"]
        seat = conn.result("seat")
        assert seat["state"] == "active" and seat["holding"] and seat["sessions"] == []
        opened = conn.result("open_session", app="PIX4Dmapper", version="4.9.5",
                             released="2026-05-01", pid=None)
        assert opened["seat"]["state"] == "active"
        assert [s["version"] for s in opened["seat"]["sessions"]] == ["4.9.5"]
    assert len(live_leases(scenario_api, license["id"])) == 1


def test_app_mode_offline_opens_the_session_and_says_why_there_is_no_seat(
        scenario_server: ScenarioServer, scenario_api: Api, proxy: FaultProxy,
        make_agent: AgentFactory) -> None:
    """`app` mode with the server unreachable: the session opens within 10 s, not holding,
    and the seat object says it is offline; the seat comes once the network is back."""
    account, _ = scenario_api.new_account(seats=1)
    agent = make_agent("offline-app-pc", server_url=proxy.url, seat_mode="app")
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("released")
    proxy.cut()
    started = time.monotonic()
    with SdkApp.start(agent, "PIX4Dmapper", "4.9.0") as app:
        assert time.monotonic() - started < 10
        assert app.opened["holding"] is False and app.opened["state"] == "acquiring"
        assert "Offline" in app.ask_seat()["seat"]["message"]
        proxy.restore()
        assert app.next_event("regained", timeout=20)["holding"] is True


def test_after_a_restart_a_held_seat_waits_the_idle_time_for_an_application(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """`app` mode, the agent killed while it still held a seat: restarted, it keeps the seat
    `app_idle_release_s` for an application to come back, then releases it."""
    account, license = scenario_api.new_account(seats=1)
    agent = make_agent("restart-app-pc", server_url=scenario_server.url, seat_mode="app",
                       app_idle_release_s=3)
    agent.login(account["email"], account["password"])
    agent.start()
    with SdkApp.start(agent, "PIX4Dmapper", "4.9.0") as app:
        assert app.opened["holding"] is True
    agent.kill()  # the seat stays held on the server: nothing released it
    restarted = time.monotonic()
    agent.start()
    agent.wait_for("active")
    assert len(live_leases(scenario_api, license["id"])) == 1
    assert wait_until(lambda: live_leases(scenario_api, license["id"]) == [], timeout=15)
    assert time.monotonic() - restarted >= 2.5
    assert agent.wait_for("released")["lease"] is None


def test_a_later_release_date_on_another_license_gives_the_first_seat_back(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """Two licenses, the first with Support & Upgrade until 2026-06-01: a version released
    after that is covered by the second. The agent moves to it and gives the first seat
    back: never two seats for one device."""
    account = scenario_api.create_account()
    first = scenario_api.create_license(account["id"], name="PIX4Dmapper Perpetual",
                                        kind="perpetual", seats=1, support_until="2026-06-01")
    second = scenario_api.create_license(account["id"], name="PIX4Dmapper Yearly", seats=1)
    agent = make_agent("two-licenses-pc", server_url=scenario_server.url,
                       app_release_date="2026-01-15")
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    assert len(live_leases(scenario_api, first["id"])) == 1
    with raw(agent) as conn:
        opened = conn.result("open_session", app="PIX4Dmapper", version="5.0.0",
                             released="2026-09-01", pid=None)
        assert opened["seat"]["holding"] is True
        assert opened["seat"]["license"]["name"] == "PIX4Dmapper Yearly"
        assert wait_until(lambda: live_leases(scenario_api, first["id"]) == [], timeout=10)
        assert len(live_leases(scenario_api, second["id"])) == 1
        assert agent.status()["pending"] == []
        seat = wait_until(lambda: conn.result("seat")["envelope"] and conn.result("seat"))
        assert seat["envelope"]["lease"]["license"]["name"] == "PIX4Dmapper Yearly"


def test_a_session_opened_offline_with_a_valid_lease_holds_at_once(
        scenario_server: ScenarioServer, scenario_api: Api, proxy: FaultProxy,
        make_agent: AgentFactory) -> None:
    """`app` mode, the seat held, then the network cut: a second application (with a later
    release date, which cannot be checked now) opens promptly and holds the seat."""
    account, _ = scenario_api.new_account(seats=1)
    agent = make_agent("cut-app-pc", server_url=proxy.url, seat_mode="app",
                       app_release_date="2026-01-15")
    agent.login(account["email"], account["password"])
    agent.start()
    with SdkApp.start(agent, "PIX4Dmapper", "4.9.0") as first:
        assert first.opened["holding"] is True
        proxy.cut()
        agent.wait_for("offline", timeout=10)
        started = time.monotonic()
        with SdkApp.start(agent, "PIX4Dmatic", "1.2.0", "2026-03-01") as second:
            assert time.monotonic() - started < 5
            assert second.opened["holding"] is True and second.opened["state"] == "offline"
            assert second.ask_seat()["seat"]["sessions"][1]["app"] == "PIX4Dmatic"


@pytest.fixture(scope="module")
def short_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScenarioServer]:
    """A server whose leases last SHORT_TTL_S: a seat runs out offline in seconds."""
    server = ScenarioServer(tmp_path_factory.mktemp("app-short"), lease_ttl=SHORT_TTL_S,
                            heartbeat_interval=1)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_open_session_answers_within_10_s_with_a_run_out_lease_and_a_stalled_server(
        short_server: ScenarioServer, make_agent: AgentFactory) -> None:
    """`app` mode, the server stalling (answering nothing) and the kept lease run out: an
    application with a later release date still has its answer within 10 s, not holding."""
    api = Api(short_server.url, short_server.admin_token)
    account, _ = api.new_account(seats=1)
    with FaultProxy(short_server.port) as proxy:
        agent = make_agent("stalled-app-pc", server_url=proxy.url, seat_mode="app")
        agent.login(account["email"], account["password"])
        agent.start()
        with SdkApp.start(agent, "PIX4Dmapper", "4.9.0") as first:
            assert first.opened["holding"] is True
            proxy.stall()
            agent.wait_for("acquiring", timeout=SHORT_TTL_S + 10)
            with raw(agent, timeout=20) as conn:
                started = time.monotonic()
                answer = conn.call("open_session", app="PIX4Dmatic", version="1.2.0",
                                   released="2026-09-01", pid=None)
                took = time.monotonic() - started
            assert answer["ok"] and answer["result"]["seat"]["holding"] is False, answer
            assert took < 10, f"open_session took {took:.1f} s"
    api.close()
