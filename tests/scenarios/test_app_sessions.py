"""Applications' release dates and `app` mode offline, with the real agent and server."""

from __future__ import annotations

import time

from tests.scenarios.common import ScenarioServer, live_leases
from tests.scenarios.conftest import AgentFactory
from tests.support.api import Api
from tests.support.local_api import SdkApp, raw, wait_until
from tests.support.proxy import FaultProxy


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
