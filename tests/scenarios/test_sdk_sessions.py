"""The Python SDK in an application process, against the real agent and server: what the
application hears when the network or the agent goes away, and what it never suffers."""

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
    (60 s leases, warned 600 s ahead: at once) and only once; the network back: `online`."""
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
        with raw(agent) as other:
            other.result("open_session", app="Viewer", version="1")  # a change meanwhile
            time.sleep(0.5)
            # Callbacks only: nothing was kept for an `events()` never called.
            assert app.ask("pending", "pending")["pending"] == []
            proxy.restore()
            # EXPIRING once for this approach, not again at the change inside the window.
            assert app.events_until("online", timeout=15) == ["online"]


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


@pytest.fixture(scope="module")
def short_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScenarioServer]:
    """A server whose leases last SHORT_TTL_S: the envelope an application saw ends soon."""
    server = ScenarioServer(tmp_path_factory.mktemp("sdk-short"), lease_ttl=SHORT_TTL_S,
                            heartbeat_interval=1)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_with_the_servers_key_pinned_a_seat_that_comes_is_held(
        short_server: ScenarioServer, make_agent: AgentFactory) -> None:
    """The application pins the server's real key and opens while every seat is in use;
    the seat freed, the agent takes it and the application hears `regained` and holds it
    (the new lease's first envelope carries its release token, so only the renewal counts),
    and still holds it once the envelope it was first shown has ended (renewed since)."""
    api = Api(short_server.url, short_server.admin_token)
    account, _ = api.new_account(seats=1)
    other = api.login(account["email"], account["password"], name="other-pc")
    taken = other.acquire()
    assert taken.status_code == 201, taken.text
    agent = make_agent("waiting-pc", server_url=short_server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("seat_limit_reached")
    (key,) = api.get("/v1/keys").json()["keys"]
    with SdkApp.start(agent, "PIX4Dmapper", "4.9.0", None, key["public_key"],
                      "--clock-slack", "0") as app:
        assert app.opened["holding"] is False
        released = other.release(taken.json()["lease"]["lease_id"])
        assert released.status_code == 204, released.text
        assert app.next_event("regained", timeout=10)["holding"] is True
        assert app.ask_seat()["holding"] is True
        time.sleep(SHORT_TTL_S + 1)  # the envelope the application holds has ended
        assert app.ask("holding", "holding_now")["holding_now"] is True
        assert "lost" not in [line.get("event") for line in app.skipped]
        with raw(agent, timeout=2.5) as watcher:  # renewals are not changes: no flood
            watcher.send(b'{"v": 1, "op": "watch"}\n')
            assert watcher.answer()["result"]["seat"]["envelope"] is not None
            with pytest.raises(TimeoutError):
                watcher.answer()  # two heartbeats renew the envelope, unannounced
    api.close()
