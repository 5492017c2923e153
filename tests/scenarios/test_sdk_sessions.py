"""The Python SDK in an application process, against the real agent and server: what the
application hears when the network or the agent goes away, and what it never suffers."""

from __future__ import annotations

import time

from tests.scenarios.common import ScenarioServer, live_leases
from tests.scenarios.conftest import AgentFactory
from tests.support.api import Api
from tests.support.local_api import SdkApp, raw, wait_until
from tests.support.proxy import FaultProxy


def test_an_agent_restart_reconnects_with_exactly_one_new_session(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """The agent restarts under a running application: it hears agent_lost, then
    reconnected, and the new agent has exactly one session for it."""
    account, license = scenario_api.new_account(seats=1)
    agent = make_agent("restart-pc", server_url=scenario_server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    with SdkApp.start(agent, "PIX4Dmapper", "4.9.0") as app:
        first = app.opened["opened"]
        agent.stop()
        assert app.next_event("agent_lost")["message"]
        agent.start()
        assert app.next_event("reconnected", timeout=15)
        with raw(agent) as conn:
            sessions = wait_until(lambda: conn.result("seat")["sessions"], timeout=5)
            assert [s["pid"] for s in sessions] == [app.proc.pid]
            assert sessions[0]["session_id"] != first
            time.sleep(1.0)  # no second session turns up late
            assert len(conn.result("seat")["sessions"]) == 1
        answer = app.ask_seat()
        assert answer["session_id"] == sessions[0]["session_id"]
    agent.wait_for("active")
    assert len(live_leases(scenario_api, license["id"])) == 1


def test_offline_the_application_hears_offline_and_expiring_and_keeps_the_seat(
        scenario_server: ScenarioServer, scenario_api: Api, proxy: FaultProxy,
        make_agent: AgentFactory) -> None:
    """The network cut: `offline` (still holding), then `expiring` before the lease ends
    (60 s leases, warned 600 s ahead: at once); the network back: `online`."""
    account, _ = scenario_api.new_account(seats=1)
    agent = make_agent("field-laptop", server_url=proxy.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    with SdkApp.start(agent, "PIX4Dmapper", "4.9.0") as app:
        proxy.cut()
        offline = app.next_event("offline")
        assert offline["holding"] is True and offline["state"] == "offline"
        expiring = app.next_event("expiring")
        assert expiring["holding"] is True and "unless the license server answers" in \
            expiring["message"]
        proxy.restore()
        assert app.next_event("online", timeout=15)["holding"] is True


def test_a_callback_that_raises_never_reaches_the_application(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """The application's callback raises on every event: the SDK logs it, keeps watching,
    and the application's own thread carries on."""
    account, _ = scenario_api.new_account(seats=1)
    phone = scenario_api.login(account["email"], account["password"], name="phone")
    assert phone.put("/v1/account/remote-deactivation", json={"enabled": True}).ok
    agent = make_agent("buggy-app-pc", server_url=scenario_server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    with SdkApp.start(agent, "PIX4Dmapper", "4.9.0", None, None,
                      "--raising-callback") as app:
        deactivated = phone.post(f"/v1/devices/{agent.session()['device_id']}/deactivate")
        assert deactivated.status_code == 200, deactivated.text
        lost = app.next_event("lost")
        assert lost["state"] == "revoked" and lost["holding"] is False
        assert app.ask_seat()["holding"] is False  # the application's thread still works
        assert app.proc.poll() is None
