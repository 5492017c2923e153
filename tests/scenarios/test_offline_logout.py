"""Log Out with no Internet: queued at once, kept across a crash, delivered exactly once."""

from __future__ import annotations

import itertools
import time

from tests.scenarios.common import ScenarioServer, live_leases
from tests.scenarios.conftest import AgentFactory
from tests.support.api import Api
from tests.support.local_api import wait_until
from tests.support.proxy import FaultProxy


def test_logout_while_offline_survives_a_crash_and_frees_the_seat_once(
        scenario_server: ScenarioServer, scenario_api: Api, proxy: FaultProxy,
        make_agent: AgentFactory) -> None:
    """Offline Log Out shows logout_pending at once, survives SIGKILL, and lands exactly once."""
    account, license = scenario_api.new_account(seats=1)
    agent = make_agent("field-laptop", server_url=proxy.url)
    agent.login(account["email"], account["password"])
    agent.start()
    active = agent.wait_for("active")
    assert active["license"]["name"] == license["name"]
    device_id = agent.session()["device_id"]
    token = agent.device_token()
    assert [lease["device"]["id"] for lease in live_leases(scenario_api, license["id"])] \
        == [device_id]

    proxy.cut()
    offline = agent.wait_for("offline", timeout=10)
    expires_at = active["lease"]["expires_at"]
    assert offline["lease"]["expires_at"] >= expires_at
    assert offline["lease"]["expires_at"] in offline["message"]  # "seat held until …"

    started = time.monotonic()
    queued = agent.control("logout")
    assert queued["state"] == "logout_pending"
    assert time.monotonic() - started < 2.0, "Log Out must not wait for the network"
    assert [item["kind"] for item in queued["pending"]] == ["logout"]
    assert agent.status()["state"] == "logout_pending"

    agent.kill()
    assert agent.status()["state"] == "logout_pending"  # read from disk, no daemon
    agent.start()
    assert agent.wait_for("logout_pending", timeout=5)["running"] is True
    time.sleep(1.5)  # a few probes and outbox tries against the cut proxy
    assert agent.status()["state"] == "logout_pending"
    assert live_leases(scenario_api, license["id"]), "the seat was freed while cut off"

    proxy.restore()
    done = agent.wait_for("signed_out", timeout=15)
    assert done["pending"] == []
    assert live_leases(scenario_api, license["id"]) == []
    with_token = scenario_api.get("/v1/account", headers={"Authorization": f"Bearer {token}"})
    assert with_token.status_code == 401, with_token.text
    assert len(scenario_server.audit(device_id, "logout")) == 1
    releases = scenario_server.audit(device_id, "release")
    assert [(row["lease_id"], row["detail"]) for row in releases] \
        == [(active["lease"]["lease_id"], "logout")]
    # Delivered once, counted on the wire: the server ignores a repeated logout, so its
    # audit trail alone would not show a doubled delivery.
    assert proxy.forwarded("DELETE", f"/v1/seats/{active['lease']['lease_id']}") == 1
    assert proxy.forwarded("POST", "/v1/auth/logout", token) == 1
    assert agent.alive


def test_a_busy_servers_retry_after_is_waited_out_by_the_seat_and_the_queued_logout(
        scenario_server: ScenarioServer, scenario_api: Api, proxy: FaultProxy,
        make_agent: AgentFactory) -> None:
    """As in a recovery storm: the server sheds load (503 UNAVAILABLE, Retry-After) while
    /v1/health answers. The heartbeats, then a Log Out queued meanwhile, ask again no
    sooner than told — the probe finding the server up does not hurry them (protocol:
    "retry no sooner") — and the logout lands once the server serves again."""
    retry_after = 3
    account, license = scenario_api.new_account(seats=1)
    agent = make_agent("storm-pc", server_url=proxy.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")  # heartbeats every second from here

    proxy.busy(retry_after)
    assert wait_until(lambda: len(proxy.shed) >= 2, timeout=3 * retry_after)
    queued = agent.control("logout")
    assert queued["state"] == "logout_pending"
    time.sleep(3 * retry_after)
    shed = list(proxy.shed)
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(shed)]
    asked = [f"{request.method} {request.path}" for _, request in shed]
    assert any(path.startswith("DELETE /v1/seats/") for path in asked), asked
    assert gaps and min(gaps) >= retry_after - 0.25, list(zip(asked, gaps, strict=False))
    assert proxy.forwarded("GET", "/v1/health") >= 1  # the probe did find the server up

    proxy.restore()
    out = agent.wait_for("signed_out", timeout=retry_after + 10)
    assert out["pending"] == []
    assert live_leases(scenario_api, license["id"]) == []
